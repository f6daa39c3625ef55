import Foundation
import LucernaCore

/// Group distributionally robust optimisation with the online algorithm of the reference code: each step,
/// the mean loss l_g of every group g in the batch (0 for a group the batch lacks), the weights
/// q_g ← q_g · exp(η · (l_g + C / √n_g)) normalised to sum 1 (n_g the group's size in the training data, C the
/// size adjustment), and the loss Σ_g q_g · l_g. Groups are the protected attribute crossed with the label
/// (`with_labels = true`, the paper's (attribute, label) groups) or the attribute alone. The weights start
/// uniform, are saved in checkpoints, and are logged every epoch (`train_group_weight_<g>`) with each group's
/// mean loss over the epoch (`train_group_loss_<g>`); the paper pairs the method with strong weight decay.
///
/// Reference: Sagawa, Koh, Hashimoto & Liang, "Distributionally Robust Neural Networks for Group Shifts",
/// ICLR 2020 (kohpangwei/group_DRO, `loss.py` `LossComputer.compute_robust_loss`: step size 0.01).
public final class GroupDRO: TrainingMethod {
    public static let options = [
        OptionSpec("step_size", .number, default: .number(0.01), "η, the step size of the group weights"),
        OptionSpec(
            "adjustment", .number, default: .number(0), "C of the size adjustment C / √n_g added to each group's loss"),
        OptionSpec(
            "with_labels", .boolean, default: .boolean(true),
            "groups are (attribute, label) pairs (true) or the attribute alone"),
    ]
    public let stepSize: Double
    public let adjustment: Double
    public let withLabels: Bool
    /// q, the group weights (float64 `[G]`), once `prepare` has seen the data.
    public private(set) var weights: Tensor?
    public private(set) var groupSizes: [Int] = []
    private var classes = 1
    private var lossSums: [Double] = []
    private var lossCounts: [Int] = []

    public init(stepSize: Double = 0.01, adjustment: Double = 0, withLabels: Bool = true) {
        self.stepSize = stepSize
        self.adjustment = adjustment
        self.withLabels = withLabels
    }

    public convenience init(config: Config) throws {
        self.init(
            stepSize: try config.nonNegativeNumber("step_size"), adjustment: try config.nonNegativeNumber("adjustment"),
            withLabels: try config.boolean("with_labels"))
    }

    public var fields: [String] { withLabels ? ["groups", "targets"] : ["groups"] }

    /// The group of each sample: the attribute, or attribute · classes + label.
    public func groupIndices(groups: [Int], labels: [Int]?) -> [Int] {
        guard withLabels, let labels else { return groups }
        return zip(groups, labels).map { $0 * classes + $1 }
    }

    public func prepare(_ data: TensorDataset, keys: TrainingKeys) throws {
        let name = "group_dro"
        let groups = try TrainingMethodInputs.labels(data.tensor(keys.groups), keys.groups, owner: name)
        var labels: [Int]?
        if withLabels {
            labels = try TrainingMethodInputs.labels(
                data.tensor(keys.target), keys.target, count: groups.count, owner: name)
            classes = (labels?.max() ?? 0) + 1
        }
        let indices = groupIndices(groups: groups, labels: labels)
        let count = (indices.max() ?? 0) + 1
        guard count <= 10_000 else { throw TensorError(name, "\(count) groups; at most 10000") }
        groupSizes = Array(repeating: 0, count: count)
        for index in indices { groupSizes[index] += 1 }
        if weights?.count != count {
            weights = try Tensor(
                shape: [count], values: Array(repeating: 1 / Double(count), count: count), dtype: .float64)
        }
        beginEpoch()
    }

    public func loss(_ losses: Tensor, _ context: RegularizerContext) throws -> Tensor {
        let name = "group_dro"
        let count = losses.shape.first
        _ = try checked(losses, count: count, name)
        guard !groupSizes.isEmpty, weights != nil else {
            throw TensorError(name, "prepare was not called with the training data")
        }
        let groups = try TrainingMethodInputs.labels(context.groups, "groups", count: count, owner: name)
        let labels =
            withLabels ? try TrainingMethodInputs.labels(context.targets, "targets", count: count, owner: name) : nil
        let indices = groupIndices(groups: groups, labels: labels)
        let groupCount = groupSizes.count
        guard let outside = indices.first(where: { $0 >= groupCount }) else {
            return try robustLoss(losses, indices: indices)
        }
        throw TensorError(name, "the batch has group \(outside), the training data only \(groupCount) groups")
    }

    /// Σ_g q_g · l_g after the weights' update, with l_g the mean loss of group g in the batch.
    func robustLoss(_ losses: Tensor, indices: [Int]) throws -> Tensor {
        guard let weights else { throw TensorError("group_dro", "prepare was not called with the training data") }
        let groupCount = groupSizes.count
        let (groupLosses, members) = try losses.reshaped([indices.count]).groupMeans(
            groups: indices, groupCount: groupCount)
        let values = groupLosses.detach().toDoubles()
        var updated = weights.toDoubles()
        for group in 0..<groupCount {
            let adjusted = values[group] + (adjustment > 0 ? adjustment / Double(groupSizes[group]).squareRoot() : 0)
            updated[group] *= Foundation.exp(stepSize * adjusted)
            if members[group] > 0 {
                lossSums[group] += values[group] * Double(members[group])
                lossCounts[group] += members[group]
            }
        }
        let total = updated.reduce(0, +)
        guard total.isFinite, total > 0 else {
            throw TensorError("group_dro", "the group weights overflowed (step size \(stepSize) too large)")
        }
        try weights.assign(try Tensor(shape: [groupCount], values: updated.map { $0 / total }, dtype: .float64))
        return try (groupLosses * weights.to(losses.dtype)).sum()
    }

    public func beginEpoch() {
        lossSums = Array(repeating: 0, count: groupSizes.count)
        lossCounts = Array(repeating: 0, count: groupSizes.count)
    }

    public func epochValues() -> [(name: String, value: Double)] {
        let current = weights?.toDoubles() ?? []
        var values = current.enumerated().map { (name: "group_weight_\($0.offset)", value: $0.element) }
        for group in lossSums.indices where lossCounts[group] > 0 {
            values.append(("group_loss_\(group)", lossSums[group] / Double(lossCounts[group])))
        }
        return values
    }

    public var state: [(name: String, tensor: Tensor)] { weights.map { [("group_weights", $0)] } ?? [] }
}

extension GroupDRO: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .method, "group_dro",
            "group DRO: online exponentiated weights on the groups' losses, the loss their weighted sum",
            reference:
                "Sagawa, Koh, Hashimoto & Liang, \"Distributionally Robust Neural Networks for Group Shifts\", ICLR 2020",
            options: options, build: GroupDRO.init)
    ]
}
