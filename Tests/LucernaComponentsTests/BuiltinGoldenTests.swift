import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// Built-in components against golden values from scikit-learn and PyTorch
/// (`scripts/golden/make_components_golden.py`).
final class BuiltinGoldenTests: XCTestCase {
    let registry = Registry.standard()

    func testAccuracyMatchesScikitLearn() throws {
        let fixture = try Fixture("components.safetensors")
        let top1 = try registry.build(.metric, "accuracy", options: [:])
        // Two batches: the metric accumulates like torchmetrics.
        let scores = try fixture["metric.scores"]
        let targets = try fixture["metric.targets"]
        try top1.update(
            predictions: scores.sliced(axis: 0, end: 25), targets: targets.sliced(axis: 0, end: 25), groups: nil)
        try top1.update(
            predictions: scores.sliced(axis: 0, start: 25, end: 40),
            targets: targets.sliced(axis: 0, start: 25, end: 40), groups: nil)
        XCTAssertEqual(try top1.compute(), try fixture["metric.accuracy_top1"].item(), accuracy: 1e-12)
        let top3 = try registry.build(.metric, "accuracy", options: ["top_k": .number(3)])
        try top3.update(predictions: fixture["metric.untied_scores"], targets: targets, groups: nil)
        XCTAssertEqual(try top3.compute(), try fixture["metric.accuracy_top3"].item(), accuracy: 1e-12)
        top3.reset()
        XCTAssertThrowsError(try top3.compute())
    }

    func testL2PenaltyAndGradientMatchPyTorch() throws {
        let fixture = try Fixture("components.safetensors")
        for (name, includeBias) in [("l2", false), ("l2_bias", true)] {
            let weight = try fixture["reg.weight"].copy().requiringGrad()
            let bias = try fixture["reg.bias"].copy().requiringGrad()
            let regularizer = try registry.build(
                .regularizer, "l2", options: ["weight": .number(0.01), "include_bias": .boolean(includeBias)])
            let penalty = try regularizer.penalty(RegularizerContext(parameters: [("weight", weight), ("bias", bias)]))
            assertClose(try penalty.reshaped([1]), try fixture["reg.\(name)"], tolerance: 1e-12, name)
            try penalty.backward()
            assertClose(
                weight.grad, try fixture["reg.\(name).weight_grad"], tolerance: 1e-12, "\(name) weight gradient")
            if includeBias {
                assertClose(bias.grad, try fixture["reg.\(name).bias_grad"], tolerance: 1e-12, "\(name) bias gradient")
            } else {
                XCTAssertNil(bias.grad, "biases are not penalized by default")
            }
        }
    }

    func testConcatAndSumFusionsMatchPyTorch() throws {
        let fixture = try Fixture("components.safetensors")
        let inputs = [try fixture["fusion.x1"].to(.float32), try fixture["fusion.x2"].to(.float32)]
        for (name, options) in [
            ("concat", ["input_dims": ConfigValue.list([.number(3), .number(5)]), "dim": .number(6)]),
            ("sum", ["input_dims": .list([.number(3), .number(5)]), "dim": .number(6)]),
        ] {
            let fusion = try registry.build(.fusion, name, options: options)
            var state: [String: Tensor] = [:]
            for (key, tensor) in fixture.tensors where key.hasPrefix("fusion.\(name).") {
                state[String(key.dropFirst("fusion.\(name).".count))] = tensor
            }
            try fusion.loadStateDict(state)
            assertClose(try fusion.fuse(inputs), try fixture["fusion.\(name)"], tolerance: 1e-5, name)
        }
        let concatenation = try registry.build(
            .fusion, "concat", options: ["input_dims": .list([.number(3), .number(5)])])
        XCTAssertEqual(try concatenation.fuse(inputs).shape, [4, 8], "no dim keeps the concatenation")
        XCTAssertThrowsError(try concatenation.fuse([inputs[1], inputs[0]])) { error in
            XCTAssert("\(error)".contains("input 1 must be [N, 3]"), "\(error)")
        }
    }
}
