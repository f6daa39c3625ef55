import LucernaCore

/// 2-D convolution with weight `[out, in, kh, kw]` (PyTorch layout and initialisation).
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)

    public init(
        _ inputChannels: Int, _ outputChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), bias: Bool = true,
        dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        (weight, self.bias) = try convolutionParameters(
            "Conv2d", [outputChannels, inputChannels, kernelSize.0, kernelSize.1],
            biasCount: bias ? outputChannels : nil,
            dtype: dtype, generator: generator)
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        super.init()
        registerParameter("weight", weight)
        if let bias = self.bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try apply(input, weight: weight, bias: bias)
    }

    public override var summary: String {
        "\(weight.shape[1]) -> \(weight.shape[0]), kernel=\(weight.shape[2])x\(weight.shape[3]), stride=\(stride), padding=\(padding)"
    }
}

/// 2-D transposed convolution with weight `[in, out, kh, kw]` (PyTorch layout and initialisation).
public final class ConvTranspose2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int), padding: (Int, Int), outputPadding: (Int, Int), dilation: (Int, Int)

    public init(
        _ inputChannels: Int, _ outputChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
        bias: Bool = true, dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        (weight, self.bias) = try convolutionParameters(
            "ConvTranspose2d", [inputChannels, outputChannels, kernelSize.0, kernelSize.1],
            biasCount: bias ? outputChannels : nil, dtype: dtype, generator: generator)
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.dilation = dilation
        super.init()
        registerParameter("weight", weight)
        if let bias = self.bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try apply(input, weight: weight, bias: bias)
    }

    public override var summary: String {
        "\(weight.shape[0]) -> \(weight.shape[1]), kernel=\(weight.shape[2])x\(weight.shape[3]), stride=\(stride), padding=\(padding)"
    }
}

/// A convolution weight of `shape` (all positive) and optional bias, with PyTorch's default initialisation
/// (the bias bound uses the weight's fan-in, which for a transposed convolution is `out·kh·kw`, as in PyTorch).
func convolutionParameters(
    _ layer: String, _ shape: [Int], biasCount: Int?, dtype: DType,
    generator: RandomGenerator
) throws -> (Tensor, Tensor?) {
    guard shape.allSatisfy({ $0 > 0 }) else {
        throw TensorError(
            layer, "channels and kernel size must be positive, got weight shape \(describe(shape: shape))")
    }
    let weight = try Initializers.defaultWeight(shape, dtype: dtype, generator: generator)
    let bias = try biasCount.map {
        try Initializers.defaultBias($0, fanIn: Initializers.fans(shape).fanIn, dtype: dtype, generator: generator)
    }
    return (weight, bias)
}

/// 1-D convolution over `[N, C, L]` with weight `[out, in, k]` (PyTorch layout and initialisation),
/// computed as a 2-D convolution over a height of 1.
public final class Conv1d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int, dilation: Int

    public init(
        _ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1,
        bias: Bool = true, dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        (weight, self.bias) = try convolutionParameters(
            "Conv1d", [outputChannels, inputChannels, kernelSize], biasCount: bias ? outputChannels : nil, dtype: dtype,
            generator: generator)
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        super.init()
        registerParameter("weight", weight)
        if let bias = self.bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor { try apply(input, weight: weight, bias: bias) }

    public override var summary: String {
        "\(weight.shape[1]) -> \(weight.shape[0]), kernel=\(weight.shape[2]), stride=\(stride), padding=\(padding)"
    }
}

extension Conv1d: AffineLayer {
    public var outputAxisOfWeight: Int { 0 }

    public func apply(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        guard input.rank == 3, input.shape[1] == weight.shape[1] else {
            throw TensorError("Conv1d", "expected [N, \(weight.shape[1]), L], got \(describe(shape: input.shape))")
        }
        let planar = try input.unsqueezed(axis: 2)
        let kernel = try weight.reshaped([weight.shape[0], weight.shape[1], 1, weight.shape[2]])
        let output = try planar.conv2d(
            weight: kernel, bias: bias, stride: (1, stride), padding: (0, padding), dilation: (1, dilation))
        return try output.squeezed(axis: 2)
    }
}
