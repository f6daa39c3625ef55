import Foundation
import LucernaCore

/// Parameter initialisers matching `torch.nn.init`, drawing from a seeded generator.
public enum Initializers {
    /// Fan-in and fan-out as PyTorch computes them: dimension 1 and 0 times the receptive field.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        guard shape.count >= 2 else { return (shape.first ?? 1, shape.first ?? 1) }
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// `kaiming_uniform_(a=√5)`, PyTorch's default for Linear and Conv weights: U(±1/√fan_in).
    public static func defaultWeight(_ shape: [Int], dtype: DType, generator: RandomGenerator) throws -> Tensor {
        try kaimingUniform(shape, negativeSlope: 5.0.squareRoot(), dtype: dtype, generator: generator)
    }

    /// `kaiming_uniform_` with leaky-ReLU gain for `negativeSlope`, fan-in mode.
    public static func kaimingUniform(
        _ shape: [Int], negativeSlope: Double = 0, dtype: DType,
        generator: RandomGenerator
    ) throws -> Tensor {
        let gain = (2 / (1 + negativeSlope * negativeSlope)).squareRoot()
        let bound = gain * (3 / Double(max(fans(shape).fanIn, 1))).squareRoot()
        return try Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, generator: generator)
    }

    /// `xavier_uniform_`: U(±gain·√(6/(fan_in+fan_out))).
    public static func xavierUniform(
        _ shape: [Int], gain: Double = 1, dtype: DType,
        generator: RandomGenerator
    ) throws -> Tensor {
        let (fanIn, fanOut) = fans(shape)
        let bound = gain * (6 / Double(max(fanIn + fanOut, 1))).squareRoot()
        return try Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, generator: generator)
    }

    /// `xavier_normal_`.
    public static func xavierNormal(
        _ shape: [Int], gain: Double = 1, dtype: DType,
        generator: RandomGenerator
    ) throws -> Tensor {
        let (fanIn, fanOut) = fans(shape)
        let deviation = gain * (2 / Double(max(fanIn + fanOut, 1))).squareRoot()
        return try Tensor.normal(shape, standardDeviation: deviation, dtype: dtype, generator: generator)
    }

    /// PyTorch's default bias: U(±1/√fan_in) with the weight's fan-in.
    public static func defaultBias(_ count: Int, fanIn: Int, dtype: DType, generator: RandomGenerator) throws -> Tensor
    {
        let bound = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
        return try Tensor.uniform([count], low: -bound, high: bound, dtype: dtype, generator: generator)
    }
}
