import LucernaCore

/// `y = x Wᵀ + b` with weight `[out, in]` (PyTorch layout and initialisation).
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let inputFeatures: Int, outputFeatures: Int

    public init(
        _ inputFeatures: Int, _ outputFeatures: Int, bias: Bool = true, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws {
        guard inputFeatures > 0, outputFeatures > 0 else {
            throw TensorError("Linear", "feature counts must be positive, got \(inputFeatures) -> \(outputFeatures)")
        }
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        weight = try Initializers.defaultWeight([outputFeatures, inputFeatures], dtype: dtype, generator: generator)
        self.bias =
            bias
            ? try Initializers.defaultBias(
                outputFeatures, fanIn: inputFeatures, dtype: dtype,
                generator: generator) : nil
        super.init()
        registerParameter("weight", weight)
        if let bias = self.bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.shape.last == inputFeatures else {
            throw TensorError(
                "Linear", "input \(describe(shape: input.shape)) does not end in \(inputFeatures) features")
        }
        return try apply(input, weight: weight, bias: bias)
    }

    public override var summary: String { "in=\(inputFeatures), out=\(outputFeatures), bias=\(bias != nil)" }
}
