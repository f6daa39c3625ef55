import LucernaCore

/// Batch normalisation over channels (dimension 1) of `[N, C]` (BatchNorm1d) or `[N, C, H, W]`
/// (BatchNorm2d) inputs, with PyTorch's parameter and buffer names.
public final class BatchNorm: Module {
    public let weight: Tensor?, bias: Tensor?
    public let runningMean: Tensor, runningVariance: Tensor, batchesTracked: Tensor
    public let momentum: Double, epsilon: Double
    public let expectedRank: Int

    public init(
        _ features: Int, rank: Int, epsilon: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true,
        dtype: DType = .float32
    ) throws {
        guard features > 0 else { throw TensorError("BatchNorm", "features must be positive, got \(features)") }
        expectedRank = rank
        self.epsilon = epsilon
        self.momentum = momentum
        weight = affine ? try Tensor.ones([features], dtype: dtype) : nil
        bias = affine ? try Tensor.zeros([features], dtype: dtype) : nil
        runningMean = try Tensor.zeros([features], dtype: dtype)
        runningVariance = try Tensor.ones([features], dtype: dtype)
        batchesTracked = try Tensor.zeros([], dtype: .int64)
        super.init()
        if let weight { registerParameter("weight", weight) }
        if let bias { registerParameter("bias", bias) }
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVariance)
        registerBuffer("num_batches_tracked", batchesTracked)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == expectedRank || (expectedRank == 2 && input.rank == 3) else {
            throw TensorError(typeName, "expected a rank-\(expectedRank) input, got \(describe(shape: input.shape))")
        }
        if isTraining {
            batchesTracked.pointer(as: Int64.self)[0] += 1
        }
        return try input.batchNorm(
            runningMean: runningMean, runningVariance: runningVariance, weight: weight, bias: bias,
            training: isTraining, momentum: momentum, epsilon: epsilon)
    }

    public override var typeName: String { expectedRank == 4 ? "BatchNorm2d" : "BatchNorm1d" }
}

/// Layer normalisation over trailing dimensions.
public final class LayerNorm: Module {
    public let weight: Tensor?, bias: Tensor?
    public let normalizedShape: [Int]
    public let epsilon: Double

    public init(
        _ normalizedShape: [Int], epsilon: Double = 1e-5, elementwiseAffine: Bool = true,
        dtype: DType = .float32
    ) throws {
        guard !normalizedShape.isEmpty, normalizedShape.allSatisfy({ $0 > 0 }) else {
            throw TensorError("LayerNorm", "normalized shape must be non-empty and positive, got \(normalizedShape)")
        }
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        weight = elementwiseAffine ? try Tensor.ones(normalizedShape, dtype: dtype) : nil
        bias = elementwiseAffine ? try Tensor.zeros(normalizedShape, dtype: dtype) : nil
        super.init()
        if let weight { registerParameter("weight", weight) }
        if let bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try input.layerNorm(normalizedShape: normalizedShape, weight: weight, bias: bias, epsilon: epsilon)
    }
}
