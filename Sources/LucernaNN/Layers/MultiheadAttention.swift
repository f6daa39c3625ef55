import LucernaCore

/// Multi-head attention with PyTorch's parameters (`in_proj_weight [3E, E]`, `in_proj_bias`,
/// `out_proj.weight`, `out_proj.bias`), batch-first inputs `[N, L, E]`.
public final class MultiheadAttention: Module {
    public let embedDimension: Int, heads: Int
    public let inputProjectionWeight: Tensor, inputProjectionBias: Tensor
    public let outputProjection: Linear
    public let dropout: Double
    let generator: RandomGenerator

    public init(
        embedDimension: Int, heads: Int, dropout: Double = 0, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws {
        guard embedDimension > 0, heads > 0, embedDimension % heads == 0 else {
            throw TensorError(
                "MultiheadAttention", "embed dimension \(embedDimension) must be a positive multiple of heads \(heads)")
        }
        self.embedDimension = embedDimension
        self.heads = heads
        self.dropout = dropout
        self.generator = generator
        inputProjectionWeight = try Initializers.xavierUniform(
            [3 * embedDimension, embedDimension], dtype: dtype,
            generator: generator)
        inputProjectionBias = try Tensor.zeros([3 * embedDimension], dtype: dtype)
        outputProjection = try Linear(embedDimension, embedDimension, dtype: dtype, generator: generator)
        outputProjection.bias?.fill(0)
        super.init()
        registerParameter("in_proj_weight", inputProjectionWeight)
        registerParameter("in_proj_bias", inputProjectionBias)
        registerModule("out_proj", outputProjection)
    }

    /// Self-attention.
    public override func forward(_ input: Tensor) throws -> Tensor {
        try attend(query: input, key: input, value: input)
    }

    /// Attention of `query [N, L, E]` over `key`, `value [N, S, E]`, with an optional additive mask
    /// broadcastable to `[N, heads, L, S]`.
    public func attend(query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil) throws -> Tensor {
        try attendWithWeights(query: query, key: key, value: value, mask: mask).output
    }

    /// ``attend(query:key:value:mask:)`` and the attention weights averaged over heads, `[N, L, S]`
    /// (PyTorch's `need_weights=True, average_attn_weights=True`).
    public func attendWithWeights(query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil) throws -> (
        output: Tensor, weights: Tensor
    ) {
        for tensor in [query, key, value] where tensor.rank != 3 || tensor.shape[2] != embedDimension {
            throw TensorError(
                "MultiheadAttention", "inputs must be [N, L, \(embedDimension)], got \(describe(shape: tensor.shape))")
        }
        let e = embedDimension
        let headDimension = embedDimension / heads
        func project(_ input: Tensor, _ part: Int) throws -> Tensor {
            let weight = try inputProjectionWeight.sliced(axis: 0, start: part * e, end: (part + 1) * e)
            let bias = try inputProjectionBias.sliced(axis: 0, start: part * e, end: (part + 1) * e)
            let projected = try input.matmul(weight, transposingSelf: false, transposingOther: true) + bias
            return try projected.reshaped([input.shape[0], input.shape[1], heads, headDimension]).permuted([0, 2, 1, 3])
        }
        let (attended, weights) = try Tensor.scaledDotProductAttentionWithWeights(
            query: project(query, 0), key: project(key, 1), value: project(value, 2), mask: mask, dropout: dropout,
            training: isTraining, generator: generator)
        let merged = try attended.permuted([0, 2, 1, 3]).reshaped([query.shape[0], query.shape[1], e])
        return (try outputProjection(merged), try weights.mean(axes: [1]))
    }
}
