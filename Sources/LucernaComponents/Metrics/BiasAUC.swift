import Foundation
import LucernaCore

/// Borkan et al.'s bias AUCs for text classifiers, per identity group g (groups ≥ 0; −1 is no identity):
/// subgroup AUC (samples in g), BPSN AUC (background positives with subgroup negatives) and BNSP AUC
/// (background negatives with subgroup positives), on the `positive` class's probability. `compute()`
/// is the Jigsaw summary 0.25·overall AUC + 0.75·mean of the three power means (p = −5) over groups;
/// `report()` holds every AUC and the power means. Groups with an undefined AUC are left out of its mean.
public final class BiasAUC: PredictionRecord {
    static let options = [
        OptionSpec("positive", .integer, default: .number(1), "the toxic class"),
        OptionSpec("power", .number, default: .number(-5), "exponent of the generalized mean over groups"), scoreOption,
    ]
    let positive: Int, power: Double

    init(config: Config) throws {
        positive = try config.integer("positive")
        power = try config.number("power")
        guard power != 0 else { throw ConfigurationError(config.owner, "power must not be 0") }
        try super.init(owner: config.owner, config: config)
    }

    public struct GroupAUCs {
        public let group: Int
        public let subgroup: Double?, bpsn: Double?, bnsp: Double?
    }

    public func perGroup() throws -> (overall: Double, groups: [GroupAUCs]) {
        try requireGroups()
        let scores = probabilities.map { $0[positive] }
        let truth = targets.map { $0 == positive }
        guard let overall = areaUnderCurve(scores: scores, positives: truth) else {
            throw TensorError(owner, "needs both classes in the targets")
        }
        func area(_ members: [Int]) -> Double? {
            areaUnderCurve(scores: members.map { scores[$0] }, positives: members.map { truth[$0] })
        }
        let result = Set(groups).filter { $0 >= 0 }.sorted().map { group -> GroupAUCs in
            let inGroup = groups.indices.filter { groups[$0] == group }
            let background = groups.indices.filter { groups[$0] != group }
            return GroupAUCs(
                group: group, subgroup: area(inGroup),
                bpsn: area(background.filter { truth[$0] } + inGroup.filter { !truth[$0] }),
                bnsp: area(background.filter { !truth[$0] } + inGroup.filter { truth[$0] }))
        }
        return (overall, result)
    }

    func powerMean(_ values: [Double?]) -> Double? {
        let present = values.compactMap { $0 }
        guard !present.isEmpty else { return nil }
        return pow(present.reduce(0) { $0 + pow($1, power) } / Double(present.count), 1 / power)
    }

    public override func compute() throws -> Double {
        let (overall, stats) = try perGroup()
        guard let subgroup = powerMean(stats.map(\.subgroup)), let bpsn = powerMean(stats.map(\.bpsn)),
            let bnsp = powerMean(stats.map(\.bnsp))
        else {
            throw TensorError(owner, "no identity group has defined AUCs (groups must be >= 0 for identity samples)")
        }
        return 0.25 * overall + 0.75 * (subgroup + bpsn + bnsp) / 3
    }

    public override func report() throws -> [String: ConfigValue] {
        let (overall, stats) = try perGroup()
        func optional(_ value: Double?) -> ConfigValue { value.map { .number($0) } ?? .null }
        return [
            "value": .number(try compute()), "overall_auc": .number(overall),
            "subgroup_auc_power_mean": optional(powerMean(stats.map(\.subgroup))),
            "bpsn_auc_power_mean": optional(powerMean(stats.map(\.bpsn))),
            "bnsp_auc_power_mean": optional(powerMean(stats.map(\.bnsp))),
            "groups": .list(
                stats.map {
                    .table([
                        "group": .number(Double($0.group)), "subgroup_auc": optional($0.subgroup),
                        "bpsn_auc": optional($0.bpsn), "bnsp_auc": optional($0.bnsp),
                    ])
                }),
        ]
    }
}

extension BiasAUC: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "bias_auc",
            "Borkan et al.'s subgroup, BPSN and BNSP AUCs per identity group and their Jigsaw summary",
            reference:
                "Borkan, Dixon, Sorensen, Thain & Vasserman, \"Nuanced Metrics for Measuring Unintended Bias with Real Data for Text Classification\", WWW 2019",
            options: BiasAUC.options, build: BiasAUC.init)
    ]
}
