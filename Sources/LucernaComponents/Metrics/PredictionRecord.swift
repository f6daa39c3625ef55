import Foundation
import LucernaCore

/// What the classification and fairness metrics accumulate between `reset`s: per-sample class scores
/// (probabilities: logits are soft-maxed unless `scores = "probabilities"`), targets and groups. Metrics
/// that need every sample (AUC, calibration, subgroup statistics, bootstrap) derive from it.
public class PredictionRecord: Metric {
    static let scoreOption = OptionSpec(
        "scores", .string, default: .string("logits"), "whether predictions [N, C] are logits or probabilities")

    let owner: String
    let scoresAreLogits: Bool
    private(set) var probabilities: [[Double]] = []
    private(set) var targets: [Int] = []
    private(set) var groups: [Int] = []

    init(owner: String, config: Config) throws {
        self.owner = owner
        scoresAreLogits = try config.choice("scores", ["logits", "probabilities"]) == "logits"
    }

    public func update(predictions: Tensor, targets batchTargets: Tensor, groups batchGroups: Tensor?) throws {
        let labels = batchTargets.toIntegers()
        guard batchTargets.rank == 1, predictions.rank == 2, predictions.shape[0] == labels.count else {
            throw TensorError(
                owner,
                "expects scores [N, C] and targets [N], got \(describe(shape: predictions.shape)) and \(describe(shape: batchTargets.shape))"
            )
        }
        let classes = predictions.shape[1]
        guard classes >= 2 else { throw TensorError(owner, "needs at least two classes of scores, got \(classes)") }
        if let first = probabilities.first, first.count != classes {
            throw TensorError(owner, "scores have \(classes) classes, earlier batches had \(first.count)")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw TensorError(owner, "target \(bad) is outside 0..<\(classes)")
        }
        if let batchGroups {
            guard batchGroups.shape == [labels.count] else {
                throw TensorError(owner, "groups \(describe(shape: batchGroups.shape)) must be [N] like the targets")
            }
            guard groups.count == targets.count else {
                throw TensorError(owner, "groups given for some batches but not others")
            }
            groups += batchGroups.toIntegers()
        } else if !groups.isEmpty {
            throw TensorError(owner, "groups given for some batches but not others")
        }
        let values = predictions.toDoubles()
        for sample in 0..<labels.count {
            var row = Array(values[(sample * classes)..<((sample + 1) * classes)])
            guard row.allSatisfy(\.isFinite) else {
                throw TensorError(owner, "scores of sample \(targets.count + sample + 1) are not finite")
            }
            if scoresAreLogits {
                let top = row.max() ?? 0
                row = row.map { exp($0 - top) }
                let total = row.reduce(0, +)
                row = row.map { $0 / total }
            }
            probabilities.append(row)
        }
        targets += labels
    }

    public func reset() {
        probabilities = []
        targets = []
        groups = []
    }

    public func compute() throws -> Double { throw TensorError(owner, "compute is not defined") }

    public func report() throws -> [String: ConfigValue] { ["value": .number(try compute())] }

    /// Predicted classes (first maximum).
    var predicted: [Int] {
        probabilities.map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) } ?? 0 }
    }

    var classCount: Int { probabilities.first?.count ?? 0 }

    func requireSamples() throws {
        guard !targets.isEmpty else { throw TensorError(owner, "no samples seen (call update first)") }
    }

    func requireGroups() throws {
        try requireSamples()
        guard groups.count == targets.count else {
            throw TensorError(owner, "needs groups: update(predictions, targets, groups)")
        }
    }
}

/// Area under the ROC curve of scores against binary truth, with tied scores counted as half (the
/// Mann–Whitney statistic, equal to scikit-learn's `roc_auc_score`); nil when one class is absent.
func areaUnderCurve(scores: [Double], positives: [Bool]) -> Double? {
    let positiveCount = positives.filter { $0 }.count
    let negativeCount = positives.count - positiveCount
    guard positiveCount > 0, negativeCount > 0 else { return nil }
    let ranks = averageRanks(scores)
    let positiveRanks = zip(ranks, positives).filter { $0.1 }.reduce(0) { $0 + $1.0 }
    return (positiveRanks - Double(positiveCount) * Double(positiveCount + 1) / 2)
        / (Double(positiveCount) * Double(negativeCount))
}

/// Ranks from 1 in increasing order, tied values sharing their average rank (scipy's `rankdata`).
func averageRanks(_ values: [Double]) -> [Double] {
    let order = values.indices.sorted { values[$0] < values[$1] }
    var ranks = [Double](repeating: 0, count: values.count)
    var start = 0
    while start < order.count {
        var end = start
        while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
        let average = Double(start + end) / 2 + 1
        for position in start...end { ranks[order[position]] = average }
        start = end + 1
    }
    return ranks
}
