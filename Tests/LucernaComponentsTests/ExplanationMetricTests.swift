import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// The explanation-quality metrics on small maps and masks whose values are worked out by hand.
final class ExplanationMetricTests: XCTestCase {
    let registry = Registry.standard()

    func metric(_ name: String, _ options: [String: ConfigValue] = [:]) throws -> Metric {
        try registry.build(.metric, name, options: options)
    }

    /// Two 3x3 maps and masks:
    ///   map A = [9 8 1 / 7 0 0 / 0 0 2], mask A = top-left 2x2 (pixels 0, 1, 3, 4);
    ///   map B = [1 1 1 / 1 5 1 / 1 1 1], mask B = the corner pixel 8 only.
    let maps = try! Tensor(shape: [2, 3, 3], doubles: [9, 8, 1, 7, 0, 0, 0, 0, 2, 1, 1, 1, 1, 5, 1, 1, 1, 1])
    let masks = try! Tensor(shape: [2, 1, 3, 3], doubles: [1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])

    func value(_ name: String, _ options: [String: ConfigValue] = [:]) throws -> Double {
        let metric = try metric(name, options)
        try metric.update(predictions: maps, targets: masks, groups: nil)
        return try metric.compute()
    }

    func testPointingGameRelevanceMassAndRank() throws {
        // A: maximum 9 at pixel 0, inside; B: maximum 5 at pixel 4, outside → 1/2.
        XCTAssertEqual(try value("pointing_game"), 0.5)
        // A: (9 + 8 + 7 + 0) / 27 = 24/27; B: 1/13 → mean (24/27 + 1/13) / 2.
        XCTAssertEqual(try value("relevance_mass"), (24.0 / 27 + 1.0 / 13) / 2, accuracy: 1e-15)
        // A: the top 4 pixels are 9, 8, 7, 2 → 3 inside; B: the top 1 pixel is 5 (pixel 4) → 0 → (3/4 + 0) / 2.
        XCTAssertEqual(try value("relevance_rank"), 0.375, accuracy: 1e-15)
    }

    func testIoUXAIRulesAndReport() throws {
        // top_k 1/3 of 9 pixels = 3: A keeps 9, 8, 7 → IoU 3/4; B keeps 5 and (ties at 1) every pixel → IoU 1/9.
        XCTAssertEqual(try value("iou_xai", ["fraction": .number(1.0 / 3)]), (0.75 + 1.0 / 9) / 2, accuracy: 1e-15)
        // value 2: A keeps 9, 8, 7, 2 → 3 / 5; B keeps 5 → 0 / 2.
        XCTAssertEqual(
            try value("iou_xai", ["threshold": .string("value"), "value": .number(2)]), 0.3, accuracy: 1e-15)
        // Otsu separates {9, 8, 7} from the rest in A (IoU 3/4) and 5 from the ones in B (IoU 0).
        XCTAssertEqual(try value("iou_xai", ["threshold": .string("otsu")]), 0.375, accuracy: 1e-15)
        let metric = try metric("iou_xai", ["threshold": .string("value"), "value": .number(2)])
        try metric.update(predictions: maps, targets: masks, groups: nil)
        let report = try metric.report()
        XCTAssertEqual(report["threshold"]?.description, "\"value\"")
        XCTAssertEqual(report["count"]?.numberValue, 2)
        XCTAssertEqual(report["std"]?.numberValue ?? -1, (0.18).squareRoot(), accuracy: 1e-12)
    }

    /// The box rule by hand. Map A at 15 % of 9 keeps 9, 8, 7 and 2: {9, 8, 7} is the largest component, its box
    /// rows 0-1 × columns 0-1 equals the mask's → 1. Map B keeps only the 5 (every 1 is below 0.75·5 = 3.75 at
    /// relative 0.75), box (1, 1) against the mask's (2, 2) → 0. Diagonal pixels are one component (8-connected).
    func testIoUXAIBoxRuleByHand() throws {
        XCTAssertEqual(try value("iou_xai", ["threshold": .string("box"), "relative": .number(0.75)]), 0.5)
        XCTAssertEqual(try value("iou_xai", ["threshold": .string("box")]), (1 + 1.0 / 9) / 2, accuracy: 1e-15)
        let diagonal = try Tensor(shape: [1, 3, 3], doubles: [1, 0, 0, 0, 1, 0, 0, 0, 1.5])
        let everything = try Tensor(shape: [1, 3, 3], doubles: Array(repeating: 1, count: 9))
        let metric = try metric("iou_xai", ["threshold": .string("box"), "relative": .number(0.6)])
        try metric.update(predictions: diagonal, targets: everything, groups: nil)
        // At 0.6 · 1.5 = 0.9 all three are kept and connected (0-4-8 along the diagonal): the whole grid → 1.
        XCTAssertEqual(try metric.compute(), 1)
        // 3 × 4: the diagonal pair (0, 0)-(1, 1) and a lone pixel at (0, 3). 8-connected, the pair is the larger
        // component: its 2 × 2 box against the mask's 12 pixels → 1/3 (4-connected, three single pixels would tie
        // and the first, one pixel, give 1/12).
        let lone = try Tensor(shape: [1, 3, 4], doubles: [1, 0, 0, 0.5, 0, 1, 0, 0, 0, 0, 0, 0])
        let grid = try Tensor(shape: [1, 3, 4], doubles: Array(repeating: 1, count: 12))
        let split = try self.metric("iou_xai", ["threshold": .string("box"), "relative": .number(0.4)])
        try split.update(predictions: lone, targets: grid, groups: nil)
        XCTAssertEqual(try split.compute(), 1.0 / 3, accuracy: 1e-15)
        XCTAssertThrowsError(try self.metric("iou_xai", ["threshold": .string("box"), "relative": .number(0)]))
        XCTAssertEqual(try split.report()["relative"]?.numberValue, 0.4)
    }

    /// The box rule against SciPy's connected components (`scripts/golden/make_iou_box_golden.py`), per sample.
    func testIoUXAIBoxRuleMatchesSciPy() throws {
        let fixture = try Fixture("iou_box.safetensors")
        for tag in ["square", "oblong"] {
            let maps = try fixture["box.\(tag).maps"]
            let masks = try fixture["box.\(tag).masks"]
            for (relative, key) in [(0.15, "iou"), (0.5, "iou50")] {
                let expected = try fixture["box.\(tag).\(key)"].toDoubles()
                for sample in 0..<maps.shape[0] {
                    let metric = try metric("iou_xai", ["threshold": .string("box"), "relative": .number(relative)])
                    try metric.update(
                        predictions: try maps.sliced(axis: 0, start: sample, end: sample + 1),
                        targets: try masks.sliced(axis: 0, start: sample, end: sample + 1), groups: nil)
                    XCTAssertEqual(try metric.compute(), expected[sample], accuracy: 1e-12, "\(tag) \(key) \(sample)")
                }
            }
        }
    }

    func testAttributionAUC() throws {
        // A: positives {9, 8, 7, 0} against negatives {1, 0, 0, 0, 2}, 20 pairs: 9, 8 and 7 beat all five (15);
        // 0 ties three zeros (1.5) → 16.5 / 20.
        // B: the positive 1 ties seven 1s and loses to 5 → 3.5 / 8.
        XCTAssertEqual(try value("attribution_auc"), (16.5 / 20 + 3.5 / 8) / 2, accuracy: 1e-15)
    }

    func testChannelsAreSummedAndUndefinedSamplesAreLeftOut() throws {
        // Two channels that add up to map A; an empty mask is left out (reported as skipped).
        let channels = try Tensor(
            shape: [1, 2, 3, 3], doubles: [5, 4, 1, 3, 0, 0, 0, 0, 1, 4, 4, 0, 4, 0, 0, 0, 0, 1])
        let metric = try metric("pointing_game")
        try metric.update(predictions: channels, targets: masks.sliced(axis: 0, end: 1), groups: nil)
        try metric.update(predictions: maps.sliced(axis: 0, end: 1), targets: try Tensor.zeros([1, 3, 3]), groups: nil)
        XCTAssertEqual(try metric.compute(), 1)
        XCTAssertEqual(try metric.report()["skipped"]?.numberValue, 1)
        XCTAssertThrowsError(try metric.update(predictions: maps, targets: try Tensor.zeros([2, 4, 4]), groups: nil))
        metric.reset()
        XCTAssertThrowsError(try metric.compute())
    }

    /// Deletion and insertion on a linear model whose curve is known: logit₀ = 2x₀ + x₁ − x₃, logit₁ = 0,
    /// input all ones, attributions ranking the pixels 0, 1, 2, 3, four steps (one pixel each).
    func testDeletionAndInsertionCurves() throws {
        let linear = try Linear(4, 2, dtype: .float64)
        try linear.weight.assign(try Tensor(shape: [2, 4], doubles: [2, 1, 0, -1, 0, 0, 0, 0]))
        try linear.bias?.assign(try Tensor.zeros([2], dtype: .float64))
        let model = Sequential([Flatten(), linear])
        let inputs = try Tensor.ones([1, 1, 2, 2], dtype: .float64)
        let maps = try Tensor(shape: [1, 2, 2], doubles: [4, 3, 2, 1])
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        func area(_ logits: [Double]) -> Double {
            let p: [Double] = logits.map(sigmoid)
            var total = 0.0
            for k in 0..<4 { total += (p[k] + p[k + 1]) / 2 }
            return total / 4
        }
        let deletion = try XCTUnwrap(try metric("deletion_auc", ["steps": .number(4)]) as? FaithfulnessMetric)
        try deletion.update(
            model: model, inputs: inputs, attributions: maps, targets: try Tensor(shape: [1], integers: [0]))
        // Removing pixels 0, 1, 2, 3 in turn: logits 2, 0, −1, −1, 0.
        XCTAssertEqual(try deletion.compute(), area([2, 0, -1, -1, 0]), accuracy: 1e-12)
        let insertion = try XCTUnwrap(try metric("insertion_auc", ["steps": .number(4)]) as? FaithfulnessMetric)
        try insertion.update(model: model, inputs: inputs, attributions: maps, targets: nil)  // predicted class 0
        // Inserting them into zeros: logits 0, 2, 3, 3, 2.
        XCTAssertEqual(try insertion.compute(), area([0, 2, 3, 3, 2]), accuracy: 1e-12)
        guard case .list(let curve)? = try insertion.report()["curve"] else { return XCTFail("no curve in the report") }
        for (point, logit) in zip(curve, [0.0, 2, 3, 3, 2]) {
            XCTAssertEqual(point.numberValue ?? -1, sigmoid(logit), accuracy: 1e-12)
        }
        XCTAssertEqual(curve.count, 5)
        XCTAssertThrowsError(try deletion.update(predictions: maps, targets: maps, groups: nil)) { error in
            XCTAssert("\(error)".contains("update_explanation"), "\(error)")
        }
    }

    func testSpearmanWithTies() {
        // Ranks of [1, 2, 2, 4] are [1, 2.5, 2.5, 4]; of [10, 30, 20, 40] are [1, 3, 2, 4].
        // Pearson of those ranks: covariance 4.5 over √(4.5 · 5) → 0.9487.
        XCTAssertEqual(
            RandomizationSanity.spearman([1, 2, 2, 4], [10, 30, 20, 40]) ?? -1, 4.5 / (4.5 * 5).squareRoot(),
            accuracy: 1e-12)
        XCTAssertEqual(RandomizationSanity.spearman([1, 2, 3], [3, 2, 1]) ?? 0, -1, accuracy: 1e-12)
        XCTAssertNil(RandomizationSanity.spearman([1, 1, 1], [1, 2, 3]))
    }

    /// Saliency of a linear model is its weight row: after randomisation it is unrelated to the trained one,
    /// so the correlation drops; the weights are restored afterwards.
    func testRandomizationSanityRestoresTheModel() throws {
        RandomGenerator.shared.reseed(11)
        let linear = try Linear(64, 3, dtype: .float64)
        let model = Sequential([Flatten(), linear])
        let inputs = try Tensor.uniform([6, 1, 8, 8], dtype: .float64)
        let targets = try Tensor(shape: [6], integers: [0, 1, 2, 0, 1, 2])
        let saliency = try registry.build(.explainer, "saliency", options: [:])
        let maps = try saliency.attribute(model: model, inputs: inputs, targets: targets)
        let before = linear.weight.toDoubles()
        let sanity = try XCTUnwrap(
            try metric("randomization_sanity", ["explainer": .string("saliency")]) as? FaithfulnessMetric)
        try sanity.update(model: model, inputs: inputs, attributions: maps, targets: targets)
        XCTAssertEqual(linear.weight.toDoubles(), before, "weights restored")
        XCTAssertLessThan(
            abs(try sanity.compute()), 0.5, "maps of a randomised linear model are unrelated to the trained ones")
        // Against itself (no randomisation) the correlation would be 1: the drop comes from the new weights.
        XCTAssertEqual(RandomizationSanity.spearman(maps.toDoubles(), maps.toDoubles()) ?? 0, 1, accuracy: 1e-12)
    }
}
