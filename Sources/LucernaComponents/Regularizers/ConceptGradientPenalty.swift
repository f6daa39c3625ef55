import LucernaCore
import LucernaNN

/// RR-ClArC, right-reason class artifact compensation: a penalty on the gradient of the model's output with
/// respect to a layer's activations a along a concept direction v (the artifact's concept activation
/// vector), λ · mean((∇_a f · v)²), so the model stops reacting to the concept without being shown where it
/// is. f is the sum over the batch of all logits with random signs (the reference default), all logits, the
/// largest logit, the target logit or the mean log-probability; for a convolutional layer the gradient is
/// averaged over positions first (`aggregation = "l2_mean"`, the reference default for the per-channel
/// concept of a pooled CAV) or taken per position (`"l2"`, the default for a whole-map concept), and
/// `"l1"`/`"cosine"` forms are offered as the reference code does. v has one entry per channel (or per
/// activation, C·h·w, for a whole-map direction). A whole-map concept with a `_mean` aggregation is dotted
/// with the position-averaged gradient spread back over the map (as the reference code does), which keeps
/// only the concept's sum over each channel's positions: a spatial artifact's direction is lost.
///
/// Reference: Dreyer, Pahde et al., "From Hope to Safety: Unlearning Biases of Deep Models via Gradient
/// Penalization in Latent Space", AAAI 2024 (frederikpahde/rrclarc `RRClarc`).
public final class ConceptGradientPenalty: Regularizer {
    public static let options = [
        OptionSpec("weight", .number, default: .number(1), "λ"),
        OptionSpec("concept", .tensor, required: true, "the concept direction v: [C] (per channel) or [C·h·w]"),
        OptionSpec(
            "layer", .string,
            "the layer whose activations a are differentiated; default: the last non-pooling layer with a 4-D output"),
        OptionSpec(
            "target", .string, default: .string("all_logits_random"),
            "f: all_logits_random, all_logits, max_logit, target_logit or log_probabilities"),
        OptionSpec(
            "aggregation", .string,
            "l2_mean, l2, l1_mean, l1, cosine_mean or cosine (mean: average the gradient over positions first); default l2_mean for a per-channel concept, l2 for a whole-map one"
        ),
    ]
    public static let targets = ["all_logits_random", "all_logits", "max_logit", "target_logit", "log_probabilities"]

    public let weight: Double
    public let concept: Tensor
    public let layer: String?
    public let target: String
    let chosenAggregation: String?
    private var resolvedLayer: String?
    let name = "rr_clarc"

    public init(config: Config) throws {
        weight = try config.nonNegativeNumber("weight")
        let given = try config.tensor("concept")
        guard given.dtype.isFloatingPoint, given.count > 0 else {
            throw ConfigurationError(config.owner, "concept must be a non-empty floating-point vector")
        }
        concept = try given.reshaped([given.count]).detach()
        layer = config.has("layer") ? try config.string("layer") : nil
        target = try config.choice("target", Self.targets)
        let aggregations = ["l2_mean", "l2", "l1_mean", "l1", "cosine_mean", "cosine"]
        chosenAggregation = config.has("aggregation") ? try config.choice("aggregation", aggregations) : nil
    }

    /// The aggregation given, or the default for a concept of `count` entries at a layer of `channels`.
    func aggregation(channels: Int) -> String {
        chosenAggregation ?? (concept.count == channels ? "l2_mean" : "l2")
    }

    public func requirements(model: RegularizedModel?) throws -> RegularizerRequirements {
        let chosen = try model.map { try $0.chooseLayer(layer, owner: name) } ?? layer
        resolvedLayer = chosen
        return RegularizerRequirements(
            fields: target == "target_logit" ? ["targets"] : [], layers: chosen.map { [$0] } ?? [])
    }

    /// Σ over the batch of the per-sample objective f.
    func objective(_ logits: Tensor, targets: Tensor?) throws -> Tensor {
        switch target {
        case "all_logits": return try logits.sum()
        case "all_logits_random":
            let signs = try Tensor.uniform(logits.shape, dtype: logits.dtype).less(Tensor(0.5, dtype: logits.dtype))
            return try (logits * (signs.to(logits.dtype) * 2 - 1)).sum()
        case "max_logit": return try logits.max(axis: 1).sum()
        case "target_logit":
            return try ExplanationTargets.score(
                logits, classes: ExplanationTargets.classes(targets, logits: logits, owner: name))
        default: return try (logits.softmax(axis: 1) + 1e-5).log().mean(axes: [1]).sum()
        }
    }

    public func penalty(_ context: RegularizerContext) throws -> Tensor {
        let layer = try context.layer(named: layer, resolved: resolvedLayer, name)
        let (activations, logits) = try context.layerOutput(layer, name)
        guard logits.rank == 2 else {
            throw TensorError(name, "the model must return logits [N, classes], got \(describe(shape: logits.shape))")
        }
        let value = try objective(
            logits, targets: target == "target_logit" ? context.require(context.targets, "targets", name) : nil)
        guard let raw = try Tensor.gradients(of: [value], withRespectTo: [activations], createGraph: true).first ?? nil
        else { throw TensorError(name, "the objective does not depend on layer \(layer)") }
        // As [N, C, h, w] (a dense layer's [N, C] is [N, C, 1, 1]).
        var gradient = raw.rank == 2 ? try raw.reshaped(raw.shape + [1, 1]) : raw
        guard gradient.rank == 4 else {
            throw TensorError(
                name, "layer \(layer) must output [N, C] or [N, C, h, w], got \(describe(shape: raw.shape))")
        }
        let (count, channels, height, width) = (
            gradient.shape[0], gradient.shape[1], gradient.shape[2], gradient.shape[3]
        )
        let aggregation = aggregation(channels: channels)
        if aggregation.hasSuffix("_mean") { gradient = try gradient.mean(axes: [2, 3], keepingDimensions: true) }
        let rows: Tensor
        let direction: Tensor
        if concept.count == channels {
            // One channel vector per position (every position alike after the mean).
            rows = try gradient.permuted([0, 2, 3, 1]).reshaped([-1, channels])
            direction = try concept.to(gradient.dtype).reshaped([1, channels])
        } else if concept.count == channels * height * width {
            rows = try gradient.expanded(to: [count, channels, height, width]).reshaped([count, -1])
            direction = try concept.to(gradient.dtype).reshaped([1, concept.count])
        } else {
            throw TensorError(
                name,
                "the concept has \(concept.count) entries; layer \(layer) has \(channels) channels (\(channels * height * width) activations)"
            )
        }
        let projections = try (rows * direction).sum(axes: [1])
        let perRow: Tensor
        if aggregation.hasPrefix("l2") {
            perRow = try projections * projections
        } else if aggregation.hasPrefix("l1") {
            perRow = try projections.abs()
        } else {
            let norms =
                try (rows * rows).sum(axes: [1]).sqrt().clamp(min: 1e-8)
                * (direction * direction).sum().sqrt().clamp(min: 1e-8)
            perRow = try (projections / norms).abs()
        }
        return try perRow.mean() * weight
    }
}

extension ConceptGradientPenalty: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .regularizer, "rr_clarc",
            "RR-ClArC: λ·mean((∇_a f · v)²), the output's gradient at a layer along a concept direction v",
            reference: "Dreyer, Pahde et al., AAAI 2024 (frederikpahde/rrclarc RRClarc)",
            options: options, build: ConceptGradientPenalty.init)
    ]
}
