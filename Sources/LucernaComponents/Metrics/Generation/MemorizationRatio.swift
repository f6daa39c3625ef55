import Foundation
import LucernaCore

/// A memorisation check of a generator: the mean Euclidean distance from each generated sample to its
/// nearest training sample, over the mean distance to its nearest held-out (test) sample. About 1 for a
/// generator that models the distribution; well below 1 for one that copies its training set. The training
/// references are a seeded random subset of the size of the held-out set, so that neither side is closer
/// only for having more samples. `update(generated, labels)` (the labels are not used: nearest neighbours
/// over every class).
///
/// Reference: the nearest-neighbour memorisation test of generative models (e.g. Meehan, Chaudhuri &
/// Dasgupta, "A non-parametric test to detect data-copying in generative models", AISTATS 2020; Webster
/// et al. 2019), in its simplest form: the ratio of mean nearest-neighbour distances.
public final class MemorizationRatio: ConditionalSampleMetric {
    public static let options = [
        OptionSpec(
            "train", .tensor, required: true, standIn: GenerationSSIM.standInImages,
            "the generator's training samples [M, ...]"),
        OptionSpec(
            "test", .tensor, required: true, standIn: GenerationSSIM.standInImages,
            "held-out real samples [K, ...] of the same kind"),
        OptionSpec("seed", .integer, default: .number(0), "the draw of the training subset"),
    ]
    let train: Tensor, test: Tensor
    private var trainDistance = 0.0, testDistance = 0.0, count = 0

    public init(config: Config) throws {
        let (train, test) = (try config.tensor("train"), try config.tensor("test"))
        guard train.rank >= 2, test.rank >= 2, train.shape.dropFirst() == test.shape.dropFirst(),
            train.shape[0] > 0, test.shape[0] > 0
        else {
            throw config.error(
                "train and test must be samples of one shape, got \(describe(shape: train.shape)) and \(describe(shape: test.shape))"
            )
        }
        let size = min(train.shape[0], test.shape[0])
        let generator = RandomGenerator(seed: UInt64(max(0, try config.integer("seed"))))
        let chosen = Array(generator.permutation(train.shape[0]).prefix(size)).sorted()
        self.train = try Self.rows(train.indexSelect(axis: 0, indices: chosen))
        self.test = try Self.rows(test)
        guard self.train.toDoubles().allSatisfy(\.isFinite), self.test.toDoubles().allSatisfy(\.isFinite) else {
            throw config.error("train or test has NaN or infinite values")
        }
    }

    /// Samples as Float64 rows `[N, D]`.
    static func rows(_ samples: Tensor) throws -> Tensor {
        try samples.to(.float64).reshaped([samples.shape[0], -1])
    }

    /// Each row of `samples`' distance to its nearest row of `references`.
    static func nearest(_ samples: Tensor, _ references: Tensor) throws -> [Double] {
        let squares = try (samples * samples).sum(axes: [1], keepingDimensions: true)
        let referenceSquares = try (references * references).sum(axes: [1], keepingDimensions: true)
        let products = try samples.matmul(references, transposingSelf: false, transposingOther: true)
        let distances = try squares + referenceSquares.transposed(0, 1) - products * 2
        let columns = references.shape[0]
        let values = distances.toDoubles()
        return (0..<samples.shape[0]).map { row in
            max(0, values[(row * columns)..<((row + 1) * columns)].min() ?? 0).squareRoot()
        }
    }

    public func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        guard predictions.rank >= 2, predictions.shape[0] > 0, predictions.count / predictions.shape[0] == test.shape[1]
        else {
            throw TensorError(
                "metrics.memorization_ratio",
                "generated samples \(describe(shape: predictions.shape)) must have the references' \(test.shape[1]) values each"
            )
        }
        let samples = try Self.rows(predictions)
        guard samples.toDoubles().allSatisfy(\.isFinite) else {
            throw TensorError("metrics.memorization_ratio", "the generated samples have NaN or infinite values")
        }
        trainDistance += try Self.nearest(samples, train).reduce(0, +)
        testDistance += try Self.nearest(samples, test).reduce(0, +)
        count += samples.shape[0]
    }

    public func compute() throws -> Double {
        guard count > 0 else { throw TensorError("metrics.memorization_ratio", "no samples seen (call update first)") }
        guard testDistance > 0 else {
            throw TensorError("metrics.memorization_ratio", "every generated sample equals a test sample")
        }
        return trainDistance / testDistance
    }

    public func reset() { (trainDistance, testDistance, count) = (0, 0, 0) }

    public func report() throws -> [String: ConfigValue] {
        [
            "value": .number(try compute()), "train_distance": .number(trainDistance / Double(count)),
            "test_distance": .number(testDistance / Double(count)), "references": .number(Double(test.shape[0])),
        ]
    }
}

extension MemorizationRatio: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "memorization_ratio",
            "mean nearest-neighbour distance of generated samples to training over held-out samples (≈ 1: no copying)",
            reference: "Meehan et al., AISTATS 2020 (data-copying); nearest-neighbour distances",
            options: options, build: { try MemorizationRatio(config: $0) })
    ]
}
