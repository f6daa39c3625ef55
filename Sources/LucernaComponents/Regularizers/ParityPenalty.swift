import LucernaCore
import LucernaNN

/// Differentiable demographic parity and equalized odds, FairTorch's constraint form: with h the predicted
/// probability of the positive class, μ the mean of h over a condition's samples (every sample for
/// demographic parity; those of true class y, for each y, for equalized odds) and μ_g its mean over group
/// g's samples among them, the penalty is weight · Σ [relu(μ_g − μ − c)² + relu(μ − μ_g − c)²] over groups
/// and conditions: zero while every gap is within the slack c. Multi-class logits are one-vs-rest on
/// `positive`, or summed over every class (its conditions y = class and y ≠ class). Groups absent from a
/// batch (or from a condition within it) add nothing.
///
/// FairTorch writes the constraints as `M μ − c` with rows ±(μ_g − μ); its released `DemographicParityLoss`
/// fills `M` so every row pairs group 0 with the mean, which this version does not reproduce: every group is
/// constrained.
///
/// Reference: FairTorch `DemographicParityLoss`, `EqualiedOddsLoss` (Fukuchi, Yabe & Sode, 2020); Agarwal et
/// al., "A Reductions Approach to Fair Classification", ICML 2018 (the moment constraints).
public final class ParityPenalty: Regularizer {
    public enum Criterion: Sendable {
        case demographicParity, equalizedOdds
    }

    public static let options = [
        OptionSpec("weight", .number, default: .number(1), "coefficient α of the squared constraint violations"),
        OptionSpec("slack", .number, default: .number(0), "c: gaps up to this size cost nothing"),
        OptionSpec(
            "positive", .integer,
            "the class whose probability is constrained (one-vs-rest); default class 1 of two, every class of more"),
    ]

    public let criterion: Criterion
    public let weight: Double, slack: Double
    public let positive: Int?

    public init(criterion: Criterion, weight: Double = 1, slack: Double = 0, positive: Int? = nil) {
        self.criterion = criterion
        self.weight = weight
        self.slack = slack
        self.positive = positive
    }

    public convenience init(criterion: Criterion, config: Config) throws {
        self.init(
            criterion: criterion, weight: try config.nonNegativeNumber("weight"),
            slack: try config.nonNegativeNumber("slack"), positive: try config.optionalInteger("positive"))
    }

    var name: String { criterion == .demographicParity ? "demographic_parity" : "equalized_odds" }

    public func requirements(model: RegularizedModel?) throws -> RegularizerRequirements {
        RegularizerRequirements(fields: criterion == .demographicParity ? ["groups"] : ["groups", "targets"])
    }

    public func penalty(_ context: RegularizerContext) throws -> Tensor {
        let logits = try context.require(context.logits, "logits", name)
        let count = logits.shape.first ?? 0
        let groups = try FairnessPenaltyInputs.labels(
            context.require(context.groups, "groups", name), count: count, "groups", owner: name)
        let targets =
            criterion == .equalizedOdds
            ? try FairnessPenaltyInputs.labels(
                context.require(context.targets, "targets", name), count: count, "targets", owner: name) : nil
        var total = try logits.zerosLike().sum()
        for (positiveClass, h) in try FairnessPenaltyInputs.probabilities(logits, positive: positive, owner: name) {
            // The conditions the gaps are measured within.
            var conditions: [[Int]] = [Array(0..<count)]
            if let targets {
                conditions = [
                    targets.indices.filter { targets[$0] == positiveClass },
                    targets.indices.filter { targets[$0] != positiveClass },
                ]
            }
            for rows in conditions where !rows.isEmpty {
                let overall = try h.indexSelect(axis: 0, indices: rows).mean()
                for (_, groupRows) in FairnessPenaltyInputs.groupRows(groups, among: rows) {
                    let gap = try h.indexSelect(axis: 0, indices: groupRows).mean() - overall
                    let above = try (gap - slack).relu()
                    let below = try (gap.negated() - slack).relu()
                    total = try total + above * above + below * below
                }
            }
        }
        return try total * weight
    }
}

extension ParityPenalty: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .regularizer, "demographic_parity",
            "squared-hinge gaps between each group's mean predicted probability and the overall mean (FairTorch)",
            reference: "FairTorch DemographicParityLoss (Fukuchi, Yabe & Sode 2020); Agarwal et al., ICML 2018",
            options: options, build: { try ParityPenalty(criterion: .demographicParity, config: $0) }),
        ComponentEntry(
            .regularizer, "equalized_odds",
            "squared-hinge gaps of each group's mean predicted probability within each true class (FairTorch)",
            reference: "FairTorch EqualiedOddsLoss (Fukuchi, Yabe & Sode 2020); Hardt et al., NeurIPS 2016",
            options: options, build: { try ParityPenalty(criterion: .equalizedOdds, config: $0) }),
    ]
}
