import XCTest

@testable import LucernaCore
@testable import LucernaNN

/// First- and second-order finite-difference checks of every layer, with respect to its input and all
/// of its parameters (Float64).
final class LayerGradientCheckTests: XCTestCase {
    struct Case {
        let name: String
        let module: Module
        let inputShape: [Int]
    }

    func cases() throws -> [Case] {
        let generator = RandomGenerator(seed: 5)
        let attention = try MultiheadAttention(embedDimension: 4, heads: 2, dtype: .float64, generator: generator)
        attention.inputProjectionBias.fill(0.1)
        let selfAttention = try SelfAttention2d(8, dtype: .float64, generator: generator)
        selfAttention.gamma.fill(0.7)  // 0 at initialisation, which would leave the attention path untested
        // Spectral norm in evaluation mode: u and v held (training mode moves them at every call).
        let spectralLinear = try SpectralNorm(Linear(4, 3, dtype: .float64, generator: generator), generator: generator)
        let spectralTranspose = try SpectralNorm(
            ConvTranspose2d(
                2, 2, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), dtype: .float64, generator: generator),
            generator: generator)
        spectralLinear.eval()
        spectralTranspose.eval()
        return [
            Case(name: "SelfAttention2d", module: selfAttention, inputShape: [2, 8, 2, 3]),
            Case(name: "SpectralNorm(Linear)", module: spectralLinear, inputShape: [2, 4]),
            Case(name: "SpectralNorm(ConvTranspose2d)", module: spectralTranspose, inputShape: [1, 2, 3, 3]),
            Case(name: "Linear", module: try Linear(4, 3, dtype: .float64, generator: generator), inputShape: [2, 4]),
            Case(
                name: "Conv2d",
                module: try Conv2d(
                    2, 2, kernelSize: (3, 2), stride: (2, 1), padding: (1, 1),
                    dtype: .float64, generator: generator), inputShape: [2, 2, 5, 4]),
            Case(
                name: "ConvTranspose2d",
                module: try ConvTranspose2d(
                    2, 2, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1),
                    dtype: .float64, generator: generator), inputShape: [1, 2, 3, 3]),
            Case(
                name: "Conv1d",
                module: try Conv1d(2, 3, kernelSize: 3, stride: 2, padding: 1, dtype: .float64, generator: generator),
                inputShape: [2, 2, 7]),
            Case(
                name: "TransformerEncoderLayer",
                module: try TransformerEncoderLayer(
                    dimension: 4, heads: 2, feedForward: 6, dropout: 0,
                    dtype: .float64, generator: generator), inputShape: [2, 3, 4]),
            Case(
                name: "ConvEncoder",
                module: try ConvEncoder(
                    inputChannels: 1, inputSize: (6, 4), channels: [2, 3], dimension: 4, dtype: .float64,
                    generator: generator),
                inputShape: [2, 1, 6, 4]),
            Case(
                name: "TemporalConvEncoder",
                module: try TemporalConvEncoder(
                    mels: 3, channels: [2, 2], kernelSize: 3, dimension: 4, outputsTokens: true,
                    dtype: .float64, generator: generator), inputShape: [2, 1, 3, 6]),
            Case(
                name: "BasicBlock", module: try BasicBlock(2, 3, stride: 2, dtype: .float64, generator: generator),
                inputShape: [3, 2, 4, 4]),
            Case(name: "BatchNorm2d", module: try BatchNorm(2, rank: 4, dtype: .float64), inputShape: [3, 2, 2, 2]),
            Case(name: "BatchNorm1d", module: try BatchNorm(3, rank: 2, dtype: .float64), inputShape: [4, 3]),
            Case(name: "LayerNorm", module: try LayerNorm([2, 3], dtype: .float64), inputShape: [2, 2, 3]),
            Case(name: "MultiheadAttention", module: attention, inputShape: [2, 3, 4]),
            Case(
                name: "Sequential",
                module: Sequential([
                    try Linear(3, 4, dtype: .float64, generator: generator), GELU(),
                    try Linear(4, 2, dtype: .float64, generator: generator), Tanh(),
                ]),
                inputShape: [2, 3]),
            Case(
                name: "MLP",
                module: try MLP(inputFeatures: 6, hidden: (5, 4), classes: 3, dtype: .float64, generator: generator),
                inputShape: [2, 6]),
            Case(
                name: "CNN",
                module: try CNN(
                    imageSize: 8, channels: (2, 2), hidden: 3, classes: 2, dtype: .float64,
                    generator: generator), inputShape: [2, 1, 8, 8]),
        ]
    }

    func testLayersPassFirstAndSecondOrderChecks() throws {
        var failures: [String] = []
        let generator = RandomGenerator(seed: 9)
        for testCase in try cases() {
            let parameters = testCase.module.parameters()
            let input = try Tensor.normal(testCase.inputShape, dtype: .float64, generator: generator).requiringGrad()
            let reports = try GradientCheck.check(leaves: [input] + parameters) { try testCase.module(input) }
            for report in reports where !report.passed { failures.append("\(testCase.name): \(report)") }
        }
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
    }
}
