import LucernaComponents
import LucernaCore
import LucernaNN

/// Explanation feedback for a conditional generator: an auditing classifier's Grad-CAM or Grad-CAM++ map of
/// each generated sample, for the class it was drawn for, should lie on the sample's own object. The
/// foreground is the sample's pixels above `threshold` (images in [0, 1], detached); the penalty is the
/// weighted share of the map's mass outside it (``CAMPenalty`` with the foreground as an object mask, or its
/// Dice form), differentiated through the explainer and the classifier into the generated pixels and so into
/// the generator. The classifier is run in evaluation mode and is not trained. Also measured: the mean IoU
/// of each map (resized to the image, scaled by its maximum, cut at 0.5) with the foreground.
///
/// Reference: the paper's explanation feedback; Chattopadhay et al., "Grad-CAM++", WACV 2018; as a penalty
/// on explanations, Schramowski et al. 2020 and Rieger et al. 2020.
public struct ExplanationFeedback {
    public let penalty: CAMPenalty
    public let classifier: Module
    public let layer: String
    public let threshold: Double
    /// Generator steps between feedback updates (1: every step).
    public let every: Int

    public init(penalty: CAMPenalty, classifier: Module, layer: String, threshold: Double, every: Int) throws {
        guard every >= 1, threshold >= 0, threshold < 1 else {
            throw TensorError(
                "train_gan feedback", "every must be at least 1 and threshold in [0, 1), got \(every) and \(threshold)")
        }
        guard classifier.module(named: layer) != nil else {
            let names = classifier.namedModules().map(\.name).filter { !$0.isEmpty }
            throw TensorError(
                "train_gan feedback",
                "the classifier has no layer '\(layer)'; layers: \(names.prefix(40).joined(separator: ", "))")
        }
        (self.penalty, self.classifier, self.layer, self.threshold, self.every) = (
            penalty, classifier, layer, threshold, every
        )
    }

    /// The weighted penalty (in the graph of `images`) and the maps' mean IoU with the foregrounds, for
    /// generated `images` in [−1, 1] and their conditioning `labels`, with the classifier's outputs on the
    /// images (in the same graph: bias feedback with the same classifier uses them instead of a second forward
    /// pass). The caller keeps the classifier's parameters from requiring gradients until after the backward
    /// pass, as for the critic (the trainer does), so that only the generator learns from the term.
    public func evaluate(images: Tensor, labels: Tensor) throws -> (
        term: Tensor, intersectionOverUnion: Double, outputs: Tensor
    ) {
        let scaled = try images.affine(scale: 0.5, shift: 0.5)
        let foreground = try noGrad {
            try scaled.detach().greater(Tensor(threshold, dtype: scaled.dtype)).to(scaled.dtype)
                .max(axis: 1, keepingDimensions: true)
        }
        return try classifier.evaluating {
            var context = RegularizerContext(
                inputs: scaled, targets: labels, model: RegularizedModel(module: classifier, inputKey: "inputs"),
                batch: ["inputs": scaled, "targets": labels], inputKey: "inputs")
            // One forward pass, kept in the context so that the maps reuse it.
            let (activations, outputs) = try context.layerOutput(layer, "train_gan feedback")
            (context.activations[layer], context.logits) = (activations, outputs)
            let maps = try penalty.maps(context, layer: layer)
            let term = try penalty.penalty(maps: maps, mask: foreground)
            return (term, try Self.meanIntersectionOverUnion(maps: maps.detach(), foreground: foreground), outputs)
        }
    }

    /// The mean over samples of IoU(map ≥ 0.5·max, foreground), the map resized bilinearly to the foreground;
    /// a sample whose map and foreground are both empty counts 1.
    static func meanIntersectionOverUnion(maps: Tensor, foreground: Tensor) throws -> Double {
        let (count, height, width) = (foreground.shape[0], foreground.shape[2], foreground.shape[3])
        let resized = try noGrad {
            maps.shape[2] == height && maps.shape[3] == width
                ? maps : try maps.upsample(size: (height, width), mode: .bilinear).relu()
        }
        let (values, masks) = (resized.toDoubles(), foreground.toDoubles())
        let plane = height * width
        var total = 0.0
        for sample in 0..<count {
            let map = values[(sample * plane)..<((sample + 1) * plane)]
            let peak = map.max() ?? 0
            var (intersection, union) = (0, 0)
            for (offset, value) in map.enumerated() {
                let lit = peak > 0 && value >= 0.5 * peak
                let object = masks[sample * plane + offset] > 0.5
                if lit && object { intersection += 1 }
                if lit || object { union += 1 }
            }
            total += union == 0 ? 1 : Double(intersection) / Double(union)
        }
        return total / Double(max(count, 1))
    }
}
