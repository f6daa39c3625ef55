import LucernaComponents
import LucernaCore
import LucernaNN

/// The network that turns a real sample's other modalities into a conditioning vector for a generator with
/// `conditioning = "fused"`: a multimodal classifier's fused embedding (``MultimodalClassifier/embedding(modalities:)``)
/// of the data tensors named by `inputs` (modality → data key; a modality left out gets the fusion's
/// placeholder). Run in evaluation mode (dropout off, batch-norm running statistics). When `trained`, its
/// parameters learn with the generator's — from the adversarial loss and the reconstruction term, so the
/// embedding keeps what drawing the sample needs — and the generator's weight average and checkpoints carry
/// it; otherwise it is frozen and the embedding is a fixed function of the inputs.
///
/// Reference: the paper's fused conditioning; Isola et al., "Image-to-Image Translation with Conditional
/// Adversarial Networks", CVPR 2017 (an encoder trained with the generator under an L1 term).
public struct GANConditioner {
    public let model: MultimodalClassifier
    /// Modality name → the data set's tensor key.
    public let inputs: [String: String]
    public let trained: Bool

    public init(model: MultimodalClassifier, inputs: [String: String], trained: Bool) throws {
        guard !inputs.isEmpty else {
            throw TensorError("train_gan conditioner", "inputs must name at least one modality's data tensor")
        }
        for name in inputs.keys where !model.modalities.contains(name) {
            throw TensorError(
                "train_gan conditioner",
                "unknown modality '\(name)'; the model's modalities: \(model.modalities.joined(separator: ", "))")
        }
        (self.model, self.inputs, self.trained) = (model, inputs, trained)
    }

    /// The embedding `[N, D]` of a batch's modality tensors (modality name → rows).
    public func embed(_ modalities: [String: Tensor]) throws -> Tensor {
        try model.evaluating { try model.embedding(modalities: modalities) }
    }
}
