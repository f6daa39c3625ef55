import LucernaCore
import LucernaNN

/// Right for the Right Reasons: a penalty on the input gradients inside a mask of irrelevant features.
/// With g = ∂objective/∂x (of the training forward pass, kept in the graph so the penalty trains the model
/// by double backpropagation) and M the mask (1 = the model must not look there):
/// - `form = "l2"` (Ross et al.): weight · ‖M ⊙ g‖² per sample, averaged over the batch (`reduction =
///   "sum"` adds the samples up as Ross et al.'s code does; with their summed cross-entropy the two agree);
/// - `form = "cosine"` (Reveal-to-Revise's RRR): weight · cos(|Σ_c g|, M) per sample, averaged, the gradient
///   summed over the axes the mask lacks (colour channels; the embedding width of a token model).
/// The objective is Σ_k log p_k (Ross et al.), the cross-entropy, the target logit or the largest logit.
/// For token models, `layer` names the embedding whose output g is taken at (its mask `[N, L]`).
/// `invert = true` penalizes outside the mask (an object mask marks what the model should use).
/// `attribution = "gradient_times_input"` constrains the attribution g ⊙ x summed over the axes the mask
/// lacks (a token's embedding width, an image's channels) instead of g: Liu & Avci's prior on identity
/// terms, whose integrated gradients from a zero baseline equal gradient × input for a model linear in x
/// (a bag of embeddings). A token's input gradient in such a model is the same at every position, so
/// only the attribution tells identity words from the rest.
///
/// Reference: Ross, Hughes & Doshi-Velez, "Right for the Right Reasons", IJCAI 2017 (dtak/rrr);
/// Dreyer et al., Reveal2Revise `RRR_CE` / `RRR_ExpTarget` / `RRR_ExpMax`; Liu & Avci, "Incorporating
/// Priors with Feature Attribution on Text Classification", ACL 2019.
public final class RightReasons: Regularizer {
    public static let options = [
        OptionSpec("weight", .number, default: .number(1000), "λ (Ross et al. use 1000 on Decoy MNIST)"),
        OptionSpec(
            "mask", .string, default: .string("artifact_masks"),
            "the batch tensor marking irrelevant features (same layout as the inputs, without or with channels)"),
        OptionSpec("invert", .boolean, default: .boolean(false), "penalize outside the mask instead of inside"),
        OptionSpec("form", .string, default: .string("l2"), "\"l2\" (Ross et al.) or \"cosine\" (Reveal-to-Revise)"),
        OptionSpec(
            "objective", .string, default: .string("log_probabilities"),
            "what is differentiated: \"log_probabilities\" (Σ_k log p_k), \"cross_entropy\", \"target_logit\", \"max_logit\""
        ),
        OptionSpec("reduction", .string, default: .string("mean"), "over the batch: \"mean\" or \"sum\""),
        OptionSpec(
            "attribution", .string, default: .string("gradient"),
            "what is constrained: \"gradient\" (Ross et al.) or \"gradient_times_input\" (Liu & Avci), the latter summed over the axes the mask lacks"
        ),
        OptionSpec("layer", .string, "take the gradient at this layer's output (a token model's embedding)"),
    ]
    public static let objectives = ["log_probabilities", "cross_entropy", "target_logit", "max_logit"]

    public let weight: Double
    public let maskKey: String
    public let invert: Bool
    public let cosine: Bool
    public let objective: String
    public let sums: Bool
    public let layer: String?
    public let timesInput: Bool

    public init(config: Config) throws {
        weight = try config.nonNegativeNumber("weight")
        maskKey = try config.string("mask")
        invert = try config.boolean("invert")
        cosine = try config.choice("form", ["l2", "cosine"]) == "cosine"
        objective = try config.choice("objective", Self.objectives)
        sums = try config.choice("reduction", ["mean", "sum"]) == "sum"
        layer = config.has("layer") ? try config.string("layer") : nil
        timesInput = try config.choice("attribution", ["gradient", "gradient_times_input"]) == "gradient_times_input"
    }

    public func requirements(model: RegularizedModel?) throws -> RegularizerRequirements {
        if let layer, let model { _ = try model.layer(named: layer, owner: "rrr") }
        return RegularizerRequirements(
            fields: [maskKey] + (objective == "log_probabilities" || objective == "max_logit" ? [] : ["targets"]),
            inputGradients: layer == nil, layers: layer.map { [$0] } ?? [])
    }

    /// The objective whose gradient is constrained, from the logits.
    static func objective(_ name: String, logits: Tensor, targets: Tensor?, owner: String) throws -> Tensor {
        guard logits.rank == 2 else {
            throw TensorError(owner, "logits must be [N, classes], got \(describe(shape: logits.shape))")
        }
        switch name {
        case "log_probabilities": return try logits.logSoftmax(axis: 1).sum()
        case "max_logit": return try logits.max(axis: 1).sum()
        default:
            guard let targets else { throw TensorError(owner, "the \(name) objective needs targets") }
            if name == "cross_entropy" { return try Losses.crossEntropy(logits, targets) }
            return try ExplanationTargets.score(
                logits, classes: ExplanationTargets.classes(targets, logits: logits, owner: owner))
        }
    }

    /// The mask as a float tensor broadcastable against `gradient`, inverted when asked.
    static func mask(_ mask: Tensor, like gradient: Tensor, invert: Bool, owner: String) throws -> Tensor {
        var mask = try mask.to(gradient.dtype)
        if mask.shape != gradient.shape {
            let shape = gradient.shape
            if mask.shape == Array(shape.dropLast()) {
                mask = try mask.unsqueezed(axis: mask.rank)  // [N, L] for token embeddings [N, L, D]
            } else if shape.count >= 3, mask.shape == [shape[0]] + shape.dropFirst(2) {
                mask = try mask.unsqueezed(axis: 1)  // [N, H, W] for images [N, C, H, W]
            } else if !(mask.rank == shape.count && zip(mask.shape, shape).allSatisfy { $0 == $1 || $0 == 1 }) {
                throw TensorError(
                    owner,
                    "the mask \(describe(shape: mask.shape)) does not fit the gradient \(describe(shape: shape)) (use the input's layout, with or without its channel axis)"
                )
            }
        }
        return invert ? try 1 - mask : mask
    }

    public func penalty(_ context: RegularizerContext) throws -> Tensor {
        let name = "rrr"
        let rawMask = try context.tensor(maskKey, name)
        let (point, gradient) = try context.inputGradient(name, layer: layer) { logits in
            try Self.objective(objective, logits: logits, targets: context.targets, owner: name)
        }
        guard gradient.shape.first == rawMask.shape.first else {
            throw TensorError(
                name,
                "the mask \(describe(shape: rawMask.shape)) and the gradient \(describe(shape: gradient.shape)) differ in batch size"
            )
        }
        let mask = try Self.mask(rawMask, like: gradient, invert: invert, owner: name)
        let count = gradient.shape[0]
        // The axes the mask lacks (colour channels; a token's embedding width) are summed over before
        // the cosine form and for attributions.
        let reducedAxes = (1..<gradient.rank).filter { mask.shape[$0] == 1 && gradient.shape[$0] != 1 }
        func summed(_ tensor: Tensor) throws -> Tensor {
            reducedAxes.isEmpty ? tensor : try tensor.sum(axes: reducedAxes, keepingDimensions: true)
        }
        let attribution = timesInput ? try summed(gradient * point.to(gradient.dtype)) : gradient
        let perSample: Tensor
        if cosine {
            // |Σ over the axes the mask lacks| against the mask, flattened per sample.
            let summed = timesInput ? attribution : try summed(gradient)
            let saliency = try summed.abs().reshaped([count, -1])
            let target = try mask.expanded(to: summed.shape).reshaped([count, -1])
            let dot = try (saliency * target).sum(axes: [1])
            let norms =
                try (saliency * saliency).sum(axes: [1]).sqrt().clamp(min: 1e-8)
                * (target * target).sum(axes: [1]).sqrt().clamp(min: 1e-8)
            perSample = try dot / norms
        } else {
            let masked = try mask * attribution
            perSample = try (masked * masked).reshaped([count, -1]).sum(axes: [1])
        }
        return try (sums ? perSample.sum() : perSample.mean()) * weight
    }
}

extension RightReasons: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .regularizer, "rrr",
            "Right for the Right Reasons: λ‖mask ⊙ ∂(Σ log p)/∂x‖² (Ross et al.) or λ·cos(|Σ_c ∂/∂x|, mask) (R2R)",
            reference:
                "Ross, Hughes & Doshi-Velez, \"Right for the Right Reasons\", IJCAI 2017; Dreyer et al., Reveal2Revise",
            options: options, build: RightReasons.init)
    ]
}
