import Foundation

extension Tensor {
    /// Inverted dropout: zeroes elements with probability `probability` and scales the rest by
    /// `1 / (1 - probability)` when `training`; identity otherwise.
    public func dropout(probability: Double, training: Bool, generator: RandomGenerator = .shared) throws -> Tensor {
        guard probability >= 0, probability < 1 else {
            throw TensorError("dropout", "probability \(probability) must be in [0, 1)")
        }
        guard training, probability > 0 else { return self }
        let mask = try Tensor.bernoulli(shape, probability: 1 - probability, dtype: dtype, generator: generator)
        return try self * (mask * (1 / (1 - probability)))
    }

    /// Batch normalisation over `[N, C, ...]`: per channel, with batch statistics in training (updating
    /// `runningMean`/`runningVariance` in place with `momentum`, unbiased variance as in PyTorch) and the
    /// running statistics in evaluation.
    public func batchNorm(
        runningMean: Tensor?, runningVariance: Tensor?, weight: Tensor?, bias: Tensor?,
        training: Bool, momentum: Double = 0.1, epsilon: Double = 1e-5
    ) throws -> Tensor {
        guard rank >= 2 else {
            throw TensorError("batch_norm", "input must be [N, C, ...], got \(describe(shape: shape))")
        }
        let channels = shape[1]
        var statisticsShape = [Int](repeating: 1, count: rank)
        statisticsShape[1] = channels
        for parameter in [runningMean, runningVariance, weight, bias].compactMap({ $0 })
        where parameter.count != channels {
            throw TensorError(
                "batch_norm",
                "parameter of shape \(describe(shape: parameter.shape)) does not match \(channels) channels of \(describe(shape: shape))"
            )
        }
        let axes = [0] + Array(2..<rank)
        var normalized: Tensor
        if !training, let runningMean, let runningVariance {
            normalized =
                try (self - runningMean.reshaped(statisticsShape))
                / (runningVariance.reshaped(statisticsShape) + epsilon).sqrt()
        } else {
            let perChannel = count / Swift.max(channels, 1)
            guard perChannel > 1 || !training else {
                throw TensorError(
                    "batch_norm",
                    "expected more than 1 value per channel when training, got input \(describe(shape: shape))")
            }
            let mean = try self.mean(axes: axes, keepingDimensions: true)
            let centered = try self - mean
            let variance = try (centered * centered).mean(axes: axes, keepingDimensions: true)
            normalized = try centered / (variance + epsilon).sqrt()
            if training, let runningMean, let runningVariance {
                try noGrad {
                    let unbiased = try variance * (Double(perChannel) / Double(Swift.max(perChannel - 1, 1)))
                    try runningMean.assign(try runningMean * (1 - momentum) + mean.reshaped([channels]) * momentum)
                    try runningVariance.assign(
                        try runningVariance * (1 - momentum) + unbiased.reshaped([channels]) * momentum)
                }
            }
        }
        if let weight { normalized = try normalized * weight.reshaped(statisticsShape) }
        if let bias { normalized = try normalized + bias.reshaped(statisticsShape) }
        return normalized
    }

    /// Layer normalisation over the trailing dimensions `normalizedShape`.
    public func layerNorm(normalizedShape: [Int], weight: Tensor?, bias: Tensor?, epsilon: Double = 1e-5) throws
        -> Tensor
    {
        guard !normalizedShape.isEmpty, normalizedShape.count <= rank,
            Array(shape.suffix(normalizedShape.count)) == normalizedShape
        else {
            throw TensorError(
                "layer_norm",
                "normalized shape \(describe(shape: normalizedShape)) is not a suffix of \(describe(shape: shape))")
        }
        let axes = Array((rank - normalizedShape.count)..<rank)
        let mean = try self.mean(axes: axes, keepingDimensions: true)
        let centered = try self - mean
        let variance = try (centered * centered).mean(axes: axes, keepingDimensions: true)
        var normalized = try centered / (variance + epsilon).sqrt()
        if let weight { normalized = try normalized * weight }
        if let bias { normalized = try normalized + bias }
        return normalized
    }

    /// Rows of `self` (an embedding table `[vocabulary, dimension]`) selected by int64 `indices`; result
    /// shape `indices.shape + [dimension]`.
    public func embedding(_ indices: Tensor) throws -> Tensor {
        guard rank == 2 else {
            throw TensorError("embedding", "table must be [vocabulary, dimension], got \(describe(shape: shape))")
        }
        guard indices.dtype == .int64 else {
            throw TensorError("embedding", "indices must be int64, got \(indices.dtype)")
        }
        return try indexSelect(axis: 0, indices: indices.toIntegers()).reshaped(indices.shape + [shape[1]])
    }

    /// Scaled dot-product attention `softmax(Q Kᵀ / √d + mask) V` over `[..., L, d]` queries and
    /// `[..., S, d]` keys/values. A mask is additive (float, e.g. -inf to block) and broadcasts to
    /// `[..., L, S]`; `causal` blocks keys after each query.
    public static func scaledDotProductAttention(
        query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil,
        causal: Bool = false, dropout: Double = 0, training: Bool = false,
        generator: RandomGenerator = .shared
    ) throws -> Tensor {
        try scaledDotProductAttentionWithWeights(
            query: query, key: key, value: value, mask: mask, causal: causal, dropout: dropout,
            training: training, generator: generator
        ).output
    }

    /// ``scaledDotProductAttention(query:key:value:mask:causal:dropout:training:generator:)`` and its
    /// attention weights `[..., L, S]` (after dropout, as PyTorch's `need_weights` returns them).
    public static func scaledDotProductAttentionWithWeights(
        query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil,
        causal: Bool = false, dropout: Double = 0, training: Bool = false,
        generator: RandomGenerator = .shared
    ) throws -> (output: Tensor, weights: Tensor) {
        guard query.rank >= 2, key.rank >= 2, value.rank >= 2, query.shape.last == key.shape.last,
            key.shape[key.rank - 2] == value.shape[value.rank - 2]
        else {
            throw TensorError(
                "scaled_dot_product_attention",
                "query \(describe(shape: query.shape)), key \(describe(shape: key.shape)) and value \(describe(shape: value.shape)) do not fit ([..., L, d], [..., S, d], [..., S, dv])"
            )
        }
        let dimension = Double(query.shape[query.rank - 1])
        var scores =
            try query.matmul(key, transposingSelf: false, transposingOther: true) * (1 / dimension.squareRoot())
        if let mask { scores = try scores + mask.to(scores.dtype) }
        if causal {
            let (length, sourceLength) = (query.shape[query.rank - 2], key.shape[key.rank - 2])
            var blocked = [Double](repeating: 0, count: length * sourceLength)
            for row in 0..<length {
                for column in (row + 1)..<Swift.max(row + 1, sourceLength) {
                    blocked[row * sourceLength + column] = -Double.infinity
                }
            }
            scores = try scores + Tensor(shape: [length, sourceLength], values: blocked, dtype: scores.dtype)
        }
        let weights = try scores.softmax(axis: -1).dropout(
            probability: dropout, training: training, generator: generator)
        return (try weights.matmul(value), weights)
    }
}
