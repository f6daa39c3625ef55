import LucernaCore
import LucernaNN

/// Reconstruction SSIM: a generator conditioned on vectors (a fused multimodal embedding) redraws each sample
/// from the sample's own embedding, and the drawn image is scored against the sample's real image with
/// scikit-image's SSIM (``StructuralSimilarity``: Gaussian window σ 1.5, data range 1). `update(conditions
/// [N, D], images [N, C, H, W] in [0, 1])`; the generator runs in evaluation mode without gradients, on noise
/// from its own seeded random generator (the same seed, the same draws), its [−1, 1] output mapped to [0, 1].
/// `compute()` is the mean over the pairs. This is the setting in which an SSIM like the paper's 88.8 % is
/// meaningful (`generation_ssim` scores free generation against the nearest real image instead).
///
/// Reference: Wang et al., "Image quality assessment: from error visibility to structural similarity",
/// IEEE TIP 2004 (SSIM); the paper's reconstruction SSIM on multimodal MNIST.
public final class ReconstructionSSIM: ReconstructionMetric {
    /// The conformance probe's stand-in: a generator of 12×12 images conditioned on 4-vectors.
    nonisolated(unsafe) static let standInGenerator = ConfigValue.object(
        (try? GANGenerator(
            latent: 4, conditioning: .vector(dimension: 4), embedding: 2, channels: (4, 4),
            attentionResolution: nil, imageSize: 12, generator: RandomGenerator(seed: 0))) ?? Module())
    public static let options = [
        OptionSpec(
            "generator", .object("Module"), required: true, standIn: standInGenerator,
            "a generator conditioned on vectors (models.cgan_generator{conditioning = \"fused\"})"),
        OptionSpec("seed", .integer, default: .number(0), "seed of the generator's noise"),
        OptionSpec("batch", .integer, default: .number(500), "samples per forward pass"),
    ]
    let generator: GANGenerator
    let seed: UInt64
    let batch: Int
    private var random: RandomGenerator
    private let similarity: StructuralSimilarity

    public init(config: Config) throws {
        let owner = "metrics.reconstruction_ssim"
        guard case .object(let object as GANGenerator) = config.value("generator"),
            case .vector = object.conditioning
        else {
            throw TensorError(
                owner,
                "generator must be a conditional generator with conditioning = \"fused\" (models.cgan_generator{conditioning = \"fused\", condition_dim = D})"
            )
        }
        generator = object
        seed = UInt64(max(0, try config.integer("seed")))
        batch = try config.positiveInteger("batch")
        random = RandomGenerator(seed: seed)
        similarity = try StructuralSimilarity()
    }

    public func update(predictions conditions: Tensor, targets images: Tensor, groups: Tensor?) throws {
        guard conditions.rank == 2, images.rank == 4, conditions.shape[0] == images.shape[0] else {
            throw TensorError(
                "metrics.reconstruction_ssim",
                "needs conditions [N, D] and the samples' real images [N, C, H, W], got \(describe(shape: conditions.shape)) and \(describe(shape: images.shape))"
            )
        }
        let count = conditions.shape[0]
        try generator.evaluating {
            try noGrad {
                for start in stride(from: 0, to: count, by: batch) {
                    let end = min(start + batch, count)
                    let noise = try generator.noise(count: end - start, generator: random)
                    let drawn = try generator.forward(
                        noise, condition: conditions.sliced(axis: 0, start: start, end: end)
                    ).affine(scale: 0.5, shift: 0.5)
                    let real = try images.sliced(axis: 0, start: start, end: end)
                    guard drawn.shape == real.shape else {
                        throw TensorError(
                            "metrics.reconstruction_ssim",
                            "the generator draws \(describe(shape: drawn.shape)) but the real images are \(describe(shape: real.shape))"
                        )
                    }
                    try similarity.update(predictions: drawn, targets: real.to(drawn.dtype), groups: nil)
                }
            }
        }
    }

    public func compute() throws -> Double {
        do { return try similarity.compute() } catch {
            throw TensorError("metrics.reconstruction_ssim", "no samples seen (call update first)")
        }
    }

    public func reset() {
        similarity.reset()
        random = RandomGenerator(seed: seed)
    }

    public func report() throws -> [String: ConfigValue] {
        var values = try similarity.report()
        values["definition"] = .string(
            "SSIM between the image drawn from each sample's own conditioning vector and the sample's real image")
        return values
    }
}

extension ReconstructionSSIM: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "reconstruction_ssim",
            "SSIM between the image a vector-conditioned generator draws from each sample's own embedding and its real image",
            reference: "Wang et al., IEEE TIP 2004 (SSIM); the paper's reconstruction SSIM on multimodal MNIST",
            options: options, build: { try ReconstructionSSIM(config: $0) })
    ]
}
