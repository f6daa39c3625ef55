import LucernaCore
import LucernaNN

/// The LRP rules, each a small ``BasicRelevanceRule`` value with Zennit's definitions (input modifiers,
/// parameter modifiers, gradient mapper, reducer), so that maps agree with Zennit's to rounding:
/// - `epsilon`: R_in = x ⊙ Wᵀ (R / stab_ε(z)), z = Wx + b (ε = 0 gives LRP-0);
/// - `gamma`: positive contributions boosted by γ (the generalised rule, valid for negative inputs too);
/// - `z_plus`: only positive contributions (x⁺W⁺ + x⁻W⁻), i.e. alpha-beta with α = 1, β = 0;
/// - `alpha_beta`: α · positive − β · negative contributions (α − β = 1);
/// - `flat`: relevance spread uniformly over the receptive field (all weights 1, no bias);
/// - `w_square`: spread in proportion to the squared weights;
/// - `z_box`: deep Taylor for inputs bounded by [low, high] (for the first layer on pixels);
/// - `norm`: the layer's own output normalised (for parameter-free layers such as average pooling);
/// - `pass`: relevance passed through unchanged (element-wise layers).
public enum RelevanceRules {
    static let stabilizerOption = OptionSpec(
        "stabilizer", .number, default: .number(1e-6), "added to the denominator with its sign (+ for 0)")
    static let epsilonOptions = [
        OptionSpec(
            "epsilon", .number, default: .number(1e-6),
            "added to the denominator with its sign (+ for 0); 0 gives LRP-0")
    ]
    static let gammaOptions = [
        OptionSpec("gamma", .number, default: .number(0.25), "weight of the added positive contributions"),
        stabilizerOption,
    ]
    static let alphaBetaOptions = [
        OptionSpec("alpha", .number, default: .number(2), "weight of the positive contributions"),
        OptionSpec(
            "beta", .number, default: .number(1), "weight of the negative contributions (alpha − beta must be 1)"),
        stabilizerOption,
    ]
    static let stabilizerOptions = [stabilizerOption]
    static let boxOptions = [
        OptionSpec(
            "low", .any, default: .number(0),
            "lowest input value: a number or a tensor broadcast to the input (per channel: [1, C, 1, 1])"),
        OptionSpec(
            "high", .any, default: .number(1), "highest input value: a number or a tensor broadcast to the input"),
        stabilizerOption,
    ]

    static func positive(_ tensor: Tensor) throws -> Tensor { try tensor.clamp(min: 0) }
    static func negative(_ tensor: Tensor) throws -> Tensor { try tensor.clamp(max: 0) }
    /// The parameter modifier `keep` for the weight and nothing (a zero bias) for the bias.
    static func withoutBias(_ keep: @escaping (Tensor) throws -> Tensor) -> (Tensor, Bool) throws -> Tensor? {
        { value, isBias in isBias ? nil : try keep(value) }
    }
    static func both(_ keep: @escaping (Tensor) throws -> Tensor) -> (Tensor, Bool) throws -> Tensor? {
        { value, _ in try keep(value) }
    }
    /// x₀g₀ + x₁g₁ + … over the first `count` branches.
    static func sumOfProducts(_ inputs: [Tensor], _ gradients: [Tensor], _ range: Range<Int>) throws -> Tensor {
        var total = try inputs[range.lowerBound] * gradients[range.lowerBound]
        for index in range.dropFirst() { total = try total + inputs[index] * gradients[index] }
        return total
    }
    /// R / stab(z) for every branch.
    static func normalized(_ stabilizer: Double, branches: Int, _ denominator: @escaping ([Tensor]) throws -> Tensor)
        -> (Tensor, [Tensor]) throws -> [Tensor]
    {
        { relevance, outputs in
            let seed = try relevance / stabilize(denominator(outputs), epsilon: stabilizer)
            return Array(repeating: seed, count: branches)
        }
    }

    public static func epsilon(_ epsilon: Double) -> BasicRelevanceRule {
        BasicRelevanceRule(
            name: "epsilon", branches: [.init()], gradientMapper: normalized(epsilon, branches: 1) { $0[0] },
            reducer: { try $0[0] * $1[0] })
    }

    public static func norm(_ stabilizer: Double) -> BasicRelevanceRule {
        BasicRelevanceRule(
            name: "norm", branches: [.init(parameter: nil)],
            gradientMapper: normalized(stabilizer, branches: 1) { $0[0] },
            reducer: { try $0[0] * $1[0] })
    }

    public static func zPlus(_ stabilizer: Double) -> BasicRelevanceRule {
        BasicRelevanceRule(
            name: "z_plus",
            branches: [
                .init(input: positive, parameter: both(positive)),
                .init(input: negative, parameter: withoutBias(negative)),
            ], gradientMapper: normalized(stabilizer, branches: 2) { try $0[0] + $0[1] },
            reducer: { try sumOfProducts($0, $1, 0..<2) })
    }

    public static func alphaBeta(alpha: Double, beta: Double, stabilizer: Double) throws -> BasicRelevanceRule {
        guard alpha >= 0, beta >= 0, abs(alpha - beta - 1) < 1e-12 else {
            throw TensorError(
                "rules.alpha_beta",
                "alpha and beta must be non-negative with alpha − beta = 1, got alpha \(alpha), beta \(beta)")
        }
        return BasicRelevanceRule(
            name: "alpha_beta",
            branches: [
                .init(input: positive, parameter: both(positive)),
                .init(input: negative, parameter: withoutBias(negative)),
                .init(input: positive, parameter: both(negative)),
                .init(input: negative, parameter: withoutBias(positive)),
            ],
            gradientMapper: { relevance, outputs in
                let positiveSeed = try relevance / stabilize(outputs[0] + outputs[1], epsilon: stabilizer)
                let negativeSeed = try relevance / stabilize(outputs[2] + outputs[3], epsilon: stabilizer)
                return [positiveSeed, positiveSeed, negativeSeed, negativeSeed]
            },
            reducer: { inputs, gradients in
                try sumOfProducts(inputs, gradients, 0..<2) * alpha - sumOfProducts(inputs, gradients, 2..<4) * beta
            })
    }

    public static func gamma(_ gamma: Double, stabilizer: Double) -> BasicRelevanceRule {
        let boostPositive: (Tensor) throws -> Tensor = { try $0 + positive($0) * gamma }
        let boostNegative: (Tensor) throws -> Tensor = { try $0 + negative($0) * gamma }
        return BasicRelevanceRule(
            name: "gamma",
            branches: [
                .init(input: positive, parameter: both(boostPositive)),
                .init(input: negative, parameter: withoutBias(boostNegative)),
                .init(input: positive, parameter: both(boostNegative)),
                .init(input: negative, parameter: withoutBias(boostPositive)),
                .init(),
            ],
            gradientMapper: { relevance, outputs in
                // Positive outputs take the boosted-positive branches, negative ones the boosted-negative ones.
                let output = outputs[4].toDoubles()
                let isPositive = try Tensor(
                    shape: relevance.shape, values: output.map { $0 > 0 ? 1 : 0 }, dtype: relevance.dtype)
                let isNegative = try Tensor(
                    shape: relevance.shape, values: output.map { $0 < 0 ? 1 : 0 }, dtype: relevance.dtype)
                let positiveSeed = try isPositive * relevance / stabilize(outputs[0] + outputs[1], epsilon: stabilizer)
                let negativeSeed = try isNegative * relevance / stabilize(outputs[2] + outputs[3], epsilon: stabilizer)
                return [positiveSeed, positiveSeed, negativeSeed, negativeSeed, relevance.zerosLike()]
            }, reducer: { try sumOfProducts($0, $1, 0..<4) })
    }

    public static func flat(_ stabilizer: Double) -> BasicRelevanceRule {
        BasicRelevanceRule(
            name: "flat", branches: [.init(input: { $0.onesLike() }, parameter: withoutBias { $0.onesLike() })],
            gradientMapper: normalized(stabilizer, branches: 1) { $0[0] }, reducer: { $1[0] })
    }

    public static func wSquare(_ stabilizer: Double) -> BasicRelevanceRule {
        BasicRelevanceRule(
            name: "w_square", branches: [.init(input: { $0.onesLike() }, parameter: both { try $0 * $0 })],
            gradientMapper: normalized(stabilizer, branches: 1) { $0[0] }, reducer: { $1[0] })
    }

    /// Bounds as a number or a tensor, broadcast to the input.
    public enum Bound {
        case value(Double)
        case tensor(Tensor)

        func filled(like input: Tensor) throws -> Tensor {
            switch self {
            case .value(let value): return try input.zerosLike() + value
            case .tensor(let tensor): return try input.zerosLike() + tensor.to(input.dtype)
            }
        }

        init(_ config: Config, _ key: String) throws {
            switch config.value(key) {
            case .number(let value): self = .value(value)
            case .tensor(let tensor): self = .tensor(tensor)
            case let other: throw config.error("option \(key) must be a number or a tensor, got \(other.kindName)")
            }
        }
    }

    public static func zBox(low: Bound, high: Bound, stabilizer: Double) -> BasicRelevanceRule {
        BasicRelevanceRule(
            name: "z_box",
            branches: [
                .init(),
                .init(input: { try low.filled(like: $0) }, parameter: both(positive)),
                .init(input: { try high.filled(like: $0) }, parameter: both(negative)),
            ], gradientMapper: normalized(stabilizer, branches: 3) { try $0[0] - $0[1] - $0[2] },
            reducer: { inputs, gradients in
                try inputs[0] * gradients[0] - inputs[1] * gradients[1] - inputs[2] * gradients[2]
            })
    }

    // MARK: Registry builders

    static func buildEpsilon(_ config: Config) throws -> any RelevanceRule { epsilon(try config.number("epsilon")) }
    static func buildGamma(_ config: Config) throws -> any RelevanceRule {
        gamma(try config.number("gamma"), stabilizer: try config.number("stabilizer"))
    }
    static func buildZPlus(_ config: Config) throws -> any RelevanceRule { zPlus(try config.number("stabilizer")) }
    static func buildAlphaBeta(_ config: Config) throws -> any RelevanceRule {
        try alphaBeta(
            alpha: config.number("alpha"), beta: config.number("beta"), stabilizer: config.number("stabilizer"))
    }
    static func buildFlat(_ config: Config) throws -> any RelevanceRule { flat(try config.number("stabilizer")) }
    static func buildWSquare(_ config: Config) throws -> any RelevanceRule { wSquare(try config.number("stabilizer")) }
    static func buildZBox(_ config: Config) throws -> any RelevanceRule {
        zBox(
            low: try Bound(config, "low"), high: try Bound(config, "high"), stabilizer: try config.number("stabilizer"))
    }
    static func buildNorm(_ config: Config) throws -> any RelevanceRule { norm(try config.number("stabilizer")) }
    static func buildPass(_ config: Config) throws -> any RelevanceRule { PassRule() }
}

extension RelevanceRules: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .rule, "epsilon", "LRP-ε: relevance in proportion to contributions, denominator stabilised by ε",
            reference: "Bach et al., PLoS ONE 2015; Zennit Epsilon", options: RelevanceRules.epsilonOptions,
            build: RelevanceRules.buildEpsilon),
        ComponentEntry(
            .rule, "gamma", "LRP-γ: positive contributions boosted by γ (generalised for negative inputs)",
            reference: "Montavon et al., 2019; Andéol et al., 2021; Zennit Gamma", options: RelevanceRules.gammaOptions,
            build: RelevanceRules.buildGamma),
        ComponentEntry(
            .rule, "z_plus", "LRP-z⁺: positive contributions only (alpha 1, beta 0)",
            reference: "Montavon et al., Pattern Recognition 2017; Zennit ZPlus",
            options: RelevanceRules.stabilizerOptions, build: RelevanceRules.buildZPlus),
        ComponentEntry(
            .rule, "alpha_beta", "LRP-αβ: α · positive − β · negative contributions",
            reference: "Bach et al., PLoS ONE 2015; Zennit AlphaBeta", options: RelevanceRules.alphaBetaOptions,
            build: RelevanceRules.buildAlphaBeta),
        ComponentEntry(
            .rule, "flat", "LRP-flat: relevance spread uniformly over the receptive field",
            reference: "Lapuschkin et al., Nature Communications 2019; Zennit Flat",
            options: RelevanceRules.stabilizerOptions, build: RelevanceRules.buildFlat),
        ComponentEntry(
            .rule, "w_square", "LRP-w²: relevance spread by squared weights",
            reference: "Montavon et al., Pattern Recognition 2017; Zennit WSquare",
            options: RelevanceRules.stabilizerOptions, build: RelevanceRules.buildWSquare),
        ComponentEntry(
            .rule, "z_box", "LRP-z^B: deep Taylor for inputs bounded by [low, high] (first layer)",
            reference: "Montavon et al., Pattern Recognition 2017; Zennit ZBox", options: RelevanceRules.boxOptions,
            build: RelevanceRules.buildZBox),
        ComponentEntry(
            .rule, "norm", "the layer's own output normalised (average pooling)",
            reference: "Zennit Norm", options: RelevanceRules.stabilizerOptions, build: RelevanceRules.buildNorm),
        ComponentEntry(
            .rule, "pass", "relevance passed through unchanged (element-wise layers)", reference: "Zennit Pass",
            build: RelevanceRules.buildPass),
    ]
}
