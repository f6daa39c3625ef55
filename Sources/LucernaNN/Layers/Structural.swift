import LucernaCore

/// Runs child modules in order; children are named `0`, `1`, ... or by the given names.
public final class Sequential: Module {
    public init(_ modules: [Module]) {
        super.init()
        for (index, module) in modules.enumerated() { registerModule(String(index), module) }
    }

    public init(named modules: [(String, Module)]) {
        super.init()
        for (name, module) in modules { registerModule(name, module) }
    }

    /// Runs the children in order (a ReLU and the 2-D max pooling after it as pooling then ReLU, see
    /// `runChildren`).
    public override func forward(_ input: Tensor) throws -> Tensor { try runChildren(input) }
}

/// Flattens dimensions `startAxis...endAxis` (default: all but the batch dimension).
public final class Flatten: Module {
    public let startAxis: Int, endAxis: Int
    public init(startAxis: Int = 1, endAxis: Int = -1) {
        self.startAxis = startAxis
        self.endAxis = endAxis
    }
    public override func forward(_ input: Tensor) throws -> Tensor {
        try input.flattened(from: startAxis, to: endAxis)
    }
}

/// Reshapes dimension `axis` into `shape` (PyTorch's `Unflatten`).
public final class Unflatten: Module {
    public let axis: Int, shape: [Int]
    public init(axis: Int, shape: [Int]) {
        self.axis = axis
        self.shape = shape
    }
    public override func forward(_ input: Tensor) throws -> Tensor {
        let resolved = axis < 0 ? axis + input.rank : axis
        guard resolved >= 0, resolved < input.rank else {
            throw TensorError("Unflatten", "axis \(axis) out of range for \(describe(shape: input.shape))")
        }
        return try input.reshaped(Array(input.shape[..<resolved]) + shape + Array(input.shape[(resolved + 1)...]))
    }
}

/// Inverted dropout, active in training mode only.
public final class Dropout: Module {
    public let probability: Double
    let generator: RandomGenerator
    public init(_ probability: Double = 0.5, generator: RandomGenerator = .shared) throws {
        guard probability >= 0, probability < 1 else {
            throw TensorError("Dropout", "probability \(probability) must be in [0, 1)")
        }
        self.probability = probability
        self.generator = generator
    }
    public override func forward(_ input: Tensor) throws -> Tensor {
        try input.dropout(probability: probability, training: isTraining, generator: generator)
    }
}

/// A lookup table `[vocabulary, dimension]` initialised N(0, 1), as in PyTorch.
public final class Embedding: Module {
    public let weight: Tensor
    public init(_ vocabulary: Int, _ dimension: Int, dtype: DType = .float32, generator: RandomGenerator = .shared)
        throws
    {
        guard vocabulary > 0, dimension > 0 else {
            throw TensorError("Embedding", "vocabulary and dimension must be positive, got \(vocabulary), \(dimension)")
        }
        weight = try Tensor.normal([vocabulary, dimension], dtype: dtype, generator: generator)
        super.init()
        registerParameter("weight", weight)
    }
    public override func forward(_ input: Tensor) throws -> Tensor { try weight.embedding(input) }
}

/// Resizes `[N, C, H, W]` to a fixed size or by a scale factor.
public final class Upsample: Module {
    public let size: (Int, Int)?, scale: Double?, mode: UpsampleMode
    public init(size: (Int, Int)? = nil, scale: Double? = nil, mode: UpsampleMode = .nearest) throws {
        guard (size == nil) != (scale == nil) else {
            throw TensorError("Upsample", "give exactly one of size and scale")
        }
        if let scale, !(scale > 0 && scale <= 1024) {
            throw TensorError("Upsample", "scale \(scale) must be in (0, 1024]")
        }
        self.size = size
        self.scale = scale
        self.mode = mode
    }
    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4 else {
            throw TensorError("Upsample", "input must be [N, C, H, W], got \(describe(shape: input.shape))")
        }
        var target = size ?? (input.shape[2], input.shape[3])
        if let scale {
            target = (
                Int((Double(input.shape[2]) * scale).rounded(.down)),
                Int((Double(input.shape[3]) * scale).rounded(.down))
            )
        }
        return try input.upsample(size: target, mode: mode)
    }
}
