import LucernaCore

/// The conditional WGAN-GP generator for 28×28 images: a label embedding concatenated with the noise,
/// `Linear(latent + embed → 128·7·7)` + ReLU, then two stride-2 transposed convolutions to `[N, 1, 28, 28]`
/// in [-1, 1].
///
/// Reference: Gulrajani et al., "Improved Training of Wasserstein GANs", 2017; Mirza & Osindero,
/// "Conditional Generative Adversarial Nets", 2014.
public final class ConditionalGenerator: Module {
    public let labelEmbedding: Embedding, projection: Linear
    public let upsample1: ConvTranspose2d, upsample2: ConvTranspose2d
    public let latentDimension: Int, classes: Int

    public init(
        latentDimension: Int = 64, classes: Int = 10, embedDimension: Int = 10, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws {
        self.latentDimension = latentDimension
        self.classes = classes
        labelEmbedding = try Embedding(classes, embedDimension, dtype: dtype, generator: generator)
        projection = try Linear(latentDimension + embedDimension, 128 * 7 * 7, dtype: dtype, generator: generator)
        upsample1 = try ConvTranspose2d(
            128, 64, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: dtype,
            generator: generator)
        upsample2 = try ConvTranspose2d(
            64, 1, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: dtype,
            generator: generator)
        super.init()
        registerModule("label_embedding", labelEmbedding)
        registerModule("projection", projection)
        registerModule("upsample1", upsample1)
        registerModule("upsample2", upsample2)
    }

    /// Images `[N, 1, 28, 28]` for noise `[N, latent]` and int64 labels `[N]`.
    public func generate(noise: Tensor, labels: Tensor) throws -> Tensor {
        guard noise.rank == 2, noise.shape[1] == latentDimension, labels.shape == [noise.shape[0]] else {
            throw TensorError(
                "ConditionalGenerator",
                "noise must be [N, \(latentDimension)] and labels [N], got \(describe(shape: noise.shape)) and \(describe(shape: labels.shape))"
            )
        }
        let input = try Tensor.concatenate([noise, labelEmbedding(labels)], axis: 1)
        let features = try projection(input).relu().reshaped([noise.shape[0], 128, 7, 7])
        return try upsample2(upsample1(features).relu()).tanh()
    }
}

/// The conditional WGAN-GP critic: a label embedding reshaped to a 1×28×28 map concatenated with the
/// image, two stride-2 convolutions with LeakyReLU(0.2), and a linear score.
///
/// Reference: Gulrajani et al., "Improved Training of Wasserstein GANs", 2017.
public final class ConditionalCritic: Module {
    public let labelEmbedding: Embedding, convolution1: Conv2d, convolution2: Conv2d, score: Linear

    public init(classes: Int = 10, dtype: DType = .float32, generator: RandomGenerator = .shared) throws {
        labelEmbedding = try Embedding(classes, 28 * 28, dtype: dtype, generator: generator)
        convolution1 = try Conv2d(
            2, 64, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: dtype, generator: generator)
        convolution2 = try Conv2d(
            64, 128, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: dtype, generator: generator)
        score = try Linear(128 * 7 * 7, 1, dtype: dtype, generator: generator)
        super.init()
        registerModule("label_embedding", labelEmbedding)
        registerModule("conv1", convolution1)
        registerModule("conv2", convolution2)
        registerModule("score", score)
    }

    /// Scores `[N]` for images `[N, 1, 28, 28]` and int64 labels `[N]`.
    public func critique(images: Tensor, labels: Tensor) throws -> Tensor {
        guard images.rank == 4, images.shape[1...] == [1, 28, 28], labels.shape == [images.shape[0]] else {
            throw TensorError(
                "ConditionalCritic",
                "images must be [N, 1, 28, 28] and labels [N], got \(describe(shape: images.shape)) and \(describe(shape: labels.shape))"
            )
        }
        let labelMap = try labelEmbedding(labels).reshaped([images.shape[0], 1, 28, 28])
        let input = try Tensor.concatenate([images, labelMap], axis: 1)
        let features = try convolution2(convolution1(input).leakyRelu(slope: 0.2)).leakyRelu(slope: 0.2)
        return try score(features.flattened(from: 1)).reshaped([images.shape[0]])
    }

    /// The WGAN-GP gradient penalty of this critic (``wassersteinGradientPenalty(real:fake:weight:generator:score:)``).
    public func gradientPenalty(
        real: Tensor, fake: Tensor, labels: Tensor, weight: Double = 10,
        generator: RandomGenerator = .shared
    ) throws -> Tensor {
        try wassersteinGradientPenalty(real: real, fake: fake, weight: weight, generator: generator) {
            try critique(images: $0, labels: labels)
        }
    }
}

/// The WGAN-GP gradient penalty `weight · mean((‖∇ₓ D(x̂)‖₂ − 1)²)` at random interpolates x̂ = εx + (1 − ε)x̃
/// (ε ~ U(0, 1) per sample) of real and fake samples of any rank, differentiable with respect to the critic's
/// parameters (a double backward). `score` is the critic on a batch.
///
/// Reference: Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, Algorithm 1.
public func wassersteinGradientPenalty(
    real: Tensor, fake: Tensor, weight: Double = 10, generator: RandomGenerator = .shared,
    score: (Tensor) throws -> Tensor
) throws -> Tensor {
    let mix = try Tensor.uniform(
        [real.shape[0]] + Array(repeating: 1, count: real.rank - 1), dtype: real.dtype, generator: generator)
    let interpolates = try (real.detach() * mix + fake.detach() * (1 - mix)).requiringGrad()
    let scores = try score(interpolates)
    guard let gradient = try Tensor.gradients(of: [scores.sum()], withRespectTo: [interpolates], createGraph: true)[0]
    else {
        throw TensorError("gradient_penalty", "the critic's score does not depend on its input")
    }
    let norms = try ((gradient * gradient).sum(axes: Array(1..<gradient.rank)) + 1e-12).sqrt()
    return try (norms - 1).square().mean() * weight
}
