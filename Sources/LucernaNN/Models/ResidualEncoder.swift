import LucernaCore

/// A residual block: conv3×3(stride) → BN → ReLU → conv3×3 → BN, added to the input (through a 1×1
/// convolution and BN when the shape changes), then ReLU — ResNet's BasicBlock with PyTorch's names.
public final class BasicBlock: Module {
    let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    let relu1 = ReLU(), relu2 = ReLU()
    let shortcut: Sequential?

    public init(
        _ inputChannels: Int, _ outputChannels: Int, stride: Int, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws {
        conv1 = try Conv2d(
            inputChannels, outputChannels, kernelSize: (3, 3), stride: (stride, stride), padding: (1, 1), bias: false,
            dtype: dtype, generator: generator)
        bn1 = try BatchNorm(outputChannels, rank: 4, dtype: dtype)
        conv2 = try Conv2d(
            outputChannels, outputChannels, kernelSize: (3, 3), padding: (1, 1), bias: false, dtype: dtype,
            generator: generator)
        bn2 = try BatchNorm(outputChannels, rank: 4, dtype: dtype)
        shortcut =
            stride != 1 || inputChannels != outputChannels
            ? Sequential([
                try Conv2d(
                    inputChannels, outputChannels, kernelSize: (1, 1), stride: (stride, stride), bias: false,
                    dtype: dtype, generator: generator),
                try BatchNorm(outputChannels, rank: 4, dtype: dtype),
            ])
            : nil
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("relu1", relu1)
        registerModule("conv2", conv2)
        registerModule("bn2", bn2)
        if let shortcut { registerModule("downsample", shortcut) }
        registerModule("relu2", relu2)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        let main = try bn2(conv2(relu1(bn1(conv1(input)))))
        return try relu2(main + (shortcut.map { try $0(input) } ?? input))
    }
}

/// A small ResNet encoder for images and spectrograms: a stem (conv3×3 → BN → ReLU), then a stage of
/// `blocks` residual blocks per entry of `channels` (stride 2 from the second stage on), global average
/// pooling and a linear layer to `dim` with ReLU; as tokens, each position of the last stage projected to
/// `dim`.
///
/// Reference: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
public final class ResidualEncoder: Module, Encoder {
    public let featureDimension: Int
    public let outputsTokens: Bool
    public let inputChannels: Int
    let stem: Sequential, stages: [BasicBlock], head: Linear

    public init(
        inputChannels: Int = 1, channels: [Int] = [16, 32, 64], blocks: Int = 1, dimension: Int = 64,
        outputsTokens: Bool = false,
        dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        guard !channels.isEmpty, blocks > 0, dimension > 0 else {
            throw TensorError("resnet_encoder", "channels must be non-empty, blocks and dim positive")
        }
        featureDimension = dimension
        self.outputsTokens = outputsTokens
        self.inputChannels = inputChannels
        stem = Sequential(named: [
            (
                "conv",
                try Conv2d(
                    inputChannels, channels[0], kernelSize: (3, 3), padding: (1, 1), bias: false, dtype: dtype,
                    generator: generator)
            ),
            ("bn", try BatchNorm(channels[0], rank: 4, dtype: dtype)), ("relu", ReLU()),
        ])
        var previous = channels[0]
        var built: [BasicBlock] = []
        for (stage, width) in channels.enumerated() {
            for index in 0..<blocks {
                built.append(
                    try BasicBlock(
                        previous, width, stride: stage > 0 && index == 0 ? 2 : 1, dtype: dtype, generator: generator))
                previous = width
            }
        }
        stages = built
        head = try Linear(previous, dimension, dtype: dtype, generator: generator)
        super.init()
        registerModule("stem", stem)
        let container = registerModule("blocks", Module())
        for (index, block) in stages.enumerated() { container.registerModule("\(index)", block) }
        registerModule(outputsTokens ? "projection" : "fc", head)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == inputChannels else {
            throw TensorError(
                "resnet_encoder", "expected [N, \(inputChannels), H, W], got \(describe(shape: input.shape))")
        }
        var value = try stem(input)
        for block in stages { value = try block(value) }
        if outputsTokens { return try tokenSequence(value, projection: head) }
        return try head(value.mean(axes: [2, 3])).relu()
    }
}

/// A convolutional text encoder: token ids `[N, T]` (0 = padding, embedded as zeros) embedded, a 1-D convolution per kernel
/// width (`filters` each, ReLU), max over the real tokens' positions, the results concatenated (`dim` =
/// filters × kernels); as tokens, the per-position convolution features concatenated `[N, T, dim]`.
///
/// Reference: Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014.
public final class TextConvEncoder: Module, Encoder {
    public let featureDimension: Int
    public let outputsTokens: Bool
    let embedding: Embedding
    let convolutions: [Conv1d]

    public init(
        vocabulary: Int, embeddingDimension: Int = 64, filters: Int = 32, kernels: [Int] = [3, 4, 5],
        outputsTokens: Bool = false,
        dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        guard !kernels.isEmpty, kernels.allSatisfy({ $0 > 0 }), filters > 0 else {
            throw TensorError("text_cnn_encoder", "kernels and filters must be positive")
        }
        featureDimension = filters * kernels.count
        self.outputsTokens = outputsTokens
        embedding = try Embedding(vocabulary, embeddingDimension, dtype: dtype, generator: generator)
        convolutions = try kernels.map {
            try Conv1d(embeddingDimension, filters, kernelSize: $0, padding: $0 / 2, dtype: dtype, generator: generator)
        }
        super.init()
        registerModule("embedding", embedding)
        let container = registerModule("convolutions", Module())
        for (index, conv) in convolutions.enumerated() { container.registerModule("\(index)", conv) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 2, input.dtype == .int64 else {
            throw TensorError(
                "text_cnn_encoder",
                "expected token ids [N, T] (int64), got \(input.dtype) \(describe(shape: input.shape))")
        }
        let length = input.shape[1]
        // Padding embeds as zeros, so a padded sequence looks like the zero padding of the convolutions.
        let (real, _) = try tokenMask(input, dtype: embedding.weight.dtype)
        let embedded = try (embedding(input) * real).permuted([0, 2, 1])  // [N, E, T]
        // Every kernel's features at the T token positions (even kernels give T + 1; the last is dropped).
        let features = try convolutions.map { try $0(embedded).relu().sliced(axis: 2, start: 0, end: length) }
        let joined = try Tensor.concatenate(features, axis: 1)  // [N, dim, T]
        if outputsTokens { return try joined.permuted([0, 2, 1]) }
        // Max over real positions: padding gets −1e9 (rows without a real token keep every position).
        let ids = input.toIntegers()
        var penalty = [Double](repeating: 0, count: ids.count)
        for row in 0..<input.shape[0] where ids[row * length..<(row + 1) * length].contains(where: { $0 > 0 }) {
            for column in 0..<length where ids[row * length + column] <= 0 { penalty[row * length + column] = -1e9 }
        }
        let mask = try Tensor(shape: [input.shape[0], 1, length], values: penalty, dtype: joined.dtype)
        return try (joined + mask).max(axis: 2)
    }
}
