import LucernaCore

/// Subgroup (fairness) metrics with Fairlearn's definitions, over the groups passed to `update`: the
/// prediction counts as "selected" when it is the `positive` class. Differences are the largest minus the
/// smallest group value (Fairlearn's `between_groups`), ratios the smallest over the largest.
/// A negative group marks a sample in no subgroup (the madlibs' sentences without an identity term, as
/// `bias_auc` reads them): it is left out, as Fairlearn leaves out rows one does not pass.
/// `report()` adds per-group count, accuracy, F1, selection rate, TPR and FPR.
public final class SubgroupFairness: PredictionRecord {
    public enum Statistic: String {
        case demographicParityDifference, demographicParityRatio, equalizedOddsDifference, equalOpportunityDifference,
            worstGroupAccuracy
    }
    static let options = [
        OptionSpec("positive", .integer, default: .number(1), "the class whose prediction counts as selected"),
        scoreOption,
    ]
    let statistic: Statistic, positive: Int

    init(_ statistic: Statistic, config: Config) throws {
        self.statistic = statistic
        positive = try config.integer("positive")
        try super.init(owner: config.owner, config: config)
    }

    static func builder(_ statistic: Statistic) -> (Config) throws -> SubgroupFairness {
        { try SubgroupFairness(statistic, config: $0) }
    }

    /// Per-group statistics, groups in increasing order.
    public struct GroupStatistics {
        public let group: Int, count: Int
        public let accuracy: Double, selectionRate: Double, truePositiveRate: Double?, falsePositiveRate: Double?,
            f1: Double
    }

    public func perGroup() throws -> [GroupStatistics] {
        try requireGroups()
        let guesses = predicted
        let subgroups = Set(groups).filter { $0 >= 0 }.sorted()
        guard !subgroups.isEmpty else {
            throw TensorError(owner, "no sample is in a subgroup (groups must be >= 0 for subgroup members)")
        }
        return subgroups.map { group in
            let members = groups.indices.filter { groups[$0] == group }
            let selected = members.filter { guesses[$0] == positive }
            let actual = members.filter { targets[$0] == positive }
            let truePositives = selected.filter { targets[$0] == positive }.count
            let negatives = members.count - actual.count
            let falsePositives = selected.count - truePositives
            let precision = selected.isEmpty ? 0 : Double(truePositives) / Double(selected.count)
            let recall = actual.isEmpty ? 0 : Double(truePositives) / Double(actual.count)
            return GroupStatistics(
                group: group, count: members.count,
                accuracy: Double(members.filter { guesses[$0] == targets[$0] }.count) / Double(members.count),
                selectionRate: Double(selected.count) / Double(members.count),
                truePositiveRate: actual.isEmpty ? nil : recall,
                falsePositiveRate: negatives == 0 ? nil : Double(falsePositives) / Double(negatives),
                f1: precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall))
        }
    }

    func spread(_ values: [Double?], _ name: String) throws -> Double {
        let present = values.compactMap { $0 }
        guard let high = present.max(), let low = present.min() else {
            throw TensorError(owner, "no group has a defined \(name)")
        }
        return high - low
    }

    public override func compute() throws -> Double {
        let stats = try perGroup()
        switch statistic {
        case .demographicParityDifference: return try spread(stats.map(\.selectionRate), "selection rate")
        case .demographicParityRatio:
            let rates = stats.map(\.selectionRate)
            guard let high = rates.max(), let low = rates.min() else { return 0 }
            return high == 0 ? 1 : low / high
        case .equalizedOddsDifference:
            return max(
                try spread(stats.map(\.truePositiveRate), "true positive rate"),
                try spread(stats.map(\.falsePositiveRate), "false positive rate"))
        case .equalOpportunityDifference: return try spread(stats.map(\.truePositiveRate), "true positive rate")
        case .worstGroupAccuracy: return stats.map(\.accuracy).min() ?? 0
        }
    }

    public override func report() throws -> [String: ConfigValue] {
        let stats = try perGroup()
        func optional(_ value: Double?) -> ConfigValue { value.map { .number($0) } ?? .null }
        return [
            "value": .number(try compute()),
            "groups": .list(
                stats.map {
                    .table([
                        "group": .number(Double($0.group)), "count": .number(Double($0.count)),
                        "accuracy": .number($0.accuracy), "selection_rate": .number($0.selectionRate),
                        "tpr": optional($0.truePositiveRate), "fpr": optional($0.falsePositiveRate),
                        "f1": .number($0.f1),
                    ])
                }),
        ]
    }
}

extension SubgroupFairness: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "demographic_parity_difference", "largest minus smallest group selection rate",
            reference: "Fairlearn", options: SubgroupFairness.options,
            build: SubgroupFairness.builder(.demographicParityDifference)),
        ComponentEntry(
            .metric, "demographic_parity_ratio", "smallest over largest group selection rate",
            reference: "Fairlearn", options: SubgroupFairness.options,
            build: SubgroupFairness.builder(.demographicParityRatio)),
        ComponentEntry(
            .metric, "equalized_odds_difference", "larger of the TPR and FPR gaps between groups",
            reference: "Fairlearn; Hardt et al., 2016", options: SubgroupFairness.options,
            build: SubgroupFairness.builder(.equalizedOddsDifference)),
        ComponentEntry(
            .metric, "equal_opportunity_difference", "TPR gap between groups",
            reference: "Fairlearn; Hardt et al., 2016", options: SubgroupFairness.options,
            build: SubgroupFairness.builder(.equalOpportunityDifference)),
        ComponentEntry(
            .metric, "worst_group_accuracy", "lowest accuracy over groups; per-group statistics in report()",
            reference: "Sagawa et al., 2020", options: SubgroupFairness.options,
            build: SubgroupFairness.builder(.worstGroupAccuracy)),
    ]
}
