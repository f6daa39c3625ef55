import LucernaCore

/// The confusion matrix (rows: true class, columns: predicted class, as scikit-learn); `compute()` is the
/// accuracy it implies and `report()` holds the matrix.
public final class ConfusionMatrix: PredictionRecord {
    static let options = [scoreOption]

    init(config: Config) throws { try super.init(owner: config.owner, config: config) }

    public func matrix() throws -> [[Int]] {
        try requireSamples()
        var counts = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        for (guess, truth) in zip(predicted, targets) { counts[truth][guess] += 1 }
        return counts
    }

    public override func compute() throws -> Double {
        let counts = try matrix()
        return Double((0..<classCount).reduce(0) { $0 + counts[$1][$1] }) / Double(targets.count)
    }

    public override func report() throws -> [String: ConfigValue] {
        ["value": .number(try compute()), "matrix": .list(try matrix().map { .list($0.map { .number(Double($0)) }) })]
    }
}

extension ConfusionMatrix: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "confusion_matrix",
            "confusion matrix in report() (rows true, columns predicted); value = accuracy",
            reference: "scikit-learn `confusion_matrix`", options: ConfusionMatrix.options, build: ConfusionMatrix.init)
    ]
}
