import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaTestSupport
import XCTest

/// The generation metrics against scikit-image and scikit-learn (`scripts/golden/make_generation_golden.py`).
final class GenerationMetricTests: XCTestCase {
    let registry = Registry.standard()

    func ssim(_ first: Tensor, _ second: Tensor) throws -> Double {
        let metric = try registry.build(.metric, "ssim", options: [:])
        try metric.update(predictions: first, targets: second, groups: nil)
        return try metric.compute()
    }

    func testSSIMMatchesScikitImageOnRandomGreyAndColourPairs() throws {
        let fixture = try Fixture("generation.safetensors")
        for tag in ["square", "oblong", "colour"] {
            let (first, second) = (try fixture["ssim.\(tag).first"], try fixture["ssim.\(tag).second"])
            let expected = try fixture["ssim.\(tag).values"].toDoubles()
            for pair in expected.indices {
                let value = try ssim(
                    first.sliced(axis: 0, start: pair, end: pair + 1),
                    second.sliced(axis: 0, start: pair, end: pair + 1))
                XCTAssertEqual(value, expected[pair], accuracy: 1e-9, "\(tag) pair \(pair)")
            }
            // The metric's value is the mean over the pairs of every update.
            XCTAssertEqual(try ssim(first, second), expected.reduce(0, +) / Double(expected.count), accuracy: 1e-9, tag)
        }
    }

    func testSSIMMatchesScikitImageOnRealDigits() throws {
        guard let data = ProcessInfo.processInfo.environment["LUCERNA_DATA"] else {
            throw XCTSkip("LUCERNA_DATA is not set")
        }
        let fixture = try Fixture("generation.safetensors")
        let digits = try ImageClassificationSet.loadIDX(folder: "\(data)/mnist", prefix: "t10k").images.to(.float64)
        let pairs = try fixture["ssim.mnist.pairs"].toIntegers()
        let expected = try fixture["ssim.mnist.values"].toDoubles()
        for (index, value) in expected.enumerated() {
            let (first, second) = (pairs[2 * index], pairs[2 * index + 1])
            XCTAssertEqual(
                try ssim(
                    digits.sliced(axis: 0, start: first, end: first + 1),
                    digits.sliced(axis: 0, start: second, end: second + 1)),
                value, accuracy: 1e-6, "test digits \(first) and \(second)")
        }
    }

    func testSSIMRefusesMismatchedSmallAndNonFiniteImages() throws {
        let image = try Tensor.zeros([1, 16, 16], dtype: .float64)
        XCTAssertEqual(try ssim(image, image), 1, accuracy: 1e-12, "an image against itself")
        let cases: [(Tensor, Tensor, String)] = [
            (image, try Tensor.zeros([1, 16, 15], dtype: .float64), "one shape"),
            (
                try Tensor.zeros([1, 10, 10], dtype: .float64), try Tensor.zeros([1, 10, 10], dtype: .float64),
                "11×11 window"
            ),
            (try Tensor.zeros([16, 16], dtype: .float64), try Tensor.zeros([16, 16], dtype: .float64), "[N, H, W]"),
            (try Tensor.full([1, 16, 16], value: .nan, dtype: .float64), image, "NaN"),
        ]
        for (first, second, message) in cases {
            XCTAssertThrowsError(try ssim(first, second), message) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        XCTAssertThrowsError(try registry.build(.metric, "ssim", options: ["data_range": .number(0)]))
    }

    func testNMIMatchesScikitLearnForEachAverage() throws {
        let fixture = try Fixture("generation.safetensors")
        for average in ["arithmetic", "geometric", "min", "max"] {
            let metric = try registry.build(.metric, "nmi", options: ["average": .string(average)])
            let (predicted, truth) = (try fixture["nmi.predicted"], try fixture["nmi.truth"])
            // Two updates: the metric scores every sample seen.
            try metric.update(
                predictions: predicted.sliced(axis: 0, start: 0, end: 100),
                targets: truth.sliced(axis: 0, start: 0, end: 100), groups: nil)
            try metric.update(
                predictions: predicted.sliced(axis: 0, start: 100, end: 300),
                targets: truth.sliced(axis: 0, start: 100, end: 300), groups: nil)
            XCTAssertEqual(try metric.compute(), try fixture["nmi.\(average)"].item(), accuracy: 1e-12, average)
        }
    }

    func testNMIOfRenamedPartitionsAndDegenerateLabelings() throws {
        let truth = [0, 0, 1, 1, 2, 2]
        XCTAssertEqual(NormalizedMutualInformation.score(truth, [5, 5, 3, 3, 9, 9]), 1, accuracy: 1e-12)
        XCTAssertEqual(NormalizedMutualInformation.score([1, 1, 1], [4, 4, 4]), 1, "both one cluster")
        XCTAssertEqual(NormalizedMutualInformation.score(truth, [0, 0, 0, 0, 0, 0]), 0, "one cluster")
        XCTAssertEqual(NormalizedMutualInformation.score([0, 1, 0, 1], [0, 0, 1, 1]), 0, "independent")
        // Scores [N, K] count as their arg-max.
        let metric = try registry.build(.metric, "nmi", options: [:])
        try metric.update(
            predictions: try Tensor(shape: [4, 2], values: [0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.1, 0.9], dtype: .float64),
            targets: try Tensor(shape: [4], integers: [1, 1, 0, 0]), groups: nil)
        XCTAssertEqual(try metric.compute(), 1, accuracy: 1e-12)
        XCTAssertThrowsError(
            try metric.update(predictions: try Tensor.zeros([3]), targets: try Tensor.zeros([4]), groups: nil))
        XCTAssertThrowsError(try registry.build(.metric, "nmi", options: ["average": .string("harmonic")]))
    }
}
