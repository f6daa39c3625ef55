import LucernaCore
import LucernaNN

/// GAN-test accuracy: the accuracy of a classifier trained on real data on generated samples, scored
/// against the labels they were conditioned on — how often a conditional generator draws a sample its
/// class's real data would be taken for. `update(generated [N, C, H, W], conditioning labels [N])`; the
/// classifier runs in evaluation mode without gradients, in batches. `report()` adds the accuracy per
/// class and the worst class (a generator may neglect some classes: the per-class accuracies should be
/// even). Its companion GAN-train accuracy (a classifier trained on generated samples, tested on the real
/// test set) is a training run, not a metric: see docs/guide/generation.md.
///
/// Reference: Shmelkov, Schmid & Alahari, "How good is my GAN?", ECCV 2018.
public final class GANTestAccuracy: ConditionalSampleMetric {
    /// The conformance probe's stand-in classifier: 12×12 images to three class scores.
    nonisolated(unsafe) static let standInClassifier = ConfigValue.object(
        (try? Sequential([Flatten(), Linear(144, 3, generator: RandomGenerator(seed: 0))])) ?? Module())
    public static let options = [
        OptionSpec(
            "classifier", .object("Module"), required: true, standIn: standInClassifier,
            "a classifier trained on real data: images [N, C, H, W] to class scores [N, K]"),
        OptionSpec("batch", .integer, default: .number(500), "the classifier's evaluation batch"),
    ]
    let classifier: Module
    let batch: Int
    private var correct: [Int: Int] = [:], seen: [Int: Int] = [:]

    public init(config: Config) throws {
        classifier = try config.object("classifier", as: Module.self, named: "a module (the classifier)")
        batch = try config.positiveInteger("batch")
    }

    public func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        guard predictions.rank >= 2, targets.rank == 1, predictions.shape[0] == targets.shape[0],
            !targets.dtype.isFloatingPoint
        else {
            throw TensorError(
                "metrics.gan_test_accuracy",
                "needs generated samples [N, ...] and their int64 labels [N], got \(describe(shape: predictions.shape)) and \(targets.dtype) \(describe(shape: targets.shape))"
            )
        }
        let labels = targets.toIntegers()
        var predicted: [Int] = []
        try classifier.evaluating {
            try noGrad {
                for start in stride(from: 0, to: labels.count, by: batch) {
                    let chunk = try predictions.sliced(axis: 0, start: start, end: min(start + batch, labels.count))
                    let scores = try classifier(chunk)
                    guard scores.rank == 2, scores.shape[0] == chunk.shape[0] else {
                        throw TensorError(
                            "metrics.gan_test_accuracy",
                            "the classifier must give scores [N, classes], got \(describe(shape: scores.shape))")
                    }
                    predicted += try scores.argmax(axis: 1).toIntegers()
                }
            }
        }
        for (label, guess) in zip(labels, predicted) {
            seen[label, default: 0] += 1
            if label == guess { correct[label, default: 0] += 1 }
        }
    }

    public func compute() throws -> Double {
        let total = seen.values.reduce(0, +)
        guard total > 0 else { throw TensorError("metrics.gan_test_accuracy", "no samples seen (call update first)") }
        return Double(correct.values.reduce(0, +)) / Double(total)
    }

    /// The accuracy per conditioning class, in label order.
    public func perClass() -> [(label: Int, accuracy: Double)] {
        seen.keys.sorted().map { ($0, Double(correct[$0, default: 0]) / Double(seen[$0] ?? 1)) }
    }

    public func report() throws -> [String: ConfigValue] {
        let classes = perClass()
        let worst = classes.min { $0.accuracy < $1.accuracy }
        return [
            "value": .number(try compute()),
            "per_class": .table(
                Dictionary(uniqueKeysWithValues: classes.map { ("\($0.label)", .number($0.accuracy)) })),
            "worst_class": .number(Double(worst?.label ?? 0)),
            "worst_class_accuracy": .number(worst?.accuracy ?? 0),
            "count": .number(Double(seen.values.reduce(0, +))),
        ]
    }

    public func reset() { (correct, seen) = ([:], [:]) }
}

extension GANTestAccuracy: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "gan_test_accuracy",
            "accuracy of a classifier trained on real data on generated samples, against their conditioning labels",
            reference: "Shmelkov, Schmid & Alahari, \"How good is my GAN?\", ECCV 2018",
            options: options, build: { try GANTestAccuracy(config: $0) })
    ]
}
