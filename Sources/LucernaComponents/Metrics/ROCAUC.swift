import LucernaCore

/// Area under the ROC curve: for two classes, of the `positive` class's probability; for more, one-vs-
/// rest per class averaged without weights (scikit-learn `roc_auc_score(multi_class="ovr",
/// average="macro")`). Ties count half.
public final class ROCAUC: PredictionRecord {
    static let options = [
        OptionSpec("positive", .integer, default: .number(1), "the positive class with two classes"), scoreOption,
    ]
    let positive: Int

    init(config: Config) throws {
        positive = try config.integer("positive")
        try super.init(owner: config.owner, config: config)
    }

    func classArea(_ label: Int) throws -> Double {
        guard let area = areaUnderCurve(scores: probabilities.map { $0[label] }, positives: targets.map { $0 == label })
        else {
            throw TensorError(
                owner,
                "class \(label) has no \(targets.contains(label) ? "negative" : "positive") samples: the AUC is undefined"
            )
        }
        return area
    }

    public override func compute() throws -> Double {
        try requireSamples()
        if classCount == 2 { return try classArea(positive) }
        return try (0..<classCount).reduce(0) { $0 + (try classArea($1)) } / Double(classCount)
    }

    public override func report() throws -> [String: ConfigValue] {
        var result: [String: ConfigValue] = ["value": .number(try compute())]
        if classCount > 2 { result["per_class"] = .list(try (0..<classCount).map { .number(try classArea($0)) }) }
        return result
    }
}

extension ROCAUC: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "roc_auc", "ROC AUC: binary, or one-vs-rest macro for more classes",
            reference: "Hanley & McNeil, 1982; scikit-learn `roc_auc_score`",
            options: ROCAUC.options, build: ROCAUC.init)
    ]
}
