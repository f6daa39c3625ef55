import XCTest
import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport

/// The CAM family against pytorch-grad-cam on fixed weights and inputs (`scripts/golden/make_explainer_golden.py`):
/// maps normalised to [0, 1] agree within 1e-4.
final class ExplainerGoldenTests: XCTestCase {
    let registry = Registry.standard()

    func model(_ fixture: Fixture) throws -> CNN {
        let model = try CNN(inputChannels: 1, imageSize: 16, channels: (4, 8), hidden: 16, classes: 5, dtype: .float64)
        var state: [String: Tensor] = [:]
        for (name, tensor) in fixture.tensors where name.hasPrefix("model.") { state[String(name.dropFirst(6))] = tensor }
        try model.loadStateDict(state)
        return model
    }

    func explainer(_ name: String, _ options: [String: ConfigValue] = ["layer": .string("relu2")]) throws -> Explainer {
        try XCTUnwrap(try registry.build(.explainer, name, options: options) as? Explainer)
    }

    func testCAMMethodsMatchPytorchGradCAM() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"], targets = try fixture["targets"]
        for name in ["grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "score_cam"] {
            let maps = try explainer(name).attribute(model: model, inputs: inputs, targets: targets)
            XCTAssertEqual(maps.shape, [6, 16, 16], name)
            assertClose(maps, try fixture["\(name).maps"], tolerance: 1e-4, name)
        }
        // No targets: the predicted classes; no layer: the last non-pooling 4-D module, which is relu2.
        let predicted = try explainer("grad_cam", [:]).attribute(model: model, inputs: inputs, targets: nil)
        assertClose(predicted, try fixture["grad_cam.predicted_maps"], tolerance: 1e-4, "grad_cam, predicted classes")
        // The methods differ from each other on these inputs (so the comparisons above can fail).
        XCTAssertGreaterThan(zip(try fixture["grad_cam.maps"].toDoubles(), try fixture["grad_cam_pp.maps"].toDoubles()).map { abs($0 - $1) }.max() ?? 0, 0.05)
    }

    /// Eigen-CAM's singular vector has an arbitrary sign in LAPACK; ours is fixed to agree with the summed
    /// activations. The projection matches pytorch-grad-cam's up to that sign, and the maps match wherever
    /// the signs agree.
    func testEigenCAMMatchesUpToTheSingularVectorSign() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        let maps = try explainer("eigen_cam").attribute(model: model, inputs: inputs, targets: nil).toDoubles()
        let expected = try fixture["eigen_cam.maps"].toDoubles(), projection = try fixture["eigen_cam.projection"].toDoubles()
        var captured: Tensor?
        let hook = try XCTUnwrap(model.module(named: "relu2")).addForwardHook { _, _, output in captured = output }
        _ = try noGrad { try model(inputs) }
        model.module(named: "relu2")?.removeForwardHook(hook)
        let activations = try XCTUnwrap(captured)
        let ours = ClassActivationMap.principalProjection(activations.toDoubles(), shape: activations.shape)
        var agreeing = 0
        for n in 0..<6 {
            let range = n * 64..<(n + 1) * 64
            let same = zip(ours[range], projection[range]).map { abs($0 - $1) }.max() ?? 1
            let flipped = zip(ours[range], projection[range]).map { abs($0 + $1) }.max() ?? 1
            XCTAssertLessThan(min(same, flipped), 1e-6, "sample \(n): projection equal up to sign")
            if same < 1e-6 {
                agreeing += 1
                let mapRange = n * 256..<(n + 1) * 256
                XCTAssertLessThan(zip(maps[mapRange], expected[mapRange]).map { abs($0 - $1) }.max() ?? 1, 1e-4, "sample \(n) map")
            }
        }
        XCTAssertGreaterThan(agreeing, 0, "at least one sample's sign agrees, so its map is compared")
    }

    func testBadLayersAndTargetsAreClearErrors() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        XCTAssertThrowsError(try explainer("grad_cam", ["layer": .string("relu9")]).attribute(model: model, inputs: inputs, targets: nil)) { error in
            XCTAssert("\(error)".contains("no module 'relu9'; did you mean 'relu1'?"), "\(error)")
        }
        XCTAssertThrowsError(try explainer("grad_cam").attribute(model: model, inputs: inputs, targets: try Tensor(shape: [6], integers: [0, 1, 2, 3, 4, 9]))) { error in
            XCTAssert("\(error)".contains("target class 9 is out of range for 5 classes"), "\(error)")
        }
        XCTAssertThrowsError(try explainer("grad_cam", ["layer": .string("fc1")]).attribute(model: model, inputs: inputs, targets: nil)) { error in
            XCTAssert("\(error)".contains("layer fc1 must output [N, C, h, w]"), "\(error)")
        }
    }
}
