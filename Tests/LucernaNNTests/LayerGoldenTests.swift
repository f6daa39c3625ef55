import LucernaTestSupport
import XCTest

@testable import LucernaCore
@testable import LucernaNN

/// Layers against PyTorch: forward outputs, input gradients and parameter gradients for a fixed
/// upstream gradient, in Float64 (fixtures from scripts/golden/make_golden.py).
final class LayerGoldenTests: XCTestCase {
    var fixture: Fixture!

    override func setUpWithError() throws { fixture = try Fixture("layers.safetensors") }

    /// Loads the case's parameters into `module`, runs it, backpropagates the upstream gradient and
    /// compares everything the fixture holds.
    /// With `loadBuffers: false` the module keeps its initial buffers (the fixture holds them after the step).
    func check(
        _ name: String, _ module: Module? = nil, inputCount: Int = 1, loadBuffers: Bool = true,
        forward: (([Tensor]) throws -> Tensor)? = nil
    ) throws {
        if let module {
            let buffers = Set(module.namedBuffers().map(\.name))
            var state: [String: Tensor] = [:]
            for (key, tensor) in fixture.tensors where key.hasPrefix("\(name).param.") {
                let parameterName = String(key.dropFirst("\(name).param.".count))
                if loadBuffers || !buffers.contains(parameterName) { state[parameterName] = tensor }
            }
            try module.loadStateDict(state, strict: loadBuffers)
        }
        let inputs = try (0..<inputCount).map { index -> Tensor in
            let input = try fixture["\(name).input\(index)"]
            return input.dtype == .int64 ? input : try input.copy().requiringGrad()
        }
        let output = try forward?(inputs) ?? module!(inputs[0])
        assertClose(output, try fixture["\(name).output"], "\(name) output")
        try (output * fixture["\(name).upstream"]).sum().backward()
        for (index, input) in inputs.enumerated() where fixture.has("\(name).input\(index).grad") {
            assertClose(input.grad, try fixture["\(name).input\(index).grad"], "\(name) input \(index) gradient")
        }
        for (parameterName, parameter) in module?.namedParameters() ?? [] {
            assertClose(
                parameter.grad, try fixture["\(name).grad.\(parameterName)"], "\(name) \(parameterName) gradient")
        }
    }

    func testLinear() throws { try check("linear", try Linear(5, 3, dtype: .float64)) }

    func testConvolutions() throws {
        try check("conv2d", try Conv2d(2, 3, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), dtype: .float64))
        try check(
            "conv2d_dilated", try Conv2d(3, 2, kernelSize: (2, 3), padding: (1, 0), dilation: (2, 1), dtype: .float64))
        try check(
            "conv_transpose2d",
            try ConvTranspose2d(3, 2, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: .float64))
        try check(
            "conv_transpose2d_output_padding",
            try ConvTranspose2d(
                2, 2, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), outputPadding: (1, 1), dtype: .float64))
    }

    func testPoolingAndResampling() throws {
        try check("max_pool2d", MaxPool2d(2))
        try check("max_pool2d_padded", MaxPool2d(3, stride: 2, padding: 1))
        try check(
            "avg_pool2d", Pool2d(.average(kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: true)))
        try check(
            "avg_pool2d_exclude_pad",
            Pool2d(.average(kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false)))
        try check("adaptive_avg_pool2d", Pool2d(.adaptiveAverage(outputSize: (3, 4))))
        try check("upsample_nearest", try Upsample(size: (5, 7)))
        try check("upsample_bilinear", try Upsample(size: (5, 7), mode: .bilinear))
    }

    func testNormalization() throws {
        let batchNorm = try BatchNorm(3, rank: 4, dtype: .float64)
        try check("batch_norm2d_train", batchNorm, loadBuffers: false)
        // Running statistics after one training step match PyTorch's (unbiased variance, momentum 0.1).
        assertClose(batchNorm.runningMean, try fixture["batch_norm2d_train.param.running_mean"], "running mean")
        assertClose(batchNorm.runningVariance, try fixture["batch_norm2d_train.param.running_var"], "running variance")
        try check("batch_norm1d_eval", try BatchNorm(4, rank: 2, dtype: .float64).eval())
        try check("layer_norm", try LayerNorm([4], dtype: .float64))
    }

    func testActivationsAndEmbedding() throws {
        try check("gelu", GELU())
        try check("gelu_tanh", GELU(approximate: true))
        try check("leaky_relu", LeakyReLU(0.2))
        try check("softplus", Activation(.softplus))
        try check("silu", SiLU())
        try check("embedding", try Embedding(6, 3, dtype: .float64))
    }

    func testMultiheadAttention() throws {
        let attention = try MultiheadAttention(embedDimension: 8, heads: 2, dtype: .float64)
        try check("multihead_attention", attention, inputCount: 3) { inputs in
            try attention.attend(query: inputs[0], key: inputs[1], value: inputs[2])
        }
    }

    func testCNNStateDictLoadsFromPyTorchAndGivesTheSameLogits() throws {
        let fixture = try Fixture("cnn_state.safetensors")
        let model = try CNN(channels: (4, 8), hidden: 16)
        var state: [String: Tensor] = [:]
        for (key, tensor) in fixture.tensors where key.hasPrefix("model.") { state[String(key.dropFirst(6))] = tensor }
        XCTAssertEqual(Set(state.keys), Set(model.stateDict().map(\.name)))
        try model.loadStateDict(state)
        let logits = try noGrad { try model(fixture["input"]) }
        assertClose(logits, try fixture["logits"], tolerance: 1e-5, "CNN logits")
        XCTAssertNotNil(model.module(named: "relu2"))
    }
}
