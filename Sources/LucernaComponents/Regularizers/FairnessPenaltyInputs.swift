import LucernaCore
import LucernaNN

/// What the fairness penalties share: the predicted probabilities a penalty constrains and the samples of
/// each subgroup in the batch.
enum FairnessPenaltyInputs {
    /// The probability columns a penalty constrains, each with its class: a single logit `[N]` or `[N, 1]`
    /// is the positive class's (sigmoid); `[N, C]` logits are softmaxed, and `positive` picks one class
    /// (one-vs-rest), else class 1 of two, else every class.
    static func probabilities(_ logits: Tensor, positive: Int?, owner: String) throws -> [(class: Int, values: Tensor)]
    {
        let count = logits.shape.first ?? 0
        if logits.rank == 1 || (logits.rank == 2 && logits.shape[1] == 1) {
            if let positive, positive != 1 {
                throw ConfigurationError(
                    owner, "positive = \(positive), but a single logit gives the probability of class 1")
            }
            return [(1, try logits.reshaped([count]).sigmoid())]
        }
        guard logits.rank == 2, logits.shape[1] >= 2 else {
            throw TensorError(owner, "logits must be [N], [N, 1] or [N, classes], got \(describe(shape: logits.shape))")
        }
        let classes = logits.shape[1]
        if let positive, !(0..<classes).contains(positive) {
            throw ConfigurationError(owner, "positive = \(positive) is not a class of logits with \(classes) classes")
        }
        let probabilities = try logits.softmax(axis: 1)
        let chosen = positive.map { [$0] } ?? (classes == 2 ? [1] : Array(0..<classes))
        return try chosen.map { ($0, try probabilities.sliced(axis: 1, start: $0, end: $0 + 1).reshaped([count])) }
    }

    /// Integer labels `[N]` (groups, targets) checked against the batch size.
    static func labels(_ tensor: Tensor, count: Int, _ field: String, owner: String) throws -> [Int] {
        guard tensor.shape == [count] || (tensor.rank == 2 && tensor.shape == [count, 1]) else {
            throw TensorError(
                owner, "\(field) must be [\(count)] (one per sample), got \(describe(shape: tensor.shape))")
        }
        let values = tensor.toDoubles()
        guard values.allSatisfy({ $0 >= 0 && $0 < 1e9 && $0.rounded() == $0 }) else {
            throw TensorError(owner, "\(field) must hold non-negative integer labels")
        }
        return values.map { Int($0) }
    }

    /// The rows of each group, in group order (groups absent from `rows` left out).
    static func groupRows(_ groups: [Int], among rows: [Int]) -> [(group: Int, rows: [Int])] {
        var byGroup: [Int: [Int]] = [:]
        for row in rows { byGroup[groups[row], default: []].append(row) }
        return byGroup.keys.sorted().map { ($0, byGroup[$0] ?? []) }
    }
}
