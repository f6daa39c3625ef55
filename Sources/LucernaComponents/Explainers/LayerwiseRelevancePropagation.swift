import LucernaCore
import LucernaNN

/// Layer-wise relevance propagation through a composite of rules: each leaf module the composite gives a
/// rule has its backward replaced by the rule (as Zennit's hooks do), the target's output relevance is
/// propagated back, and the relevance reaching the input is the attribution (input-shaped, like Zennit's
/// and Captum's). With `canonize`, a BatchNorm directly after a Linear/convolution layer is merged into
/// that layer first (Zennit's `SequentialMergeBatchNorm`). The output relevance is the target logit on
/// the target class (`output = "score"`, so relevances sum to about the logit) or 1 there
/// (`"one_hot"`, Zennit's usual `attr_output`).
public final class LayerwiseRelevancePropagation: Explainer {
    static let options = [
        OptionSpec(
            "composite", .component(.composite), default: .string("epsilon_plus"),
            "the composite assigning rules to layers (a name, spec or instance)"),
        OptionSpec(
            "canonize", .boolean, default: .boolean(true),
            "merge each BatchNorm into the Linear/convolution layer before it"),
        OptionSpec(
            "output", .string, default: .string("score"), "output relevance: score (the target logit) or one_hot (1)"),
        OptionSpec(
            "layer", .string, default: .null,
            "return the relevance at the output of this module (by name) instead of the inputs; for token models name the embedding"
        ),
    ]
    public let composite: RelevanceComposite
    public let canonize: Bool
    public let scoreOutput: Bool
    /// The module whose output relevance is returned (nil: the inputs').
    public let layerName: String?

    public init(
        composite: RelevanceComposite, canonize: Bool = true, scoreOutput: Bool = true, layerName: String? = nil
    ) {
        self.composite = composite
        self.canonize = canonize
        self.scoreOutput = scoreOutput
        self.layerName = layerName
    }

    convenience init(config: Config) throws {
        let composite = try config.component("composite", kind: .composite)
        self.init(
            composite: composite, canonize: try config.boolean("canonize"),
            scoreOutput: try config.choice("output", ["score", "one_hot"]) == "score",
            layerName: config.has("layer") ? try config.string("layer") : nil)
    }

    /// A layer with a rule, and the BatchNorm merged into it, if any.
    final class Entry {
        let name: String, module: Module, rule: RelevanceRule
        var batchNorm: BatchNorm?

        init(name: String, module: Module, rule: RelevanceRule) {
            self.name = name
            self.module = module
            self.rule = rule
        }

        /// The layer with its parameters, merged with the BatchNorm after it: W·s, (b − μ)·s + β with
        /// s = γ / √(σ² + ε).
        func layer() throws -> RelevanceLayer {
            guard let batchNorm, let affine = module as? AffineLayer else {
                return RelevanceLayer(name: name, module: module)
            }
            return try noGrad {
                let weight = affine.weight.detach()
                let channels = weight.shape[affine.outputAxisOfWeight]
                guard batchNorm.runningMean.count == channels else {
                    throw TensorError(
                        "lrp",
                        "cannot merge the BatchNorm of \(batchNorm.runningMean.count) features into \(name) with \(channels) outputs"
                    )
                }
                let gamma = batchNorm.weight?.detach() ?? batchNorm.runningMean.onesLike()
                let beta = batchNorm.bias?.detach() ?? batchNorm.runningMean.zerosLike()
                let scale = try gamma / (batchNorm.runningVariance.detach() + batchNorm.epsilon).sqrt()
                var broadcast = Array(repeating: 1, count: weight.rank)
                broadcast[affine.outputAxisOfWeight] = channels
                let mergedWeight = try weight * scale.reshaped(broadcast).to(weight.dtype)
                let bias = affine.bias?.detach() ?? batchNorm.runningMean.zerosLike()
                let mergedBias = try ((bias - batchNorm.runningMean.detach()) * scale + beta).to(weight.dtype)
                return RelevanceLayer(name: name, module: module, weight: mergedWeight, bias: mergedBias)
            }
        }
    }

    public func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        try model.evaluating {
            let layer = try ExplanationTargets.layer(layerName, in: model, owner: "lrp")
            try ExplanationTargets.requireFloatingPoint(inputs, layer: layer, owner: "lrp")
            let leaves = model.namedModules().filter { $0.module.children.isEmpty }
            let rules = composite.rules(for: leaves)
            // The tensors rule layers produced (kept alive so identities stay unique), for canonisation.
            var producers: [ObjectIdentifier: (tensor: Tensor, entry: Entry)] = [:]
            var installed: [(Module, Int)] = []
            defer { for (module, identifier) in installed { module.removeOutputTransform(identifier) } }
            for ((name, module), rule) in zip(leaves, rules) where rule != nil || (canonize && module is BatchNorm) {
                let identifier = module.addOutputTransform { [canonize] module, input, output in
                    if canonize, let batchNorm = module as? BatchNorm,
                        let producer = producers[ObjectIdentifier(input)],
                        producer.entry.module is AffineLayer, producer.entry.batchNorm == nil
                    {
                        producer.entry.batchNorm = batchNorm
                        return output.replacingGradient(operation: "lrp merged \(name)", inputs: [input]) { [$0] }
                    }
                    guard let rule else { return output }
                    let entry = Entry(name: name.isEmpty ? module.typeName : name, module: module, rule: rule)
                    let savedInput = input.detach()
                    let result = output.replacingGradient(operation: "lrp \(entry.name)", inputs: [input]) {
                        relevance in
                        [try rule.inputRelevance(layer: entry.layer(), input: savedInput, outputRelevance: relevance)]
                    }
                    producers[ObjectIdentifier(result)] = (result, entry)
                    return result
                }
                installed.append((module, identifier))
            }
            // The relevance is read where the inputs enter, or at the layer's output (installed last, so it
            // sees the output after the layer's own rule).
            var point = layer == nil ? try inputs.detach().requiringGrad() : nil
            if let layer {
                let identifier = layer.addOutputTransform { _, _, output in
                    let leaf = try output.detach().requiringGrad()
                    point = leaf
                    return leaf
                }
                installed.append((layer, identifier))
            }
            let logits = try model(layer == nil ? point ?? inputs : inputs)
            let classes = try ExplanationTargets.classes(targets, logits: logits, owner: "lrp")
            var seed = try Tensor.oneHot(
                Tensor(shape: [classes.count], integers: classes), classes: logits.shape[1], dtype: logits.dtype)
            if scoreOutput { seed = try noGrad { try seed * logits.detach() } }
            guard let point,
                let relevance = try Tensor.gradients(of: [logits], withRespectTo: [point], seeds: [seed]).first ?? nil
            else {
                throw TensorError("lrp", "the target scores do not depend on the inputs")
            }
            return relevance.detach()
        }
    }
}

extension LayerwiseRelevancePropagation: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "lrp", "layer-wise relevance propagation with a composite of rules (BatchNorm canonised)",
            reference:
                "Bach et al., \"On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation\", PLoS ONE 2015; Montavon et al., \"Layer-Wise Relevance Propagation: An Overview\", 2019; Anders et al., Zennit, 2021",
            options: LayerwiseRelevancePropagation.options, build: LayerwiseRelevancePropagation.init)
    ]
}
