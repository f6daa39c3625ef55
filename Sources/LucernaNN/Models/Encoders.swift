import LucernaCore

/// A modality encoder: per input, a pooled feature vector `[N, d]` or, when built with `outputsTokens`, a
/// token sequence `[N, L, d]` (for cross-modal attention).
public protocol Encoder: Module {
    /// d: the size of the pooled vector and of each token.
    var featureDimension: Int { get }
    /// Whether `forward` gives tokens.
    var outputsTokens: Bool { get }
}

/// Token features `[N, C, positions...]` (channels first) as a sequence `[N, L, C]` projected to `dim`.
func tokenSequence(_ features: Tensor, projection: Linear) throws -> Tensor {
    let (count, channels) = (features.shape[0], features.shape[1])
    let length = features.count / (count * channels)
    return try projection(features.reshaped([count, channels, length]).permuted([0, 2, 1]))
}

/// A convolutional encoder for images and spectrograms `[N, C, H, W]` of a fixed size: blocks `conv<i>`
/// (3×3, pad 1) → `relu<i>` → `pool<i>` (2×2 max); the pooled vector is `relu(fc(flatten))` as in the
/// benchmark CNN (keeping where things are), and as tokens each position of the last feature map is
/// projected to `dim` (`projection`).
///
/// Reference: LeCun et al., 1998; the 2-D CNN over log-mel spectrograms of Hershey et al., "CNN
/// Architectures for Large-Scale Audio Classification", ICASSP 2017.
public final class ConvEncoder: Module, Encoder {
    public let featureDimension: Int
    public let outputsTokens: Bool
    public let inputChannels: Int, inputSize: (Int, Int)
    let blocks: [(Conv2d, Module, Module)]
    /// The pooled head (`fc`), or the token projection (`projection`), whichever the output form needs.
    let head: Linear

    public init(
        inputChannels: Int = 1, inputSize: (Int, Int) = (28, 28), channels: [Int] = [32, 64], dimension: Int = 64,
        outputsTokens: Bool = false, dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        let reduction = 1 << channels.count
        guard !channels.isEmpty, dimension > 0, inputSize.0 >= reduction, inputSize.1 >= reduction else {
            throw TensorError(
                "conv_encoder",
                "channels must be non-empty, dim positive and input_size at least \(reduction) per side for \(channels.count) pooling blocks, got \(inputSize)"
            )
        }
        featureDimension = dimension
        self.outputsTokens = outputsTokens
        self.inputChannels = inputChannels
        self.inputSize = inputSize
        var previous = inputChannels
        blocks = try channels.map { width in
            defer { previous = width }
            return (
                try Conv2d(previous, width, kernelSize: (3, 3), padding: (1, 1), dtype: dtype, generator: generator),
                ReLU(), MaxPool2d(2)
            )
        }
        let last = channels[channels.count - 1]
        head = try Linear(
            outputsTokens ? last : last * (inputSize.0 / reduction) * (inputSize.1 / reduction), dimension,
            dtype: dtype, generator: generator)
        super.init()
        for (index, (conv, relu, pool)) in blocks.enumerated() {
            registerModule("conv\(index + 1)", conv)
            registerModule("relu\(index + 1)", relu)
            registerModule("pool\(index + 1)", pool)
        }
        registerModule(outputsTokens ? "projection" : "fc", head)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == inputChannels, input.shape[2] == inputSize.0,
            input.shape[3] == inputSize.1
        else {
            throw TensorError(
                "conv_encoder",
                "expected [N, \(inputChannels), \(inputSize.0), \(inputSize.1)] (input_size), got \(describe(shape: input.shape))"
            )
        }
        var value = input
        for (conv, relu, pool) in blocks { value = try pool(relu(conv(value))) }
        return outputsTokens ? try tokenSequence(value, projection: head) : try head(value.flattened(from: 1)).relu()
    }
}

/// A 1-D temporal CNN over spectrogram frames: the mel bands are channels (`[N, 1, mels, frames]` or
/// `[N, mels, frames]`), blocks `conv<i>` (kernel k, pad k/2; stride 2 after the first) → `relu<i>`, then
/// each remaining frame is a token projected to `dim`; the pooled vector is the tokens' mean.
///
/// Reference: Choi, Fazekas & Sandler, "Convolutional Recurrent Neural Networks for Music Classification"
/// 2017 / the 1-D temporal convolutions of Dieleman & Schrauwen, "End-to-end learning for music audio", 2014.
public final class TemporalConvEncoder: Module, Encoder {
    public let featureDimension: Int, mels: Int
    public let outputsTokens: Bool
    let convolutions: [Conv1d]
    /// One ReLU module per convolution (registered, so CAM methods can name `relu<i>`).
    let activations: [Activation]
    let projection: Linear

    public init(
        mels: Int = 40, channels: [Int] = [64, 64], kernelSize: Int = 5, dimension: Int = 64,
        outputsTokens: Bool = false,
        dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        guard !channels.isEmpty, dimension > 0, kernelSize > 0 else {
            throw TensorError("temporal_encoder", "channels must be non-empty, dim and kernel positive")
        }
        self.mels = mels
        featureDimension = dimension
        self.outputsTokens = outputsTokens
        var previous = mels
        convolutions = try channels.enumerated().map { index, width in
            defer { previous = width }
            return try Conv1d(
                previous, width, kernelSize: kernelSize, stride: index == 0 ? 1 : 2, padding: kernelSize / 2,
                dtype: dtype, generator: generator)
        }
        activations = channels.map { _ in ReLU() }
        projection = try Linear(channels[channels.count - 1], dimension, dtype: dtype, generator: generator)
        super.init()
        for (index, (conv, relu)) in zip(convolutions, activations).enumerated() {
            registerModule("conv\(index + 1)", conv)
            registerModule("relu\(index + 1)", relu)
        }
        registerModule("projection", projection)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        let frames = input.rank == 4 && input.shape[1] == 1 ? try input.squeezed(axis: 1) : input
        guard frames.rank == 3, frames.shape[1] == mels else {
            throw TensorError(
                "temporal_encoder",
                "expected [N, 1, \(mels), frames] or [N, \(mels), frames], got \(describe(shape: input.shape))")
        }
        var value = frames
        for (conv, relu) in zip(convolutions, activations) { value = try relu(conv(value)) }
        let sequence = try tokenSequence(value, projection: projection)
        return outputsTokens ? sequence : try sequence.mean(axes: [1])
    }
}

/// The mask of real tokens (id > 0) of `ids` `[N, T]` as `[N, T, 1]` floats, and each row's count (at least 1).
func tokenMask(_ ids: Tensor, dtype: DType) throws -> (mask: Tensor, counts: Tensor) {
    let values = ids.toIntegers()
    let mask = try Tensor(shape: [ids.shape[0], ids.shape[1], 1], values: values.map { $0 > 0 ? 1 : 0 }, dtype: dtype)
    let counts = try mask.sum(axes: [1]).clamp(min: 1)
    return (mask, counts)
}

/// Embedding bag: token ids `[N, T]` (0 = padding) embedded (`embedding`); pooled, the mean over real
/// tokens; as tokens, the embeddings `[N, T, dim]`.
///
/// Reference: Joulin, Grave, Bojanowski & Mikolov, "Bag of Tricks for Efficient Text Classification", EACL 2017.
public final class EmbeddingBagEncoder: Module, Encoder {
    public let featureDimension: Int
    public let outputsTokens: Bool
    let embedding: Embedding

    public init(
        vocabulary: Int, dimension: Int = 64, outputsTokens: Bool = false, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws {
        featureDimension = dimension
        self.outputsTokens = outputsTokens
        embedding = try Embedding(vocabulary, dimension, dtype: dtype, generator: generator)
        super.init()
        registerModule("embedding", embedding)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 2, input.dtype == .int64 else {
            throw TensorError(
                "embedding_bag_encoder",
                "expected token ids [N, T] (int64), got \(input.dtype) \(describe(shape: input.shape))")
        }
        let embedded = try embedding(input)
        if outputsTokens { return embedded }
        let (mask, counts) = try tokenMask(input, dtype: embedded.dtype)
        return try (embedded * mask).sum(axes: [1]) / counts
    }
}

/// One Transformer encoder layer as PyTorch's `TransformerEncoderLayer` (post-norm, ReLU): x ← norm1(x +
/// self_attn(x)); x ← norm2(x + linear2(relu(linear1(x)))), with dropout after attention and each linear.
public final class TransformerEncoderLayer: Module {
    let selfAttention: MultiheadAttention
    let linear1: Linear, linear2: Linear, norm1: LayerNorm, norm2: LayerNorm
    let dropout: Dropout

    public init(
        dimension: Int, heads: Int, feedForward: Int, dropout probability: Double = 0.1, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws {
        selfAttention = try MultiheadAttention(
            embedDimension: dimension, heads: heads, dropout: probability, dtype: dtype, generator: generator)
        linear1 = try Linear(dimension, feedForward, dtype: dtype, generator: generator)
        linear2 = try Linear(feedForward, dimension, dtype: dtype, generator: generator)
        norm1 = try LayerNorm([dimension], dtype: dtype)
        norm2 = try LayerNorm([dimension], dtype: dtype)
        dropout = try Dropout(probability, generator: generator)
        super.init()
        registerModule("self_attn", selfAttention)
        registerModule("linear1", linear1)
        registerModule("linear2", linear2)
        registerModule("norm1", norm1)
        registerModule("norm2", norm2)
        registerModule("dropout", dropout)
    }

    /// `mask`: additive, broadcastable to `[N, heads, T, T]` (−∞ on padding keys).
    public func callAsFunction(_ input: Tensor, mask: Tensor?) throws -> Tensor {
        let attended = try selfAttention.attend(query: input, key: input, value: input, mask: mask)
        let mixed = try norm1(input + dropout(attended))
        return try norm2(mixed + dropout(linear2(dropout(linear1(mixed).relu()))))
    }

    public override func forward(_ input: Tensor) throws -> Tensor { try self(input, mask: nil) }
}

/// A small Transformer text encoder: token ids `[N, T]` (0 = padding, at most `maxLength`) embedded and
/// summed with learned positional embeddings, `layers` encoder layers attending over real tokens only;
/// tokens `[N, T, dim]`, or the mean over real tokens.
///
/// Reference: Vaswani et al., "Attention Is All You Need", NeurIPS 2017; Devlin et al., BERT, 2019 (learned
/// positions).
public final class TransformerTextEncoder: Module, Encoder {
    public let featureDimension: Int, maxLength: Int
    public let outputsTokens: Bool
    let embedding: Embedding, positions: Tensor
    let layers: [TransformerEncoderLayer]

    public init(
        vocabulary: Int, dimension: Int = 64, heads: Int = 4, layers count: Int = 2, feedForward: Int = 128,
        maxLength: Int = 64,
        dropout: Double = 0.1, outputsTokens: Bool = false, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws {
        guard (1...8).contains(count), maxLength > 0 else {
            throw TensorError("transformer_encoder", "layers must be 1-8 and max_length positive")
        }
        featureDimension = dimension
        self.maxLength = maxLength
        self.outputsTokens = outputsTokens
        embedding = try Embedding(vocabulary, dimension, dtype: dtype, generator: generator)
        positions = try Tensor.normal(
            [maxLength, dimension], standardDeviation: 0.02, dtype: dtype, generator: generator)
        layers = try (0..<count).map { _ in
            try TransformerEncoderLayer(
                dimension: dimension, heads: heads, feedForward: feedForward, dropout: dropout, dtype: dtype,
                generator: generator)
        }
        super.init()
        registerModule("embedding", embedding)
        registerParameter("positions", positions)
        let container = registerModule("layers", Module())
        for (index, layer) in layers.enumerated() { container.registerModule("\(index)", layer) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 2, input.dtype == .int64, input.shape[1] <= maxLength else {
            throw TensorError(
                "transformer_encoder",
                "expected token ids [N, T ≤ \(maxLength)] (int64), got \(input.dtype) \(describe(shape: input.shape))")
        }
        let (count, length) = (input.shape[0], input.shape[1])
        var value = try embedding(input) + positions.sliced(axis: 0, start: 0, end: length)
        // −∞ on padding keys, except in rows with no real token (which then attend uniformly).
        let ids = input.toIntegers()
        var blocked = [Double](repeating: 0, count: count * length)
        for row in 0..<count where ids[row * length..<(row + 1) * length].contains(where: { $0 > 0 }) {
            for column in 0..<length where ids[row * length + column] <= 0 {
                blocked[row * length + column] = -.infinity
            }
        }
        let mask = try Tensor(shape: [count, 1, 1, length], values: blocked, dtype: value.dtype)
        for layer in layers { value = try layer(value, mask: mask) }
        if outputsTokens { return value }
        let (real, counts) = try tokenMask(input, dtype: value.dtype)
        return try (value * real).sum(axes: [1]) / counts
    }
}
