import LucernaCore

/// Precision, recall or F1 with scikit-learn's averaging: `macro` (unweighted mean over the classes
/// present in targets or predictions), `weighted` (by support), `micro` (global counts) or `binary` (the
/// `positive` class only). Classes with no predicted (precision) or true (recall) samples score 0, as
/// scikit-learn's `zero_division=0`. `report()` adds the per-class values and supports.
public final class ClassificationScore: PredictionRecord {
    public enum Statistic: String { case precision, recall, f1 }
    static let options = [
        OptionSpec("average", .string, default: .string("macro"), "macro, weighted, micro or binary"),
        OptionSpec("positive", .integer, default: .number(1), "the positive class for average = binary"),
        scoreOption,
    ]
    let statistic: Statistic, average: String, positive: Int

    init(_ statistic: Statistic, config: Config) throws {
        self.statistic = statistic
        average = try config.choice("average", ["macro", "weighted", "micro", "binary"])
        positive = try config.integer("positive")
        try super.init(owner: config.owner, config: config)
    }

    static func builder(_ statistic: Statistic) -> (Config) throws -> ClassificationScore {
        { try ClassificationScore(statistic, config: $0) }
    }

    /// True positives, predicted and actual counts per class.
    func counts() -> (truePositives: [Int], predictedCounts: [Int], actualCounts: [Int]) {
        var truePositives = [Int](repeating: 0, count: classCount)
        var predictedCounts = truePositives
        var actualCounts = truePositives
        for (guess, truth) in zip(predicted, targets) {
            predictedCounts[guess] += 1
            actualCounts[truth] += 1
            if guess == truth { truePositives[guess] += 1 }
        }
        return (truePositives, predictedCounts, actualCounts)
    }

    func value(truePositives: Int, predicted: Int, actual: Int) -> Double {
        let precision = predicted == 0 ? 0 : Double(truePositives) / Double(predicted)
        let recall = actual == 0 ? 0 : Double(truePositives) / Double(actual)
        switch statistic {
        case .precision: return precision
        case .recall: return recall
        case .f1: return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        }
    }

    public override func compute() throws -> Double {
        try requireSamples()
        let (tp, predictedCounts, actualCounts) = counts()
        let perClass = (0..<classCount).map {
            value(truePositives: tp[$0], predicted: predictedCounts[$0], actual: actualCounts[$0])
        }
        switch average {
        case "binary":
            guard positive >= 0, positive < classCount else {
                throw TensorError(owner, "positive class \(positive) outside 0..<\(classCount)")
            }
            return perClass[positive]
        case "micro":
            return value(
                truePositives: tp.reduce(0, +), predicted: predictedCounts.reduce(0, +),
                actual: actualCounts.reduce(0, +))
        case "weighted":
            let total = Double(actualCounts.reduce(0, +))
            return (0..<classCount).reduce(0) { $0 + perClass[$1] * Double(actualCounts[$1]) / total }
        default:
            let present = (0..<classCount).filter { predictedCounts[$0] > 0 || actualCounts[$0] > 0 }
            return present.reduce(0) { $0 + perClass[$1] } / Double(max(present.count, 1))
        }
    }

    public override func report() throws -> [String: ConfigValue] {
        let (tp, predictedCounts, actualCounts) = counts()
        return [
            "value": .number(try compute()),
            "per_class": .list(
                (0..<classCount).map {
                    .number(value(truePositives: tp[$0], predicted: predictedCounts[$0], actual: actualCounts[$0]))
                }),
            "support": .list(actualCounts.map { .number(Double($0)) }),
        ]
    }
}

extension ClassificationScore: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "precision", "precision (macro, weighted, micro or binary)",
            reference: "scikit-learn precision_score",
            options: ClassificationScore.options, build: ClassificationScore.builder(.precision)),
        ComponentEntry(
            .metric, "recall", "recall (macro, weighted, micro or binary)", reference: "scikit-learn recall_score",
            options: ClassificationScore.options, build: ClassificationScore.builder(.recall)),
        ComponentEntry(
            .metric, "f1", "F1 score (macro, weighted, micro or binary); per class in report()",
            reference: "scikit-learn f1_score",
            options: ClassificationScore.options, build: ClassificationScore.builder(.f1)),
    ]
}
