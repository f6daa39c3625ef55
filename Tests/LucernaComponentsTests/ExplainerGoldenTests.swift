import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// The CAM family against pytorch-grad-cam on fixed weights and inputs (`scripts/golden/make_explainer_golden.py`):
/// maps normalised to [0, 1] agree within 1e-4.
final class ExplainerGoldenTests: XCTestCase {
    let registry = Registry.standard()

    func model(_ fixture: Fixture) throws -> CNN {
        let model = try CNN(inputChannels: 1, imageSize: 16, channels: (4, 8), hidden: 16, classes: 5, dtype: .float64)
        try model.loadStateDict(fixture.state())
        return model
    }

    func explainer(_ name: String, _ options: [String: ConfigValue] = ["layer": .string("relu2")]) throws -> Explainer {
        try registry.build(.explainer, name, options: options)
    }

    func testCAMMethodsMatchPytorchGradCAM() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        let targets = try fixture["targets"]
        for name in ["grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "score_cam"] {
            let maps = try explainer(name).attribute(model: model, inputs: inputs, targets: targets)
            XCTAssertEqual(maps.shape, [6, 16, 16], name)
            assertClose(maps, try fixture["\(name).maps"], tolerance: 1e-4, name)
        }
        // No targets: the predicted classes; no layer: the last non-pooling 4-D module, which is relu2.
        let predicted = try explainer("grad_cam", [:]).attribute(model: model, inputs: inputs, targets: nil)
        assertClose(predicted, try fixture["grad_cam.predicted_maps"], tolerance: 1e-4, "grad_cam, predicted classes")
        // The methods differ from each other on these inputs (so the comparisons above can fail).
        XCTAssertGreaterThan(
            zip(try fixture["grad_cam.maps"].toDoubles(), try fixture["grad_cam_pp.maps"].toDoubles()).map {
                abs($0 - $1)
            }.max() ?? 0, 0.05)
    }

    /// Eigen-CAM's singular vector has an arbitrary sign in LAPACK; ours is fixed to agree with the summed
    /// activations. The projection matches pytorch-grad-cam's up to that sign, and the maps match wherever
    /// the signs agree.
    func testEigenCAMMatchesUpToTheSingularVectorSign() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        let maps = try explainer("eigen_cam").attribute(model: model, inputs: inputs, targets: nil).toDoubles()
        let expected = try fixture["eigen_cam.maps"].toDoubles()
        let projection = try fixture["eigen_cam.projection"].toDoubles()
        var captured: Tensor?
        let hook = try XCTUnwrap(model.module(named: "relu2")).addForwardHook { _, _, output in captured = output }
        _ = try noGrad { try model(inputs) }
        model.module(named: "relu2")?.removeForwardHook(hook)
        let activations = try XCTUnwrap(captured)
        let ours = EigenCAM.principalProjection(activations.toDoubles(), shape: activations.shape)
        var agreeing = 0
        for n in 0..<6 {
            let range = n * 64..<(n + 1) * 64
            let same = zip(ours[range], projection[range]).map { abs($0 - $1) }.max() ?? 1
            let flipped = zip(ours[range], projection[range]).map { abs($0 + $1) }.max() ?? 1
            XCTAssertLessThan(min(same, flipped), 1e-6, "sample \(n): projection equal up to sign")
            if same < 1e-6 {
                agreeing += 1
                let mapRange = n * 256..<(n + 1) * 256
                XCTAssertLessThan(
                    zip(maps[mapRange], expected[mapRange]).map { abs($0 - $1) }.max() ?? 1, 1e-4, "sample \(n) map")
            }
        }
        XCTAssertGreaterThan(agreeing, 0, "at least one sample's sign agrees, so its map is compared")
    }

    /// Exact Grad-CAM++: on a ReLU head the higher derivatives vanish and it equals the closed form; after a
    /// tanh head S = Σ w tanh(A) + b they are h = w·tanh″(A), t = w·tanh‴(A), and the map follows the
    /// paper's full expression.
    func testExactGradCAMPlusPlusUsesHigherOrderDerivatives() throws {
        let fixture = try Fixture("explainers.safetensors")
        let cnn = try model(fixture)
        let inputs = try fixture["inputs"]
        let targets = try fixture["targets"]
        let (firstInputs, firstTargets) = (
            try inputs.sliced(axis: 0, start: 0, end: 2), try targets.sliced(axis: 0, start: 0, end: 2)
        )
        let exactOnReLU = try explainer("grad_cam_pp", ["layer": .string("relu2"), "exact": .boolean(true)])
            .attribute(model: cnn, inputs: firstInputs, targets: firstTargets)
        let closedOnReLU = try explainer("grad_cam_pp").attribute(
            model: cnn, inputs: firstInputs, targets: firstTargets)
        assertClose(exactOnReLU, closedOnReLU, tolerance: 1e-12, "exact = closed form on ReLU")
        assertClose(
            exactOnReLU, try fixture["grad_cam_pp.maps"].sliced(axis: 0, start: 0, end: 2), tolerance: 1e-4,
            "exact vs pytorch-grad-cam on ReLU")

        let generator = RandomGenerator(seed: 9)
        let conv = try Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), dtype: .float64, generator: generator)
        let linear = try Linear(32, 3, dtype: .float64, generator: generator)
        let smooth = Sequential(named: [("conv", conv), ("tanh", Tanh()), ("flatten", Flatten()), ("fc", linear)])
        let images = try Tensor.normal([2, 1, 4, 4], generator: generator).to(.float64)
        let classes = try Tensor(shape: [2], integers: [2, 0])
        let options: [String: ConfigValue] = ["layer": .string("conv"), "normalize": .boolean(false)]
        var exactOptions = options
        exactOptions["exact"] = .boolean(true)
        let exact = try explainer("grad_cam_pp", exactOptions).attribute(
            model: smooth, inputs: images, targets: classes
        ).toDoubles()
        let closed = try explainer("grad_cam_pp", options).attribute(model: smooth, inputs: images, targets: classes)
            .toDoubles()
        // The expected map from the analytic derivatives.
        let a = try conv(images).toDoubles()
        let w = linear.weight.toDoubles()
        var expected = [Double](repeating: 0, count: 32)
        for (n, target) in [2, 0].enumerated() {
            for c in 0..<2 {
                let base = (n * 2 + c) * 16
                let activationSum = (0..<16).reduce(0) { $0 + a[base + $1] }
                var weight = 0.0
                for p in 0..<16 {
                    let y = tanh(a[base + p])
                    let coefficient = w[target * 32 + c * 16 + p]
                    let g = coefficient * (1 - y * y)
                    let h = coefficient * -2 * y * (1 - y * y)
                    let t = coefficient * (1 - y * y) * (6 * y * y - 2)
                    let numerator = g * g + h
                    weight +=
                        max(g, 0) * numerator / (2 * numerator + activationSum * (g * g * g + 3 * g * h + t) + 1e-6)
                }
                for p in 0..<16 { expected[n * 16 + p] += weight * a[base + p] }
            }
        }
        expected = expected.map { max($0, 0) }
        XCTAssertEqual(exact.count, expected.count)
        for (index, (value, reference)) in zip(exact, expected).enumerated() {
            XCTAssertEqual(value, reference, accuracy: 1e-9, "position \(index)")
        }
        XCTAssertGreaterThan(
            zip(exact, closed).map { abs($0 - $1) }.max() ?? 0, 1e-3, "the exact form differs from the closed form here"
        )
        XCTAssertThrowsError(try registry.build(.explainer, "grad_cam", options: ["exact": .boolean(true)]))
    }

    func testBadLayersAndTargetsAreClearErrors() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        XCTAssertThrowsError(
            try explainer("grad_cam", ["layer": .string("relu9")]).attribute(model: model, inputs: inputs, targets: nil)
        ) { error in
            XCTAssert("\(error)".contains("no module 'relu9'; did you mean 'relu1'?"), "\(error)")
        }
        XCTAssertThrowsError(
            try explainer("grad_cam").attribute(
                model: model, inputs: inputs, targets: try Tensor(shape: [6], integers: [0, 1, 2, 3, 4, 9]))
        ) { error in
            XCTAssert("\(error)".contains("target class 9 is out of range for 5 classes"), "\(error)")
        }
        XCTAssertThrowsError(
            try explainer("grad_cam", ["layer": .string("fc1")]).attribute(model: model, inputs: inputs, targets: nil)
        ) { error in
            XCTAssert("\(error)".contains("layer fc1 must output [N, C, h, w]"), "\(error)")
        }
    }

    func testSaliencyIntegratedGradientsAndOcclusionMatchCaptum() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        let targets = try fixture["targets"]
        assertClose(
            try explainer("saliency", [:]).attribute(model: model, inputs: inputs, targets: targets),
            try fixture["saliency.maps"], tolerance: 1e-9, "saliency")
        assertClose(
            try explainer("integrated_gradients", [:]).attribute(model: model, inputs: inputs, targets: targets),
            try fixture["integrated_gradients.gausslegendre50"], tolerance: 1e-9,
            "integrated gradients, Gauss-Legendre, 50 steps")
        let trapezoid = try explainer(
            "integrated_gradients",
            [
                "method": .string("riemann_trapezoid"), "steps": .number(20),
                "baseline": .number(0.25), "batch_steps": .number(7),
            ])
        assertClose(
            try trapezoid.attribute(model: model, inputs: inputs, targets: targets),
            try fixture["integrated_gradients.trapezoid20"], tolerance: 1e-6,
            "integrated gradients, trapezoid, baseline 0.25, uneven batches")
        let occlusion = try explainer(
            "occlusion",
            [
                "window": .list([.number(1), .number(4), .number(4)]),
                "strides": .list([.number(1), .number(2), .number(2)]), "batch_size": .number(10),
            ])
        assertClose(
            try occlusion.attribute(model: model, inputs: inputs, targets: targets),
            try fixture["occlusion.maps"], tolerance: 1e-6, "occlusion")
    }

    /// Integrated Gradients' completeness: attributions sum to F(x) − F(baseline) (to the quadrature error).
    func testIntegratedGradientsCompletenessAndQuadrature() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        let targets = try fixture["targets"]
        let attributions = try explainer(
            "integrated_gradients",
            ["steps": .number(400), "method": .string("riemann_middle"), "batch_steps": .number(100)]
        )
        .attribute(model: model, inputs: inputs, targets: targets)
        let scores = try noGrad { try model(inputs) }.toDoubles()
        let zero = try noGrad { try model(inputs.zerosLike()) }.toDoubles()
        let values = attributions.toDoubles()
        let size = 256
        for (n, target) in targets.toIntegers().enumerated() {
            let sum = values[n * size..<(n + 1) * size].reduce(0, +)
            let expected = scores[n * 5 + target] - zero[n * 5 + target]
            XCTAssertEqual(
                sum, expected, accuracy: 2e-3 * max(abs(scores[n * 5 + target]), abs(zero[n * 5 + target]), 1),
                "sample \(n)")
        }
        // Gauss-Legendre nodes and weights for n = 3: ±√(3/5) and 0 with weights 5/9, 8/9, 5/9.
        let nodes = IntegratedGradients.legendreNodes(3)
        XCTAssertEqual(nodes[0].node, -(0.6).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(nodes[1].node, 0, accuracy: 1e-15)
        XCTAssertEqual(nodes[2].weight, 5.0 / 9, accuracy: 1e-15)
        XCTAssertEqual(nodes[1].weight, 8.0 / 9, accuracy: 1e-15)
    }

    /// SmoothGrad without noise is saliency; with noise it is seeded by the run's generator and differs.
    func testSmoothGradReducesToSaliencyWithoutNoise() throws {
        let fixture = try Fixture("explainers.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        let targets = try fixture["targets"]
        let quiet = try explainer("smoothgrad", ["noise": .number(0), "samples": .number(3)]).attribute(
            model: model, inputs: inputs, targets: targets)
        assertClose(quiet, try fixture["saliency.maps"], tolerance: 1e-12, "smoothgrad with noise 0")
        let noisy = try explainer("smoothgrad", ["samples": .number(8)])
        RandomGenerator.shared.reseed(4)
        let first = try noisy.attribute(model: model, inputs: inputs, targets: targets).toDoubles()
        RandomGenerator.shared.reseed(4)
        XCTAssertEqual(
            try noisy.attribute(model: model, inputs: inputs, targets: targets).toDoubles(), first,
            "same seed, same map")
        XCTAssertGreaterThan(zip(first, quiet.toDoubles()).map { abs($0 - $1) }.max() ?? 0, 1e-3)
    }
}
