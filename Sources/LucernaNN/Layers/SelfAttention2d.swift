import LucernaCore

/// SAGAN's self-attention block over the positions of a feature map `[N, C, H, W]`: 1×1 convolutions to
/// queries and keys (C/8 channels, at least 1) and values (C channels), attention weights softmax(qᵀk) over
/// the key positions for each query position, and y = γ · (v · attentionᵀ) + x with γ a parameter
/// initialised to 0 (the block starts as the identity and learns how much non-local evidence to mix in).
/// The latest forward's weights `[N, HW, HW]` are kept in `attention` (row: query position).
///
/// Reference: Zhang, Goodfellow, Metaxas & Odena, "Self-Attention Generative Adversarial Networks", ICML
/// 2019 (the `Self_Attn` module of the reference code).
public final class SelfAttention2d: Module {
    public let query: Conv2d, key: Conv2d, value: Conv2d
    public let gamma: Tensor
    public let channels: Int, reducedChannels: Int
    /// The attention weights of the latest forward, `[N, HW, HW]`, detached.
    public private(set) var attention: Tensor?

    public init(_ channels: Int, reduction: Int = 8, dtype: DType = .float32, generator: RandomGenerator = .shared)
        throws
    {
        guard channels > 0, reduction > 0 else {
            throw TensorError(
                "SelfAttention2d", "channels and reduction must be positive, got \(channels) and \(reduction)")
        }
        self.channels = channels
        reducedChannels = max(1, channels / reduction)
        query = try Conv2d(channels, reducedChannels, kernelSize: (1, 1), dtype: dtype, generator: generator)
        key = try Conv2d(channels, reducedChannels, kernelSize: (1, 1), dtype: dtype, generator: generator)
        value = try Conv2d(channels, channels, kernelSize: (1, 1), dtype: dtype, generator: generator)
        gamma = try Tensor.zeros([1], dtype: dtype)
        super.init()
        registerModule("query", query)
        registerModule("key", key)
        registerModule("value", value)
        registerParameter("gamma", gamma)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == channels else {
            throw TensorError(
                "SelfAttention2d", "input must be [N, \(channels), H, W], got \(describe(shape: input.shape))")
        }
        let (count, height, width) = (input.shape[0], input.shape[2], input.shape[3])
        let positions = height * width
        let queries = try query(input).reshaped([count, reducedChannels, positions])
        let keys = try key(input).reshaped([count, reducedChannels, positions])
        let values = try value(input).reshaped([count, channels, positions])
        // energy[n, i, j] = q_i · k_j; each query position's weights over the key positions sum to 1.
        let weights = try queries.matmul(keys, transposingSelf: true, transposingOther: false).softmax(axis: -1)
        attention = weights.detach()
        let attended = try values.matmul(weights, transposingSelf: false, transposingOther: true)
        return try attended.reshaped([count, channels, height, width]) * gamma + input
    }

    public override var summary: String { "channels=\(channels), reduced=\(reducedChannels)" }
}
