import Foundation
import LucernaCore

/// SSIM of generated images to the real ones of their class: for each generated image, the largest SSIM
/// (as `metrics.ssim`) to a reference image of the class it was conditioned on, averaged over the generated
/// images. `update(generated [N, C, H, W] or [N, H, W], conditioning labels [N])`. Real digits are far from
/// each other under SSIM, so report beside it the same figure for real held-out images against the same
/// references (the real-vs-real ceiling): a generator far above it copies or averages its training set.
///
/// Reference: Wang et al., IEEE TIP 2004 (SSIM); as a nearest-neighbour generation score, the paper's SSIM
/// figure; scikit-image `structural_similarity` per pair.
public final class GenerationSSIM: ConditionalSampleMetric {
    /// Stand-ins for the conformance probe: six 12×12 images over classes 0-2.
    nonisolated(unsafe) static let standInImages = ConfigValue.tensor(
        (try? Tensor(shape: [6, 1, 12, 12], values: (0..<864).map { Double(($0 * 37) % 101) / 100 }, dtype: .float32))
            ?? Tensor(0))
    nonisolated(unsafe) static let standInLabels = ConfigValue.tensor(
        (try? Tensor(shape: [6], integers: [0, 1, 2, 0, 1, 2])) ?? Tensor(0))
    public static let options = [
        OptionSpec(
            "references", .tensor, required: true, standIn: standInImages,
            "the real images [M, C, H, W] or [M, H, W] compared with"),
        OptionSpec("labels", .tensor, required: true, standIn: standInLabels, "the references' classes [M]"),
        OptionSpec("data_range", .number, default: .number(1), "R: the images' value range (1 for [0, 1])"),
        OptionSpec("sigma", .number, default: .number(1.5), "the Gaussian window's standard deviation"),
    ]
    let similarity: StructuralSimilarity
    /// Per class, each reference's statistics per channel.
    let references: [Int: [[StructuralSimilarity.PlaneStatistics]]]
    let layout: (channels: Int, height: Int, width: Int)
    private var sum = 0.0, count = 0

    public init(config: Config) throws {
        let similarity = try StructuralSimilarity(
            dataRange: config.number("data_range"), sigma: config.number("sigma"))
        self.similarity = similarity
        let images = try config.tensor("references")
        let labels = try config.tensor("labels")
        let planes = try StructuralSimilarity.planes(
            images, images, minimumSide: similarity.window.size, owner: config.owner)
        guard labels.rank == 1, labels.shape[0] == planes.images else {
            throw config.error(
                "labels must be [M] for the \(planes.images) references, got \(describe(shape: labels.shape))")
        }
        let values = images.toDoubles()
        guard values.allSatisfy(\.isFinite) else { throw config.error("the references have NaN or infinite values") }
        layout = (planes.channels, planes.height, planes.width)
        var byClass: [Int: [[StructuralSimilarity.PlaneStatistics]]] = [:]
        let plane = planes.height * planes.width
        for (image, label) in labels.toIntegers().enumerated() {
            byClass[label, default: []].append(
                (0..<planes.channels).map { channel in
                    let start = (image * planes.channels + channel) * plane
                    return similarity.statistics(
                        Array(values[start..<(start + plane)]), height: planes.height, width: planes.width)
                })
        }
        references = byClass
    }

    public func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        let shape = predictions.shape
        let channels = predictions.rank == 4 ? shape[1] : 1
        guard predictions.rank == 3 || predictions.rank == 4,
            channels == layout.channels, shape[shape.count - 2] == layout.height,
            shape[shape.count - 1] == layout.width, targets.rank == 1, targets.shape[0] == shape[0]
        else {
            throw TensorError(
                "metrics.generation_ssim",
                "needs generated images of the references' \(layout.channels)×\(layout.height)×\(layout.width) and their labels [N], got \(describe(shape: shape)) and \(describe(shape: targets.shape))"
            )
        }
        let values = predictions.toDoubles()
        guard values.allSatisfy(\.isFinite) else {
            throw TensorError("metrics.generation_ssim", "the generated images have NaN or infinite values")
        }
        let plane = layout.height * layout.width
        for (image, label) in targets.toIntegers().enumerated() {
            guard let candidates = references[label] else {
                throw TensorError(
                    "metrics.generation_ssim", "no reference image of class \(label) (sample \(image + 1))")
            }
            let generated = (0..<channels).map { channel in
                let start = (image * channels + channel) * plane
                return similarity.statistics(
                    Array(values[start..<(start + plane)]), height: layout.height, width: layout.width)
            }
            var best = -Double.infinity
            for reference in candidates {
                let score = zip(generated, reference).reduce(0) { $0 + similarity.similarity($1.0, $1.1) }
                best = max(best, score / Double(channels))
            }
            sum += best
        }
        count += shape[0]
    }

    public func compute() throws -> Double {
        guard count > 0 else { throw TensorError("metrics.generation_ssim", "no images seen (call update first)") }
        return sum / Double(count)
    }

    public func reset() { (sum, count) = (0, 0) }
}

extension GenerationSSIM: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "generation_ssim",
            "per generated image the largest SSIM to a real image of its conditioning class, averaged",
            reference: "Wang et al., IEEE TIP 2004; skimage.metrics.structural_similarity per pair",
            options: options, build: { try GenerationSSIM(config: $0) })
    ]
}
