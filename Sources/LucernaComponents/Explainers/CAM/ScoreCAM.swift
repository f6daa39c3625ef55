import Foundation
import LucernaCore
import LucernaNN

/// Score-CAM: w = softmax over channels of the target score of the input masked by each upsampled,
/// min-max normalised channel (align-corners bilinear, as nn.UpsamplingBilinear2d).
public final class ScoreCAM: CAMWeighting {
    public let name = "score_cam"
    public let requirement = CAMRequirement.activations
    /// The most masked inputs in one forward pass: several channels of the batch at once; a batch larger than
    /// this is explained in slices of samples (``ClassActivationMap`` slices it, see ``rowLimit``).
    public let batchSize: Int

    public init(batchSize: Int = 128) throws {
        guard batchSize > 0 else { throw TensorError("score_cam", "batch_size must be positive, got \(batchSize)") }
        self.batchSize = batchSize
    }

    /// Score-CAM: channel weights from the target scores of the input masked by each channel.
    /// With `temporal`, the activations are `[N, C, 1, l]` and each mask, over time only, covers every row
    /// of the input.
    public var rowLimit: Int? { batchSize }

    public func map(_ layer: CAMLayer) throws -> [Double] {
        let (model, inputs, activations, classes, temporal) = (
            layer.model, layer.inputs, layer.activations, layer.classes, layer.temporal
        )
        let (count, channels, h, w) = (
            activations.shape[0], activations.shape[1], activations.shape[2], activations.shape[3]
        )
        let inputChannels = inputs.rank == 4 ? inputs.shape[1] : 1
        let (height, width) = (inputs.shape[inputs.rank - 2], inputs.shape[inputs.rank - 1])
        let values = activations.toDoubles()
        return try noGrad {
            let maskHeight = temporal ? 1 : height
            let upsampled = try activations.upsample(size: (maskHeight, width), mode: .bilinearAlignCorners).toDoubles()
            let plane = height * width
            let maskPlane = maskHeight * width
            var map = [Double](repeating: 0, count: count * h * w)
            var scores = [[Double]](repeating: [], count: count)
            let images = inputs.toDoubles()
            // Several channels per forward pass, each over the whole batch (rows channel-major, so a model
            // tiling other inputs along the batch — one modality of a multimodal model — lines up).
            let channelsPerPass = max(1, batchSize / max(count, 1))
            for start in stride(from: 0, to: channels, by: channelsPerPass) {
                let group = start..<min(start + channelsPerPass, channels)
                var masked = [Double](repeating: 0, count: group.count * count * inputChannels * plane)
                for (offset, c) in group.enumerated() {
                    for n in 0..<count {
                        let base = (n * channels + c) * maskPlane
                        let maskValues = upsampled[base..<base + maskPlane]
                        let low = maskValues.min() ?? 0
                        let high = maskValues.max() ?? 0
                        let row = offset * count + n
                        for channel in 0..<inputChannels {
                            for p in 0..<plane {
                                let mask = (upsampled[base + (temporal ? p % width : p)] - low) / (high - low + 1e-8)
                                masked[(row * inputChannels + channel) * plane + p] =
                                    images[(n * inputChannels + channel) * plane + p] * mask
                            }
                        }
                    }
                }
                let logits = try model(
                    Tensor(shape: [group.count * count] + inputs.shape.dropFirst(), values: masked, dtype: inputs.dtype)
                )
                let rows = logits.toDoubles()
                let classCount = logits.shape[1]
                for offset in 0..<group.count {
                    for n in 0..<count { scores[n].append(rows[(offset * count + n) * classCount + classes[n]]) }
                }
            }
            for n in 0..<count {
                // Softmax over channels.
                let top = scores[n].max() ?? 0
                let exponentials = scores[n].map { exp($0 - top) }
                let total = exponentials.reduce(0, +)
                for c in 0..<channels {
                    let weight = exponentials[c] / total
                    let base = (n * channels + c) * h * w
                    for p in 0..<(h * w) { map[n * h * w + p] += weight * values[base + p] }
                }
            }
            return map
        }
    }
}

extension ScoreCAM: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "score_cam", "Score-CAM: channels weighted by the score of the input masked by each",
            reference: "Wang et al., \"Score-CAM\", CVPR-W 2020; pytorch-grad-cam ScoreCAM",
            options: ClassActivationMap.options,
            build: {
                try ClassActivationMap(weighting: ScoreCAM(batchSize: $0.positiveInteger("batch_size")), config: $0)
            })
    ]
}
