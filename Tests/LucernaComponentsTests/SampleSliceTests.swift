import LucernaCore
import LucernaNN
import XCTest

@testable import LucernaComponents

/// Explainers and attacks that evaluate many copies of their inputs keep each forward pass within their
/// batch option, whatever the batch they are given, and give the same maps and adversarial examples as
/// with every sample in one pass — for a plain model and for one modality of a multimodal model.
final class SampleSliceTests: XCTestCase {
    let registry = Registry.standard()

    /// A small CNN that records the most rows any forward pass gave it.
    final class RowCounter: Module {
        let network: CNN
        var largest = 0

        init(seed: UInt64) throws {
            network = try CNN(channels: (3, 4), hidden: 8, classes: 4, generator: RandomGenerator(seed: seed))
            super.init()
            registerModule("network", network)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            largest = max(largest, input.shape[0])
            return try network(input)
        }
    }

    func images(_ count: Int) throws -> Tensor {
        try Tensor.uniform([count, 1, 28, 28], generator: RandomGenerator(seed: 8))
    }

    /// Maps of `name` with `small` and with `large` as the batch option `option`: equal within `tolerance`,
    /// and no pass of the small setting holds more than `small` rows.
    func assertSlicedEqualsWhole(
        _ name: String, option: String, small: Int, large: Int, extra: [String: ConfigValue] = [:],
        count: Int = 10, tolerance: Double = 1e-5, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let x = try images(count)
        func explain(_ size: Int) throws -> (map: [Double], largest: Int) {
            let model = try RowCounter(seed: 3)
            RandomGenerator.shared.reseed(40)  // SmoothGrad's noise: the same draws in both settings
            var options = extra
            options[option] = .number(Double(size))
            let map = try registry.build(.explainer, name, options: options).attribute(
                model: model, inputs: x, targets: nil)
            return (map.toDoubles(), model.largest)
        }
        let (sliced, whole) = (try explain(small), try explain(large))
        XCTAssertLessThanOrEqual(sliced.largest, small, "\(name): a pass exceeded \(option)", file: file, line: line)
        XCTAssertGreaterThan(whole.largest, small, "\(name): the whole batch went in one pass", file: file, line: line)
        XCTAssertEqual(sliced.map.count, whole.map.count, file: file, line: line)
        let scale = whole.map.map(abs).max() ?? 1
        for (a, b) in zip(sliced.map, whole.map) {
            XCTAssertEqual(a, b, accuracy: tolerance * max(scale, 1e-12), name, file: file, line: line)
        }
    }

    func testIntegratedGradientsKeepsPassesWithinTheInternalBatchSize() throws {
        // 10 samples × 8 path points: 80 rows at once, or slices of one sample × 8 points.
        try assertSlicedEqualsWhole(
            "integrated_gradients", option: "internal_batch_size", small: 12, large: 1000,
            extra: ["steps": .number(8), "batch_steps": .number(8)])
    }

    func testSmoothGradKeepsPassesWithinTheBatchSize() throws {
        try assertSlicedEqualsWhole(
            "smoothgrad", option: "batch_size", small: 3, large: 512, extra: ["samples": .number(4)])
    }

    func testOcclusionKeepsPassesWithinTheBatchSize() throws {
        try assertSlicedEqualsWhole(
            "occlusion", option: "batch_size", small: 4, large: 4096,
            extra: [
                "window": .list([.number(1), .number(7), .number(7)]),
                "strides": .list([.number(1), .number(7), .number(7)]),
            ])
    }

    func testScoreCAMKeepsPassesWithinTheBatchSize() throws {
        try assertSlicedEqualsWhole(
            "score_cam", option: "batch_size", small: 4, large: 256, extra: ["layer": .string("network.relu2")])
    }

    func testSquareAttackKeepsQueriesWithinTheBatchSize() throws {
        let x = try images(12)
        // The model's own predictions as labels, so that every input starts correctly classified and is attacked.
        let labels = try noGrad { try RowCounter(seed: 3)(x).argmax(axis: 1) }
        func attack(_ size: Int) throws -> (adversarial: [Double], largest: Int) {
            let model = try RowCounter(seed: 3)
            RandomGenerator.shared.reseed(41)
            let square = try registry.build(
                .attack, "square",
                options: ["eps": .number(0.5), "queries": .number(200), "batch_size": .number(Double(size))])
            let adversarial = try square.perturb(model: model, inputs: x, targets: labels)
            return (adversarial.toDoubles(), model.largest)
        }
        let (sliced, whole) = (try attack(5), try attack(512))
        XCTAssertLessThanOrEqual(sliced.largest, 5)
        XCTAssertEqual(whole.largest, 12)
        XCTAssertTrue(sliced.adversarial == whole.adversarial, "slices changed the adversarial examples")
        XCTAssertTrue(whole.adversarial != x.toDoubles(), "the attack changed nothing")
    }

    /// One modality of a multimodal model: each slice holds the other modality for its own samples.
    func testSlicesHoldTheOtherModalityForTheirSamples() throws {
        let model = try smallMultimodalClassifier(seed: 21, registry: registry)
        let generator = RandomGenerator(seed: 5)
        let inputs = [
            "image": try Tensor.uniform([7, 1, 8, 8], generator: generator),
            "audio": try Tensor.normal([7, 1, 6, 8], generator: generator),
        ]
        func maps(_ size: Int) throws -> [String: Tensor] {
            try ModalityView.explain(
                registry.build(
                    .explainer, "integrated_gradients",
                    options: [
                        "steps": .number(6), "batch_steps": .number(3), "internal_batch_size": .number(Double(size)),
                    ]),
                model: model, inputs: inputs, targets: nil)
        }
        let (sliced, whole) = (try maps(6), try maps(1000))
        for name in ["image", "audio"] {
            let (a, b) = (try XCTUnwrap(sliced[name]).toDoubles(), try XCTUnwrap(whole[name]).toDoubles())
            XCTAssertEqual(a.count, b.count)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5, name) }
        }
    }

    func testSliceRangesCoverTheBatch() {
        XCTAssertEqual(SampleSlices.ranges(count: 10, size: 4), [0..<4, 4..<8, 8..<10])
        XCTAssertEqual(SampleSlices.ranges(count: 3, size: 8), [0..<3])
        XCTAssertEqual(SampleSlices.ranges(count: 0, size: 8), [])
        XCTAssertEqual(SampleSlices.ranges(count: 2, size: 0), [0..<1, 1..<2])
    }
}
