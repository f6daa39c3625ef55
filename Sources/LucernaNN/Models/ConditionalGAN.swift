import LucernaCore

/// A module whose forward takes a conditioning besides its input: class labels `[N]` (int64) or a
/// conditioning vector `[N, D]` (a fused multimodal embedding). A conditional GAN's generator (noise →
/// images) and critic (images → scores) are such modules.
public protocol ConditionalModel: Module {
    /// The output for `input` under `condition`.
    func forward(_ input: Tensor, condition: Tensor) throws -> Tensor
    /// A small valid (input, condition) pair of `batch` samples, for checks.
    func example(batch: Int, generator: RandomGenerator) throws -> (input: Tensor, condition: Tensor)
}

/// How a conditional GAN network takes its condition.
public enum GANConditioning: Sendable, Equatable {
    /// Class labels `[N]` through a learned embedding.
    case labels(classes: Int)
    /// A conditioning vector `[N, dimension]` (a fused embedding of other modalities), projected linearly.
    case vector(dimension: Int)
}

/// Class labels `[N]` within `0..<classes`, checked, as the embedding's indices.
func checkedLabels(_ labels: Tensor, count: Int, classes: Int, owner: String) throws -> Tensor {
    guard labels.rank == 1, labels.shape[0] == count, !labels.dtype.isFloatingPoint else {
        throw TensorError(
            owner, "the condition must be int64 labels [\(count)], got \(labels.dtype) \(describe(shape: labels.shape))"
        )
    }
    if let bad = labels.toIntegers().first(where: { $0 < 0 || $0 >= classes }) {
        throw TensorError(owner, "label \(bad) is outside 0..<\(classes)")
    }
    return labels
}

/// The conditional generator of the paper's attention WGAN-GP, DCGAN-style for `imageSize`×`imageSize`
/// images (a multiple of 4): the noise `[N, latent]` concatenated with the condition's embedding,
/// `Linear → c₀·(s/4)²`, BatchNorm, ReLU; a stride-2 transposed convolution to c₁ channels at s/2, BatchNorm,
/// ReLU; a stride-2 transposed convolution to the image's channels at s, tanh (images in [−1, 1]). A SAGAN
/// self-attention block (`SelfAttention2d`) after the stage at `attentionResolution` (s/4 or s/2), or none.
///
/// Reference: Zhang et al., "Self-Attention Generative Adversarial Networks", ICML 2019; Gulrajani et al.,
/// "Improved Training of Wasserstein GANs", NeurIPS 2017; Radford et al., DCGAN, ICLR 2016.
public final class GANGenerator: Module, ConditionalModel {
    public let latent: Int, imageSize: Int, outputChannels: Int, channels: (Int, Int)
    public let conditioning: GANConditioning, attentionResolution: Int?
    let conditionEmbedding: Module
    let projection: Linear, normalization0: BatchNorm, upsample1: ConvTranspose2d, normalization1: BatchNorm
    let upsample2: ConvTranspose2d
    public let attention: SelfAttention2d?

    public init(
        latent: Int = 128, conditioning: GANConditioning = .labels(classes: 10), embedding: Int = 32,
        channels: (Int, Int) = (128, 64), attentionResolution: Int? = 14, imageSize: Int = 28,
        outputChannels: Int = 1, dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        guard latent > 0, embedding > 0, channels.0 > 0, channels.1 > 0, outputChannels > 0, imageSize >= 4,
            imageSize % 4 == 0
        else {
            throw TensorError(
                "GANGenerator",
                "latent, embedding, channels and output channels must be positive and the image size a multiple of 4, got latent \(latent), embedding \(embedding), channels \(channels), out \(outputChannels), size \(imageSize)"
            )
        }
        if let resolution = attentionResolution, resolution != imageSize / 4, resolution != imageSize / 2 {
            throw TensorError(
                "GANGenerator",
                "attention resolution must be \(imageSize / 4) or \(imageSize / 2) for \(imageSize)×\(imageSize) images, got \(resolution)"
            )
        }
        (self.latent, self.conditioning, self.channels) = (latent, conditioning, channels)
        (self.attentionResolution, self.imageSize, self.outputChannels) = (
            attentionResolution, imageSize, outputChannels
        )
        switch conditioning {
        case .labels(let classes):
            guard classes > 0 else { throw TensorError("GANGenerator", "classes must be positive, got \(classes)") }
            conditionEmbedding = try Embedding(classes, embedding, dtype: dtype, generator: generator)
        case .vector(let dimension):
            guard dimension > 0 else {
                throw TensorError("GANGenerator", "the condition's dimension must be positive, got \(dimension)")
            }
            conditionEmbedding = try Linear(dimension, embedding, dtype: dtype, generator: generator)
        }
        let base = imageSize / 4
        projection = try Linear(latent + embedding, channels.0 * base * base, dtype: dtype, generator: generator)
        normalization0 = try BatchNorm(channels.0, rank: 4, dtype: dtype)
        upsample1 = try ConvTranspose2d(
            channels.0, channels.1, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: dtype,
            generator: generator)
        normalization1 = try BatchNorm(channels.1, rank: 4, dtype: dtype)
        upsample2 = try ConvTranspose2d(
            channels.1, outputChannels, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: dtype,
            generator: generator)
        attention = try attentionResolution.map {
            try SelfAttention2d($0 == base ? channels.0 : channels.1, dtype: dtype, generator: generator)
        }
        super.init()
        registerModule("condition", conditionEmbedding)
        registerModule("projection", projection)
        registerModule("norm0", normalization0)
        registerModule("up1", upsample1)
        registerModule("norm1", normalization1)
        if let attention { registerModule("attention", attention) }
        registerModule("up2", upsample2)
    }

    /// The condition's embedding `[N, embedding]`.
    func embed(_ condition: Tensor, count: Int) throws -> Tensor {
        switch conditioning {
        case .labels(let classes):
            return try conditionEmbedding(
                checkedLabels(condition, count: count, classes: classes, owner: "GANGenerator"))
        case .vector(let dimension):
            guard condition.rank == 2, condition.shape == [count, dimension], condition.dtype.isFloatingPoint else {
                throw TensorError(
                    "GANGenerator",
                    "the condition must be a vector [\(count), \(dimension)], got \(describe(shape: condition.shape))")
            }
            return try conditionEmbedding(condition)
        }
    }

    /// Images `[N, C, s, s]` in [−1, 1] for noise `[N, latent]` and the condition.
    public func forward(_ input: Tensor, condition: Tensor) throws -> Tensor {
        guard input.rank == 2, input.shape[1] == latent else {
            throw TensorError("GANGenerator", "noise must be [N, \(latent)], got \(describe(shape: input.shape))")
        }
        let count = input.shape[0]
        let base = imageSize / 4
        let joined = try Tensor.concatenate([input, embed(condition, count: count)], axis: 1)
        var features = try normalization0(projection(joined).reshaped([count, channels.0, base, base])).relu()
        if let attention, attentionResolution == base { features = try attention(features) }
        features = try normalization1(upsample1(features)).relu()
        if let attention, attentionResolution == 2 * base { features = try attention(features) }
        return try upsample2(features).tanh()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        throw TensorError("GANGenerator", "needs a condition: generator(noise, labels)")
    }

    /// Standard normal noise `[count, latent]` in the generator's dtype.
    public func noise(count: Int, generator: RandomGenerator) throws -> Tensor {
        try Tensor.normal([count, latent], dtype: projection.weight.dtype, generator: generator)
    }

    public func example(batch: Int, generator: RandomGenerator) throws -> (input: Tensor, condition: Tensor) {
        let noise = try noise(count: batch, generator: generator)
        switch conditioning {
        case .labels(let classes):
            return (noise, try Tensor(shape: [batch], integers: (0..<batch).map { $0 % classes }))
        case .vector(let dimension):
            return (noise, try Tensor.normal([batch, dimension], dtype: projection.weight.dtype, generator: generator))
        }
    }

    public override var summary: String {
        "latent=\(latent), channels=(\(channels.0), \(channels.1)), attention=\(attentionResolution.map(String.init) ?? "none"), size=\(imageSize)"
    }
}

/// The conditional critic: two stride-2 convolutions with LeakyReLU(0.2) (s → s/2 → s/4), an optional SAGAN
/// self-attention block after the first (`attentionResolution` s/2) or second (s/4), no batch normalisation
/// (the gradient penalty is per sample), and a linear score of the flattened features φ. With
/// `projection` conditioning (Miyato & Koyama) the score is ψ(φ) + embed(y)ᵀφ; with `concat` a learned
/// per-class map is stacked on the image as an extra channel. `spectralNorm` wraps the convolutions and the
/// score in `SpectralNorm` (SAGAN-style critics).
///
/// Reference: Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018; Gulrajani et al. 2017;
/// Zhang et al., SAGAN, ICML 2019.
public final class GANCritic: Module, ConditionalModel {
    public enum Conditioning: String, Sendable { case projection, concat }
    public let classes: Int, imageSize: Int, inputChannels: Int, channels: (Int, Int)
    public let conditioning: Conditioning, attentionResolution: Int?, spectralNorm: Bool
    let convolution1: Module, convolution2: Module, score: Module
    let labelEmbedding: Embedding
    public let attention: SelfAttention2d?

    public init(
        classes: Int = 10, conditioning: Conditioning = .projection, channels: (Int, Int) = (64, 128),
        attentionResolution: Int? = 14, spectralNorm: Bool = false, imageSize: Int = 28, inputChannels: Int = 1,
        dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        guard classes > 0, channels.0 > 0, channels.1 > 0, inputChannels > 0, imageSize >= 4, imageSize % 4 == 0
        else {
            throw TensorError(
                "GANCritic",
                "classes, channels and input channels must be positive and the image size a multiple of 4, got \(classes), \(channels), \(inputChannels), \(imageSize)"
            )
        }
        let base = imageSize / 4
        if let resolution = attentionResolution, resolution != base, resolution != 2 * base {
            throw TensorError(
                "GANCritic",
                "attention resolution must be \(base) or \(2 * base) for \(imageSize)×\(imageSize) images, got \(resolution)"
            )
        }
        (self.classes, self.conditioning, self.channels, self.spectralNorm) = (
            classes, conditioning, channels, spectralNorm
        )
        (self.attentionResolution, self.imageSize, self.inputChannels) = (attentionResolution, imageSize, inputChannels)
        func normalized(_ layer: any AffineLayer) throws -> Module {
            spectralNorm ? try SpectralNorm(layer, generator: generator) : layer
        }
        let extra = conditioning == .concat ? 1 : 0
        convolution1 = try normalized(
            Conv2d(
                inputChannels + extra, channels.0, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: dtype,
                generator: generator))
        convolution2 = try normalized(
            Conv2d(
                channels.0, channels.1, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: dtype,
                generator: generator))
        let features = channels.1 * base * base
        score = try normalized(Linear(features, 1, dtype: dtype, generator: generator))
        let embeddingWidth = conditioning == .projection ? features : imageSize * imageSize
        labelEmbedding = try Embedding(classes, embeddingWidth, dtype: dtype, generator: generator)
        // Glorot-uniform, as Miyato & Koyama's code initialises the projection's class embedding: N(0, 1) (an
        // Embedding's default) makes embed(y)ᵀφ dominate the score, and the critic's input gradients start far
        // above the penalty's norm 1.
        try labelEmbedding.weight.assign(
            Initializers.xavierUniform([classes, embeddingWidth], dtype: dtype, generator: generator))
        attention = try attentionResolution.map {
            try SelfAttention2d($0 == 2 * base ? channels.0 : channels.1, dtype: dtype, generator: generator)
        }
        super.init()
        registerModule("conv1", convolution1)
        registerModule("conv2", convolution2)
        if let attention { registerModule("attention", attention) }
        registerModule("score", score)
        registerModule("label_embedding", labelEmbedding)
    }

    /// Scores `[N]` for images `[N, C, s, s]` and labels `[N]`.
    public func forward(_ input: Tensor, condition: Tensor) throws -> Tensor {
        guard input.rank == 4, input.shape[1...] == [inputChannels, imageSize, imageSize] else {
            throw TensorError(
                "GANCritic",
                "images must be [N, \(inputChannels), \(imageSize), \(imageSize)], got \(describe(shape: input.shape))")
        }
        let count = input.shape[0]
        let labels = try checkedLabels(condition, count: count, classes: classes, owner: "GANCritic")
        var images = input
        if conditioning == .concat {
            let map = try labelEmbedding(labels).reshaped([count, 1, imageSize, imageSize])
            images = try Tensor.concatenate([input, map], axis: 1)
        }
        let base = imageSize / 4
        var features = try convolution1(images).leakyRelu(slope: 0.2)
        if let attention, attentionResolution == 2 * base { features = try attention(features) }
        features = try convolution2(features).leakyRelu(slope: 0.2)
        if let attention, attentionResolution == base { features = try attention(features) }
        let flat = try features.reshaped([count, -1])
        let scores = try score(flat).reshaped([count])
        guard conditioning == .projection else { return scores }
        return try scores + (labelEmbedding(labels) * flat).sum(axes: [1])
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        throw TensorError("GANCritic", "needs a condition: critic(images, labels)")
    }

    public func example(batch: Int, generator: RandomGenerator) throws -> (input: Tensor, condition: Tensor) {
        let dtype = labelEmbedding.weight.dtype
        return (
            try Tensor.normal([batch, inputChannels, imageSize, imageSize], dtype: dtype, generator: generator),
            try Tensor(shape: [batch], integers: (0..<batch).map { $0 % classes })
        )
    }

    public override var summary: String {
        "classes=\(classes), \(conditioning.rawValue), channels=(\(channels.0), \(channels.1)), attention=\(attentionResolution.map(String.init) ?? "none"), spectral_norm=\(spectralNorm)"
    }
}
