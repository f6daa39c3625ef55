import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
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

/// The feature distances against NumPy/SciPy (pytorch-fid's Fréchet distance, the MMD² of KID).
final class FeatureDistanceTests: XCTestCase {
    let registry = Registry.standard()

    func testFrechetDistanceMatchesPytorchFIDsComputation() throws {
        let fixture = try Fixture("generation.safetensors")
        let fid = try registry.build(.metric, "fid", options: [:])
        let (first, second) = (try fixture["fid.first"], try fixture["fid.second"])
        // Unequal set sizes, two updates: the sets are pooled before the moments.
        try fid.update(
            predictions: first.sliced(axis: 0, start: 0, end: 250), targets: second.sliced(axis: 0, start: 0, end: 125),
            groups: nil)
        try fid.update(
            predictions: first.sliced(axis: 0, start: 250, end: 300),
            targets: second.sliced(axis: 0, start: 125, end: 250), groups: nil)
        let expected = try fixture["fid.value"].item()
        XCTAssertEqual(try fid.compute(), expected, accuracy: 1e-4 * expected)
        fid.reset()
        try fid.update(predictions: first, targets: first, groups: nil)
        XCTAssertEqual(try fid.compute(), 0, accuracy: 1e-9, "a set against itself")
    }

    func testKernelDistanceMatchesTheUnbiasedMMDOfOneFullSubset() throws {
        let fixture = try Fixture("generation.safetensors")
        let kid = try registry.build(.metric, "kid", options: ["subsets": .number(3), "subset_size": .number(500)])
        try kid.update(predictions: try fixture["kid.first"], targets: try fixture["kid.second"], groups: nil)
        // Every subset is all 120 samples of each set (the size cut to the sets'), so each estimate is the
        // full-set MMD² and their spread is zero.
        let expected = try fixture["kid.value"].item()
        XCTAssertEqual(try kid.compute(), expected, accuracy: 1e-10)
        let report = try kid.report()
        guard case .number(let spread) = report["std"], case .number(let size) = report["subset_size"] else {
            return XCTFail("no std or subset_size in \(report)")
        }
        XCTAssertEqual(size, 120)
        XCTAssertEqual(spread, 0, accuracy: 1e-10)
        // Smaller subsets: a seeded draw, so the same seed gives the same value, and the mean stays near.
        let draws = try (0..<2).map { _ in
            let metric = try registry.build(
                .metric, "kid", options: ["subsets": .number(50), "subset_size": .number(60), "seed": .number(7)])
            try metric.update(predictions: try fixture["kid.first"], targets: try fixture["kid.second"], groups: nil)
            return try metric.compute()
        }
        XCTAssertEqual(draws[0], draws[1])
        XCTAssertEqual(draws[0], expected, accuracy: 0.3 * expected)
    }

    func testFeaturesComeFromTheClassifiersNamedLayer() throws {
        let generator = RandomGenerator(seed: 5)
        let classifier = Sequential([
            try Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), dtype: .float64, generator: generator), ReLU(),
            Flatten(), try Linear(2 * 12 * 12, 6, dtype: .float64, generator: generator), ReLU(),
            try Linear(6, 3, dtype: .float64, generator: generator),
        ])
        let images = try Tensor.normal([40, 1, 12, 12], dtype: .float64, generator: generator)
        let others = try Tensor.normal([30, 1, 12, 12], dtype: .float64, generator: generator) * 1.5
        let fid = try registry.build(
            .metric, "fid", options: ["classifier": .object(classifier), "layer": .string("4"), "batch": .number(16)])
        try fid.update(predictions: images, targets: others, groups: nil)
        let features = { (samples: Tensor) in
            try classifier.forward(
                samples, capturing: try XCTUnwrap(classifier.module(named: "4")), owner: "test", layerName: "4"
            )
            .activations
        }
        let byHand = try registry.build(.metric, "fid", options: [:])
        try byHand.update(predictions: features(images), targets: features(others), groups: nil)
        XCTAssertEqual(try fid.compute(), try byHand.compute(), accuracy: 1e-10)
        XCTAssertGreaterThan(try fid.compute(), 0)

        XCTAssertThrowsError(
            try registry.build(.metric, "fid", options: ["classifier": .object(classifier), "layer": .string("conv9")])
        ) { error in XCTAssertTrue("\(error)".contains("no layer 'conv9'"), "\(error)") }
        XCTAssertThrowsError(try registry.build(.metric, "kid", options: ["layer": .string("4")])) { error in
            XCTAssertTrue("\(error)".contains("needs a classifier"), "\(error)")
        }
        let plain = try registry.build(.metric, "fid", options: [:])
        XCTAssertThrowsError(try plain.compute()) { error in
            XCTAssertTrue("\(error)".contains("at least two"), "\(error)")
        }
        XCTAssertThrowsError(
            try plain.update(predictions: try Tensor.zeros([4, 3]), targets: try Tensor.zeros([4, 5]), groups: nil)
        ) { error in XCTAssertTrue("\(error)".contains("one width"), "\(error)") }
    }
}

/// Generation scores against a reference set: nearest same-class SSIM and the memorisation ratio.
final class ReferenceSetMetricTests: XCTestCase {
    let registry = Registry.standard()

    func testGenerationSSIMTakesTheBestReferenceOfTheConditioningClass() throws {
        let fixture = try Fixture("generation.safetensors")
        // References: the four "square" first images (classes 0, 1, 0, 1); generated: the four second images.
        let references = try fixture["ssim.square.first"]
        let generated = try fixture["ssim.square.second"]
        let labels = [0, 1, 0, 1]
        let metric = try registry.build(
            .metric, "generation_ssim",
            options: ["references": .tensor(references), "labels": .tensor(try Tensor(shape: [4], integers: labels))])
        let conditioning = [1, 0, 0, 1]
        try metric.update(
            predictions: generated, targets: try Tensor(shape: [4], integers: conditioning), groups: nil)
        let pairwise = try StructuralSimilarity()
        let plane = 16 * 16
        let (referenceValues, generatedValues) = (references.toDoubles(), generated.toDoubles())
        var expected = 0.0
        for (image, label) in conditioning.enumerated() {
            let scores = labels.indices.filter { labels[$0] == label }.map { reference in
                pairwise.similarity(
                    Array(generatedValues[(image * plane)..<((image + 1) * plane)]),
                    Array(referenceValues[(reference * plane)..<((reference + 1) * plane)]), height: 16, width: 16)
            }
            expected += scores.max() ?? 0
        }
        XCTAssertEqual(try metric.compute(), expected / 4, accuracy: 1e-12)
        // A reference drawn again scores 1.
        metric.reset()
        try metric.update(
            predictions: references.sliced(axis: 0, start: 1, end: 2), targets: try Tensor(shape: [1], integers: [1]),
            groups: nil)
        XCTAssertEqual(try metric.compute(), 1, accuracy: 1e-12)
        XCTAssertThrowsError(
            try metric.update(
                predictions: references.sliced(axis: 0, start: 0, end: 1),
                targets: try Tensor(shape: [1], integers: [7]), groups: nil)
        ) { error in XCTAssertTrue("\(error)".contains("no reference image of class 7"), "\(error)") }
        XCTAssertThrowsError(
            try registry.build(
                .metric, "generation_ssim",
                options: [
                    "references": .tensor(references), "labels": .tensor(try Tensor(shape: [3], integers: [0, 1, 0])),
                ])
        ) { error in XCTAssertTrue("\(error)".contains("labels must be [M] for the 4 references"), "\(error)") }
    }

    func testMemorizationRatioComparesNearestTrainingAndHeldOutDistances() throws {
        // Points on a line: training at 0, 10, 20; held out at 3, 13, 23; generated at 1 and 12.
        func points(_ values: [Double]) throws -> Tensor {
            try Tensor(shape: [values.count, 1], values: values, dtype: .float64)
        }
        let metric = try registry.build(
            .metric, "memorization_ratio",
            options: ["train": .tensor(try points([0, 10, 20])), "test": .tensor(try points([3, 13, 23]))])
        try metric.update(
            predictions: try points([1, 12]), targets: try Tensor(shape: [2], integers: [0, 0]), groups: nil)
        // Nearest training: 1 and 2; nearest held-out: 2 and 1.
        XCTAssertEqual(try metric.compute(), 3.0 / 3.0, accuracy: 1e-12)
        try metric.update(predictions: try points([20]), targets: try Tensor(shape: [1], integers: [0]), groups: nil)
        XCTAssertEqual(try metric.compute(), 0.5, accuracy: 1e-12, "a copy pulls it down: (1 + 2 + 0) / (2 + 1 + 3)")
        // More training samples than held-out ones: a seeded subset of the held-out set's size.
        let larger = try registry.build(
            .metric, "memorization_ratio",
            options: ["train": .tensor(try points([0, 10, 20, 30, 40, 50])), "test": .tensor(try points([3, 13]))])
        try larger.update(predictions: try points([31]), targets: try Tensor(shape: [1], integers: [0]), groups: nil)
        guard case .number(let references) = try larger.report()["references"] else { return XCTFail("no count") }
        XCTAssertEqual(references, 2)
        XCTAssertThrowsError(
            try registry.build(
                .metric, "memorization_ratio",
                options: [
                    "train": .tensor(try points([0, 1])), "test": .tensor(try Tensor.zeros([2, 2], dtype: .float64)),
                ])
        ) { error in XCTAssertTrue("\(error)".contains("one shape"), "\(error)") }
    }
}

/// ClusterGAN's NMI: k-means on features of generated samples against their conditioning labels.
final class ClusterNMITests: XCTestCase {
    let registry = Registry.standard()

    func testSeparableClassesScoreOneAndTheClusteringIsScikitLearnsKMeans() throws {
        let fixture = try Fixture("spray.safetensors")
        // The SpRAy fixture's three groups of 8×8 maps, labelled by group (sample i in group i mod 3).
        let points = try fixture["points"]
        let count = points.shape[0]
        let truth = (0..<count).map { $0 % 3 }
        let metric = try registry.build(.metric, "cluster_nmi", options: [:])
        try metric.update(
            predictions: points.reshaped([count, 1, 8, 8]), targets: try Tensor(shape: [count], integers: truth),
            groups: nil)
        let clustering = try XCTUnwrap(metric as? ClusterNMI).clustering()
        XCTAssertEqual(try adjustedRandIndex(clustering, try fixture["kmeans_labels"].toIntegers()), 1)
        XCTAssertEqual(
            try metric.compute(), NormalizedMutualInformation.score(truth, try fixture["kmeans_labels"].toIntegers()),
            accuracy: 1e-12)
        XCTAssertEqual(try metric.compute(), 1, accuracy: 1e-9, "three well-separated groups")
        // Labels unrelated to the groups: near zero.
        let shuffled = try registry.build(.metric, "cluster_nmi", options: [:])
        try shuffled.update(
            predictions: points, targets: try Tensor(shape: [count], integers: (0..<count).map { ($0 / 3) % 3 }),
            groups: nil)
        XCTAssertLessThan(try shuffled.compute(), 0.1)
        XCTAssertThrowsError(try registry.build(.metric, "cluster_nmi", options: [:]).compute()) { error in
            XCTAssertTrue("\(error)".contains("no samples"), "\(error)")
        }
    }
}

/// GAN-test accuracy: a fixed classifier's accuracy on "generated" samples against their conditioning labels.
final class GANTestAccuracyTests: XCTestCase {
    func testCountsTheClassifiersHitsPerConditioningClass() throws {
        // The classifier reads a 2×2 image's first three pixels as the three class scores.
        let linear = try Linear(4, 3, dtype: .float64)
        try linear.weight.assign(Tensor(shape: [3, 4], doubles: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]))
        try linear.bias?.assign(Tensor.zeros([3], dtype: .float64))
        let classifier = Sequential([Flatten(), linear])
        // Predicted classes 0, 1, 2, 0, 1, 1, 2 against labels 0, 1, 2, 1, 1, 2, 2: class 0 1/1, class 1 2/3,
        // class 2 2/3 — 5 of 7.
        let hot = [0, 1, 2, 0, 1, 1, 2]
        let images = try Tensor(
            shape: [7, 1, 2, 2], doubles: hot.flatMap { index in (0..<4).map { $0 == index ? 1.0 : 0.1 } })
        let labels = try Tensor(shape: [7], integers: [0, 1, 2, 1, 1, 2, 2])
        let metric = try Registry.standard().build(
            .metric, "gan_test_accuracy", options: ["classifier": .object(classifier), "batch": .number(3)])
        try metric.update(predictions: images, targets: labels, groups: nil)
        XCTAssertEqual(try metric.compute(), 5.0 / 7.0, accuracy: 1e-12)
        let report = try metric.report()
        guard case .table(let perClass) = report["per_class"] else { return XCTFail("no per_class: \(report)") }
        XCTAssertEqual(perClass["0"]?.numberValue, 1)
        XCTAssertEqual(try XCTUnwrap(perClass["1"]?.numberValue), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(report["worst_class"]?.numberValue, 1)
        // A second update accumulates; reset forgets.
        try metric.update(
            predictions: try images.sliced(axis: 0, start: 0, end: 1),
            targets: try labels.sliced(axis: 0, start: 0, end: 1),
            groups: nil)
        XCTAssertEqual(try metric.compute(), 6.0 / 8.0, accuracy: 1e-12)
        metric.reset()
        XCTAssertThrowsError(try metric.compute()) { XCTAssertTrue("\($0)".contains("no samples"), "\($0)") }
        XCTAssertThrowsError(
            try metric.update(predictions: images, targets: try Tensor.zeros([7], dtype: .float64), groups: nil)
        ) { XCTAssertTrue("\($0)".contains("int64 labels"), "\($0)") }
        XCTAssertThrowsError(try Registry.standard().build(.metric, "gan_test_accuracy", options: [:])) {
            XCTAssertTrue("\($0)".contains("classifier"), "\($0)")
        }
    }
}

final class ReconstructionSSIMTests: XCTestCase {
    func makeGenerator() throws -> GANGenerator {
        try GANGenerator(
            latent: 4, conditioning: .vector(dimension: 3), embedding: 2, channels: (4, 4), attentionResolution: nil,
            imageSize: 12, dtype: .float64, generator: RandomGenerator(seed: 4))
    }

    /// The metric redraws each sample from its own condition with its seeded noise and scores the drawing
    /// against the real image with scikit-image's SSIM: against the drawings themselves it is 1, and against
    /// other images it is `metrics.ssim` of the same drawings.
    func testScoresTheSeededRedrawingAgainstTheRealImageWithSSIM() throws {
        let generator = try makeGenerator()
        let conditions = try Tensor.normal([5, 3], dtype: .float64, generator: RandomGenerator(seed: 7))
        let drawn = try generator.evaluating {
            try noGrad {
                try generator.forward(
                    generator.noise(count: 5, generator: RandomGenerator(seed: 3)), condition: conditions
                ).affine(scale: 0.5, shift: 0.5)
            }
        }
        let metric = try Registry.standard().build(
            .metric, "reconstruction_ssim",
            options: ["generator": .object(generator), "seed": .number(3), "batch": .number(2)])
        try metric.update(predictions: conditions, targets: drawn, groups: nil)
        XCTAssertEqual(try metric.compute(), 1, accuracy: 1e-9, "its own drawings, batch by batch")
        metric.reset()
        let other = try Tensor.uniform([5, 1, 12, 12], dtype: .float64, generator: RandomGenerator(seed: 8))
        try metric.update(predictions: conditions, targets: other, groups: nil)
        let plain = try StructuralSimilarity()
        try plain.update(predictions: drawn, targets: other, groups: nil)
        XCTAssertEqual(try metric.compute(), try plain.compute(), accuracy: 1e-12, "reset restarts the seeded noise")
        XCTAssertLessThan(try metric.compute(), 0.5)
        guard case .string(let definition)? = try metric.report()["definition"] else { return XCTFail("no definition") }
        XCTAssertTrue(definition.contains("own conditioning vector"))
        XCTAssertThrowsError(
            try metric.update(predictions: conditions, targets: other.sliced(axis: 0, end: 4), groups: nil)
        ) {
            XCTAssertTrue("\($0)".contains("conditions [N, D] and the samples' real images"), "\($0)")
        }
        let labelGenerator = try GANGenerator(
            latent: 4, conditioning: .labels(classes: 2), embedding: 2, channels: (4, 4), attentionResolution: nil,
            imageSize: 12, generator: RandomGenerator(seed: 4))
        XCTAssertThrowsError(
            try Registry.standard().build(
                .metric, "reconstruction_ssim", options: ["generator": .object(labelGenerator)])
        ) { XCTAssertTrue("\($0)".contains("conditioning = \"fused\""), "\($0)") }
    }
}
