import LucernaComponents
import LucernaCore
import LucernaNN
import XCTest

@testable import LucernaTrain

/// Bias feedback: generated subgroup shares kept at a target, per-class accuracy kept even.
final class BiasFeedbackTests: XCTestCase {
    func makeGenerator(dtype: DType = .float64) throws -> GANGenerator {
        try GANGenerator(
            latent: 4, conditioning: .labels(classes: 2), embedding: 2, channels: (4, 4), attentionResolution: nil,
            imageSize: 8, dtype: dtype, generator: RandomGenerator(seed: 9))
    }

    /// A linear classifier over the flattened 8×8 image.
    func makeLinear(outputs: Int, seed: UInt64, dtype: DType = .float64) throws -> Sequential {
        Sequential([Flatten(), try Linear(64, outputs, dtype: dtype, generator: RandomGenerator(seed: seed))])
    }

    func testPenaltyIsTheShareAndAccuracyTermsByHandAndReachesOnlyTheGenerator() throws {
        let (groupClassifier, auditor) = (try makeLinear(outputs: 3, seed: 4), try makeLinear(outputs: 2, seed: 5))
        let feedback = try BiasFeedback(
            groups: .classifier(groupClassifier), target: [0.5, 0.3, 0.2], weight: 3, classifier: auditor,
            accuracyWeight: 2, every: 1)
        let generator = try makeGenerator()
        let labels = try Tensor(shape: [5], integers: [0, 1, 0, 1, 0])
        let images = try generator.forward(
            generator.noise(count: 5, generator: RandomGenerator(seed: 10)), condition: labels)
        for parameter in feedback.frozenParameters { try parameter.requiringGrad(false) }  // as the trainer does
        let (term, values) = try feedback.evaluate(images: images, labels: labels)

        // By hand, from the networks' outputs on the [0, 1] images.
        let scaled = try images.affine(scale: 0.5, shift: 0.5)
        func softmaxRows(_ outputs: Tensor) -> [[Double]] {
            let (rows, columns) = (outputs.shape[0], outputs.shape[1])
            let flat = outputs.toDoubles()
            return (0..<rows).map { row in
                let entries = flat[(row * columns)..<((row + 1) * columns)]
                let peak = entries.max() ?? 0
                let exponentials = entries.map { Foundation.exp($0 - peak) }
                let total = exponentials.reduce(0, +)
                return exponentials.map { $0 / total }
            }
        }
        let groups = softmaxRows(try noGrad { try groupClassifier(scaled) })
        let shares = (0..<3).map { group in groups.map { $0[group] }.reduce(0, +) / 5 }
        let squared = zip(shares, [0.5, 0.3, 0.2]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        let own = zip(softmaxRows(try noGrad { try auditor(scaled) }), labels.toIntegers()).map { $0[$1] }
        let accuracies = [
            (own[0] + own[2] + own[4]) / 3, (own[1] + own[3]) / 2,
        ]
        let best = accuracies.max() ?? 0
        let spread = accuracies.map { (best - $0) * (best - $0) }.reduce(0, +) / 2
        XCTAssertEqual(try term.item(), 3 * squared + 2 * spread, accuracy: 1e-12)
        XCTAssertEqual(values["fairness_discrepancy"] ?? -1, squared.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(values["class_accuracy_gap"] ?? -1, best - (accuracies.min() ?? 0), accuracy: 1e-12)
        XCTAssertEqual(values["bias_penalty"] ?? -1, try term.item(), accuracy: 1e-12)

        try term.backward()
        for parameter in feedback.frozenParameters { try parameter.requiringGrad(true) }
        let reached = generator.parameters().compactMap(\.grad).map { $0.toDoubles().map(abs).max() ?? 0 }
        XCTAssertGreaterThan(reached.max() ?? 0, 0)
        XCTAssertTrue(feedback.frozenParameters.allSatisfy { $0.grad == nil }, "the classifiers get no gradient")
        XCTAssertEqual(feedback.frozenParameters.count, 4, "both classifiers' weights and biases")
    }

    /// Minimising the share penalty alone moves the generated samples' group shares to the target: the
    /// gradient points the right way through the generator.
    func testDescentOnTheSharePenaltyReachesTheTarget() throws {
        // Group 1: the mean brightness of the image's top half (a group function of the pixels).
        let brightTop: (Tensor) throws -> Tensor = { images in
            try images.sliced(axis: 2, start: 0, end: 4).mean(axes: [1, 2, 3])
        }
        let feedback = try BiasFeedback(
            groups: .function(brightTop), target: [0.2, 0.8], weight: 1, classifier: nil, accuracyWeight: 0,
            every: 1)
        let generator = try makeGenerator()
        let optimizer = try Adam(parameters: generator.parameters(), learningRate: 1e-2)
        let labels = try Tensor(shape: [16], integers: (0..<16).map { $0 % 2 })
        func discrepancy() throws -> Double {
            let images = try generator.forward(
                generator.noise(count: 16, generator: RandomGenerator(seed: 12)), condition: labels)
            return try XCTUnwrap(
                try noGrad { try feedback.evaluate(images: images, labels: labels) }.1[
                    "fairness_discrepancy"])
        }
        let before = try discrepancy()
        for step in 0..<60 {
            optimizer.zeroGrad()
            let images = try generator.forward(
                generator.noise(count: 16, generator: RandomGenerator(seed: UInt64(100 + step))), condition: labels)
            try feedback.evaluate(images: images, labels: labels).term.backward()
            try optimizer.step()
        }
        let after = try discrepancy()
        XCTAssertGreaterThan(before, 0.1, "the untrained generator is off the target")
        XCTAssertLessThan(after, 0.2 * before, "descent moved the shares to the target (\(before) → \(after))")
    }

    func testGroupFunctionsAreCheckedAndTwoGroupsMayComeAsOneProbability() throws {
        let images = try Tensor.uniform([4, 1, 8, 8], dtype: .float64, generator: RandomGenerator(seed: 1))
        let labels = try Tensor(shape: [4], integers: [0, 1, 0, 1])
        func feedback(_ function: @escaping (Tensor) throws -> Tensor) throws -> BiasFeedback {
            try BiasFeedback(
                groups: .function(function), target: nil, weight: 1, classifier: nil, accuracyWeight: 0, every: 1)
        }
        // [N] probabilities: the second of two groups; uniform target (0.5, 0.5).
        let half = try feedback { _ in try Tensor(shape: [4], values: [1, 1, 1, 0], dtype: .float64) }
        XCTAssertEqual(
            try half.evaluate(images: images, labels: labels).values["fairness_discrepancy"] ?? -1,
            (2 * 0.25 * 0.25).squareRoot(), accuracy: 1e-12)
        let wrongShape = try feedback { _ in try Tensor.zeros([3, 2], dtype: .float64) }
        XCTAssertThrowsError(try wrongShape.evaluate(images: images, labels: labels)) {
            XCTAssertTrue("\($0)".contains("[N, G] (G ≥ 2) or [N] for 4 images, got [3, 2]"), "\($0)")
        }
        let notProbabilities = try feedback { _ in
            try Tensor(
                shape: [4, 2], values: [2, -1, 0.5, 0.5, 1, 0, 0, 1],
                dtype: .float64)
        }
        XCTAssertThrowsError(try notProbabilities.evaluate(images: images, labels: labels)) {
            XCTAssertTrue("\($0)".contains("probabilities in [0, 1] whose rows sum to 1"), "\($0)")
        }
        let mismatched = try BiasFeedback(
            groups: .function({ _ in try Tensor.full([4, 3], value: 1.0 / 3, dtype: .float64) }), target: [0.5, 0.5],
            weight: 1, classifier: nil, accuracyWeight: 0, every: 1)
        XCTAssertThrowsError(try mismatched.evaluate(images: images, labels: labels)) {
            XCTAssertTrue("\($0)".contains("target has 2 shares but the groups give 3"), "\($0)")
        }
        XCTAssertThrowsError(
            try BiasFeedback(groups: nil, target: nil, weight: 1, classifier: nil, accuracyWeight: 1, every: 1))
        XCTAssertThrowsError(
            try BiasFeedback(
                groups: .function(brightness), target: [0.7, 0.7], weight: 1, classifier: nil, accuracyWeight: 0,
                every: 1)
        ) { XCTAssertTrue("\($0)".contains("summing to 1"), "\($0)") }
    }

    func brightness(_ images: Tensor) throws -> Tensor { try images.mean(axes: [1, 2, 3]) }

    func testTrainingWithBiasFeedbackLogsItsValuesOnFeedbackSteps() throws {
        let (images, labels) = try GANTrainerTests.toyData(count: 32)
        var options = GANTrainer.Options()
        (options.steps, options.batchSize, options.criticSteps, options.logEvery, options.verbose) = (4, 8, 1, 4, false)
        let auditor = try makeLinear(outputs: 2, seed: 5, dtype: .float32)
        options.biasFeedback = try BiasFeedback(
            groups: .function(brightness), target: nil, weight: 1, classifier: auditor, accuracyWeight: 1, every: 2)
        RandomGenerator.shared.reseed(3)
        let records = try GANTrainerTests.makeTrainer(options).fit(images: images, labels: labels)
        let values = try XCTUnwrap(records.last?.values)
        for key in ["bias_penalty", "fairness_discrepancy", "class_accuracy_gap"] {
            XCTAssertTrue(values[key].map { $0 >= 0 && $0.isFinite } == true, "\(key): \(values)")
        }
        XCTAssertTrue(
            auditor.parameters().allSatisfy { $0.grad == nil && $0.requiresGrad }, "the auditor is not trained")
    }
}
