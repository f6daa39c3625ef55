import LucernaCore
import LucernaNN

/// An explanation penalty on a class activation map: the share of the Grad-CAM (or Grad-CAM++) map's mass
/// that falls in a mask, Σ(cam · M) / (Σ cam + ε) per sample, averaged and weighted; with `invert = true`
/// the share outside it (off an object mask). The map is computed as the explainers compute it —
/// activations A of the named layer and gradients g of the target class scores, Grad-CAM's weights mean(g)
/// or Grad-CAM++'s Σ relu(g)·g²/(2g² + Σ_ab A·g³ + 1e-6), cam = relu(Σ_c w_c A_c), resized bilinearly to the
/// mask — but kept in the graph: g is differentiated again (gradients of gradients through the network),
/// so the penalty trains what the map shows. Share, not raw mass, so scaling the map changes nothing.
///
/// `form = "dice"` asks more of the map than staying in the allowed region (outside the mask, or inside it
/// with `invert = true`): it must also cover that region. The map is scaled to [0, 1] by its maximum,
/// c = cam / (max cam + ε), and the penalty is 1 − Dice(c, R) = 1 − 2 Σ c·R / (Σ c + Σ R + ε) for the
/// allowed region R, the soft-Dice loss of attention supervision. The share form is met by a map that
/// lights a few pixels of the garment; such a sparse map ranks the rest of the image as a tie at zero, so
/// its top-20 % region is not the garment. Dice is met only by a map that is high across the region.
///
/// Reference: Selvaraju et al., "Grad-CAM", ICCV 2017; Chattopadhay et al., "Grad-CAM++", WACV 2018
/// (pytorch-grad-cam's `GradCAM`, `GradCAMPlusPlus`); as an explanation penalty, Rieger et al. 2020 (CDEP)
/// and Schramowski et al. 2020 ("Making deep neural networks right for the right scientific reasons").
public final class CAMPenalty: Regularizer {
    public enum Method: Sendable {
        case gradCAM, gradCAMPlusPlus
    }

    public static let options = [
        OptionSpec("weight", .number, default: .number(1), "λ, the coefficient of the mean share"),
        OptionSpec(
            "layer", .string,
            "the layer whose activations make the map (by name); default: the last non-pooling layer with a 4-D output"
        ),
        OptionSpec("mask", .string, default: .string("artifact_masks"), "the batch tensor marking the region"),
        OptionSpec(
            "invert", .boolean, default: .boolean(false),
            "penalize the share outside the mask (an object mask) instead of inside"),
        OptionSpec(
            "target", .string, default: .string("label"), "the class explained: \"label\" or \"predicted\""),
        OptionSpec(
            "form", .string, default: .string("share"),
            "\"share\": the share of the map's mass off the allowed region; \"dice\": 1 − soft Dice of the max-scaled map with the allowed region"
        ),
    ]

    public let method: Method
    public let weight: Double
    public let layer: String?
    public let maskKey: String
    public let invert: Bool
    public let explainsLabels: Bool
    /// Dice of the max-scaled map with the allowed region instead of the share of mass off it.
    public let dice: Bool
    /// The layer found for the model training runs (when none is named).
    private var resolvedLayer: String?

    public init(method: Method, config: Config) throws {
        self.method = method
        weight = try config.nonNegativeNumber("weight")
        layer = config.has("layer") ? try config.string("layer") : nil
        maskKey = try config.string("mask")
        invert = try config.boolean("invert")
        explainsLabels = try config.choice("target", ["label", "predicted"]) == "label"
        dice = try config.choice("form", ["share", "dice"]) == "dice"
    }

    var name: String { method == .gradCAM ? "grad_cam_penalty" : "grad_cam_pp_penalty" }

    public func requirements(model: RegularizedModel?) throws -> RegularizerRequirements {
        let chosen = try model.map { try $0.chooseLayer(layer, owner: name) } ?? layer
        resolvedLayer = chosen
        return RegularizerRequirements(
            fields: [maskKey] + (explainsLabels ? ["targets"] : []), layers: chosen.map { [$0] } ?? [])
    }

    /// The maps `[N, 1, h, w]` of the layer, differentiable by the model's parameters.
    public func maps(_ context: RegularizerContext, layer: String) throws -> Tensor {
        let (activations, logits) = try context.layerOutput(layer, name)
        guard activations.rank == 4, logits.rank == 2 else {
            throw TensorError(
                name,
                "layer \(layer) must output [N, C, h, w] and the model logits [N, classes], got \(describe(shape: activations.shape)) and \(describe(shape: logits.shape))"
            )
        }
        let classes = try ExplanationTargets.classes(
            explainsLabels ? context.require(context.targets, "targets", name) : nil, logits: logits, owner: name)
        let score = try ExplanationTargets.score(logits, classes: classes)
        guard
            let gradients = try Tensor.gradients(of: [score], withRespectTo: [activations], createGraph: true).first
                ?? nil
        else { throw TensorError(name, "the class scores do not depend on layer \(layer)") }
        let weights: Tensor
        switch method {
        case .gradCAM:
            weights = try gradients.mean(axes: [2, 3], keepingDimensions: true)
        case .gradCAMPlusPlus:
            let squared = try gradients * gradients
            let sums = try activations.sum(axes: [2, 3], keepingDimensions: true)
            let denominator = try squared * 2 + sums * squared * gradients + 1e-6
            let alpha = try squared / denominator
            let defined = try squared.greater(Tensor(0, dtype: squared.dtype)).to(squared.dtype)
            weights = try (gradients.relu() * alpha * defined).sum(axes: [2, 3], keepingDimensions: true)
        }
        return try (weights * activations).sum(axes: [1], keepingDimensions: true).relu()
    }

    public func penalty(_ context: RegularizerContext) throws -> Tensor {
        let layer = try context.layer(named: layer, resolved: resolvedLayer, name)
        return try penalty(maps: maps(context, layer: layer), mask: context.tensor(maskKey, name))
    }

    /// The penalty of given maps `[N, 1, h, w]` (from ``maps(_:layer:)``) against a mask `[N, H, W]` or
    /// `[N, C, H, W]` (channels merged by their maximum); the maps are resized to the mask.
    public func penalty(maps: Tensor, mask given: Tensor) throws -> Tensor {
        var (mask, cam) = (given, maps)
        let count = cam.shape[0]
        // The mask as [N, 1, H, W]; the map resized to it.
        if mask.rank == 3 { mask = try mask.unsqueezed(axis: 1) }
        guard mask.rank == 4, mask.shape[0] == count else {
            throw TensorError(
                name, "the mask must be [N, H, W] or [N, 1, H, W] for \(count) maps, got \(describe(shape: mask.shape))"
            )
        }
        if mask.shape[1] != 1 { mask = try mask.max(axis: 1, keepingDimensions: true) }
        mask = try mask.to(cam.dtype)
        if invert { mask = try 1 - mask }
        if cam.shape[2] != mask.shape[2] || cam.shape[3] != mask.shape[3] {
            cam = try cam.upsample(size: (mask.shape[2], mask.shape[3]), mode: .bilinear).relu()
        }
        if dice {
            // The allowed region R = 1 − mask; the map scaled to [0, 1] per sample by its maximum.
            let allowed = try 1 - mask
            let peak = try cam.reshaped([count, -1]).max(axis: 1, keepingDimensions: true).reshaped([count, 1, 1, 1])
            let scaled = try cam / (peak + 1e-8)
            let overlap = try (scaled * allowed).sum(axes: [1, 2, 3]) * 2
            let sizes = try scaled.sum(axes: [1, 2, 3]) + allowed.sum(axes: [1, 2, 3]) + 1e-8
            return try (1 - overlap / sizes).mean() * weight
        }
        let inside = try (cam * mask).sum(axes: [1, 2, 3])
        let total = try cam.sum(axes: [1, 2, 3]) + 1e-8
        return try (inside / total).mean() * weight
    }
}

extension CAMPenalty: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .regularizer, "grad_cam_penalty",
            "share of the Grad-CAM map's mass in a mask (or outside it), differentiated through the explainer",
            reference: "Selvaraju et al., \"Grad-CAM\", ICCV 2017; pytorch-grad-cam GradCAM",
            options: options, build: { try CAMPenalty(method: .gradCAM, config: $0) }),
        ComponentEntry(
            .regularizer, "grad_cam_pp_penalty",
            "share of the Grad-CAM++ map's mass in a mask (or outside it), differentiated through the explainer",
            reference: "Chattopadhay et al., \"Grad-CAM++\", WACV 2018; pytorch-grad-cam GradCAMPlusPlus",
            options: options, build: { try CAMPenalty(method: .gradCAMPlusPlus, config: $0) }),
    ]
}
