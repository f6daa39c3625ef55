import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// Spectral normalisation and SAGAN's self-attention against PyTorch (`scripts/golden/make_gan_golden.py`).
final class GANLayerGoldenTests: XCTestCase {
    func spectralLayer(_ tag: String, _ fixture: Fixture) throws -> SpectralNorm {
        let layer: any AffineLayer
        switch tag {
        case "linear": layer = try Linear(5, 4, dtype: .float64)
        case "conv": layer = try Conv2d(2, 3, kernelSize: (3, 3), padding: (1, 1), dtype: .float64)
        default:
            layer = try ConvTranspose2d(
                3, 2, kernelSize: (4, 4), stride: (2, 2), padding: (1, 1), dtype: .float64)
        }
        let normalized = try SpectralNorm(layer)
        try normalized.loadStateDict([
            "weight_orig": try fixture["sn_\(tag).weight"], "bias": try fixture["sn_\(tag).bias"],
            "weight_u": try fixture["sn_\(tag).u0"], "weight_v": try fixture["sn_\(tag).v0"],
        ])
        return normalized
    }

    func testSpectralNormMatchesPyTorchsPowerIterationOutputsAndGradients() throws {
        let fixture = try Fixture("gan_layers.safetensors")
        for tag in ["linear", "conv", "transpose"] {
            let layer = try spectralLayer(tag, fixture)
            let input = try fixture["sn_\(tag).input"]
            var output = input
            for step in 0..<3 {
                output = try layer(input)
                assertClose(output, try fixture["sn_\(tag).output\(step)"], tolerance: 1e-10, "\(tag) step \(step)")
            }
            try (output * output).sum().backward()
            assertClose(layer.weightOriginal.grad, try fixture["sn_\(tag).grad_weight"], tolerance: 1e-9, "\(tag) ∂W")
            assertClose(layer.layer.bias?.grad, try fixture["sn_\(tag).grad_bias"], tolerance: 1e-9, "\(tag) ∂b")
            assertClose(layer.u, try fixture["sn_\(tag).u"], tolerance: 1e-10, "\(tag) u")
            assertClose(layer.v, try fixture["sn_\(tag).v"], tolerance: 1e-10, "\(tag) v")
            // Evaluation: no iteration, so u and v stay and the output is PyTorch's eval output.
            layer.eval()
            assertClose(try layer(input), try fixture["sn_\(tag).eval_output"], tolerance: 1e-10, "\(tag) eval")
            assertClose(layer.u, try fixture["sn_\(tag).u"], tolerance: 1e-12, "\(tag) u unchanged in eval")
            // The state dict carries PyTorch's names, buffers included.
            XCTAssertEqual(
                Set(layer.stateDict().map(\.name)), ["bias", "weight_orig", "weight_u", "weight_v"],
                "\(tag) state names")
        }
    }

    func testSelfAttentionMatchesSAGANsReferenceBlock() throws {
        let fixture = try Fixture("gan_layers.safetensors")
        let block = try SelfAttention2d(16, dtype: .float64)
        try block.loadStateDict(fixture.state(prefix: "attention.state."))
        let input = try fixture["attention.input"].requiringGrad()
        let output = try block(input)
        assertClose(output, try fixture["attention.output"], tolerance: 1e-10, "output")
        assertClose(block.attention, try fixture["attention.weights"], tolerance: 1e-10, "attention weights")
        try (output * output).sum().backward()
        assertClose(input.grad, try fixture["attention.grad_input"], tolerance: 1e-9, "∂input")
        for (name, parameter) in block.namedParameters() {
            assertClose(parameter.grad, try fixture["attention.grad.\(name)"], tolerance: 1e-9, "∂\(name)")
        }
        // At initialisation γ = 0: the block is the identity.
        let fresh = try SelfAttention2d(16, dtype: .float64)
        assertClose(try fresh(input.detach()), input.detach(), tolerance: 0, "identity at γ = 0")
        XCTAssertThrowsError(try fresh(try Tensor.zeros([1, 8, 2, 2], dtype: .float64))) { error in
            XCTAssertTrue("\(error)".contains("[N, 16, H, W]"), "\(error)")
        }
    }
}
