import LucernaCore
import LucernaNN

/// Which rule each layer of a model gets (kind `composite`). Layers without a rule keep their gradient
/// (max pooling routes relevance to the winner, flatten and dropout pass it on).
public protocol RelevanceComposite: AnyObject {
    /// The rule of each leaf module, given in registration order (the order a forward pass visits them in
    /// a sequential model); nil keeps the module's gradient.
    func rules(for modules: [(name: String, module: Module)]) -> [RelevanceRule?]
}

/// A kind of layer a composite maps to a rule (Zennit's `zennit.types`).
public enum RelevanceLayerKind: String, CaseIterable, Sendable {
    /// Element-wise activations (ReLU, GELU, tanh, ...).
    case activation
    case batchNorm = "batch_norm"
    /// Average and adaptive average pooling.
    case averagePool = "average_pool"
    /// Conv2d and ConvTranspose2d.
    case convolution
    /// `Linear` (fully connected) only.
    case linear
    /// Any layer with a weight: linear or convolution (Zennit's `Linear` type).
    case dense

    public func matches(_ module: Module) -> Bool {
        switch self {
        case .activation: return module is Activation
        case .batchNorm: return module is BatchNorm
        case .averagePool:
            guard let pool = module as? Pool2d else { return false }
            if case .max = pool.kind { return false }
            return true
        case .convolution: return module is Conv2d || module is ConvTranspose2d
        case .linear: return module is Linear
        case .dense: return module is AffineLayer
        }
    }
}

/// Rules by module name, then for the first layer of a kind (in registration order), then by layer
/// kind — Zennit's `NameMapComposite`, `SpecialFirstLayerMapComposite` and `LayerMapComposite` in one.
/// Every composite starts from Zennit's base map: activations and BatchNorm pass relevance through,
/// average pooling normalises it.
public final class LayerMapComposite: RelevanceComposite {
    public let names: [String: RelevanceRule]
    public let firstMap: [(RelevanceLayerKind, RelevanceRule)]
    public let layerMap: [(RelevanceLayerKind, RelevanceRule)]

    public init(
        names: [String: RelevanceRule] = [:], firstMap: [(RelevanceLayerKind, RelevanceRule)] = [],
        layerMap: [(RelevanceLayerKind, RelevanceRule)], stabilizer: Double = 1e-6
    ) {
        self.names = names
        self.firstMap = firstMap
        self.layerMap =
            [(.activation, PassRule()), (.averagePool, RelevanceRules.norm(stabilizer)), (.batchNorm, PassRule())]
            + layerMap
    }

    public func rules(for modules: [(name: String, module: Module)]) -> [RelevanceRule?] {
        var firstVisited = false
        return modules.map { entry in
            if let rule = names[entry.name] { return rule }
            if !firstVisited, let rule = firstMap.first(where: { $0.0.matches(entry.module) })?.1 {
                firstVisited = true
                return rule
            }
            return layerMap.first { $0.0.matches(entry.module) }?.1
        }
    }

    // MARK: Registered composites

    static let epsilonOptions = [
        OptionSpec("epsilon", .number, default: .number(1e-6), "epsilon of the epsilon rule on Linear layers"),
        RelevanceRules.stabilizerOption,
    ]
    static let gammaBoxOptions =
        epsilonOptions + [
            OptionSpec("gamma", .number, default: .number(0.25), "gamma of the gamma rule on convolutions"),
            OptionSpec(
                "low", .any, default: .number(0),
                "lowest input value for z_box on the first convolution (number or tensor)"),
            OptionSpec(
                "high", .any, default: .number(1),
                "highest input value for z_box on the first convolution (number or tensor)"),
        ]
    static let layerMapOptions = [
        OptionSpec("convolution", .component(.rule), "rule for Conv2d / ConvTranspose2d layers"),
        OptionSpec("linear", .component(.rule), "rule for Linear layers"),
        OptionSpec("dense", .component(.rule), "rule for any layer with a weight not matched by convolution/linear"),
        OptionSpec("first", .component(.rule), "rule for the first layer with a weight (overrides the others)"),
        OptionSpec("names", .any, "a table from module name to rule (overrides everything)"),
        RelevanceRules.stabilizerOption,
    ]

    /// `epsilon_plus`, `epsilon_alpha2_beta1` and their `_flat` variants: convolutions take z⁺ or α2β1,
    /// Linear layers ε, and with `flat` the first layer with a weight takes the flat rule.
    static func epsilonComposite(convolution: @escaping (Double) throws -> RelevanceRule, flat: Bool) -> (Config) throws
        -> any RelevanceComposite
    {
        { config in
            let stabilizer = try config.number("stabilizer")
            return LayerMapComposite(
                firstMap: flat ? [(.dense, RelevanceRules.flat(stabilizer))] : [],
                layerMap: [
                    (.convolution, try convolution(stabilizer)),
                    (.linear, RelevanceRules.epsilon(try config.number("epsilon"))),
                ],
                stabilizer: stabilizer)
        }
    }

    /// `epsilon_gamma_box`: z-box on the first convolution, gamma on the others, epsilon on Linear layers.
    static func epsilonGammaBox(_ config: Config) throws -> any RelevanceComposite {
        let stabilizer = try config.number("stabilizer")
        return LayerMapComposite(
            firstMap: [
                (
                    .convolution,
                    RelevanceRules.zBox(
                        low: try .init(config, "low"), high: try .init(config, "high"), stabilizer: stabilizer)
                )
            ],
            layerMap: [
                (.convolution, RelevanceRules.gamma(try config.number("gamma"), stabilizer: stabilizer)),
                (.linear, RelevanceRules.epsilon(try config.number("epsilon"))),
            ],
            stabilizer: stabilizer)
    }

    /// `layer_map`: rules chosen per layer kind, for the first layer and by name, from a recipe.
    static func custom(_ config: Config) throws -> any RelevanceComposite {
        func rule(_ key: String) throws -> RelevanceRule? {
            guard config.has(key) else { return nil }
            return try config.component(key, kind: .rule)
        }
        var names: [String: RelevanceRule] = [:]
        switch config.value("names") {
        case .null: break
        case .table(let table):
            for (name, value) in table {
                guard let registry = config.registry else {
                    throw config.error("names.\(name): no registry to build a rule from")
                }
                names[name] = try registry.build(.rule, from: value, context: "\(config.owner): names.\(name)")
            }
        case let other:
            throw config.error("option names must be a table from module name to rule, got \(other.kindName)")
        }
        var layerMap: [(RelevanceLayerKind, RelevanceRule)] = []
        for (key, kind) in [("convolution", RelevanceLayerKind.convolution), ("linear", .linear), ("dense", .dense)] {
            if let rule = try rule(key) { layerMap.append((kind, rule)) }
        }
        return LayerMapComposite(
            names: names, firstMap: try rule("first").map { [(.dense, $0)] } ?? [], layerMap: layerMap,
            stabilizer: try config.number("stabilizer"))
    }
}

extension LayerMapComposite: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .composite, "epsilon_plus", "z⁺ on convolutions, ε on Linear layers",
            reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonPlus", options: LayerMapComposite.epsilonOptions,
            build: LayerMapComposite.epsilonComposite(convolution: RelevanceRules.zPlus, flat: false)),
        ComponentEntry(
            .composite, "epsilon_plus_flat", "flat on the first weighted layer, z⁺ on convolutions, ε on Linear layers",
            reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonPlusFlat",
            options: LayerMapComposite.epsilonOptions,
            build: LayerMapComposite.epsilonComposite(convolution: RelevanceRules.zPlus, flat: true)),
        ComponentEntry(
            .composite, "epsilon_alpha2_beta1", "α2β1 on convolutions, ε on Linear layers",
            reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonAlpha2Beta1",
            options: LayerMapComposite.epsilonOptions,
            build: LayerMapComposite.epsilonComposite(
                convolution: { try RelevanceRules.alphaBeta(alpha: 2, beta: 1, stabilizer: $0) }, flat: false)),
        ComponentEntry(
            .composite, "epsilon_alpha2_beta1_flat",
            "flat on the first weighted layer, α2β1 on convolutions, ε on Linear layers",
            reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonAlpha2Beta1Flat",
            options: LayerMapComposite.epsilonOptions,
            build: LayerMapComposite.epsilonComposite(
                convolution: { try RelevanceRules.alphaBeta(alpha: 2, beta: 1, stabilizer: $0) }, flat: true)),
        ComponentEntry(
            .composite, "epsilon_gamma_box",
            "z-box on the first convolution, γ on the other convolutions, ε on Linear layers",
            reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonGammaBox",
            options: LayerMapComposite.gammaBoxOptions,
            build: LayerMapComposite.epsilonGammaBox),
        ComponentEntry(
            .composite, "layer_map", "rules chosen per layer kind, for the first weighted layer and by module name",
            reference: "Zennit LayerMapComposite / NameMapComposite", options: LayerMapComposite.layerMapOptions,
            build: LayerMapComposite.custom),
    ]
}
