import Foundation
import LucernaCore

/// Normalised mutual information between a clustering and the true labels, as scikit-learn's
/// `normalized_mutual_info_score(labels_true, labels_pred, average_method=...)`: I(U; V) divided by the
/// arithmetic (default), geometric, smaller or larger of the two entropies (natural logarithms). Two
/// labelings that each put every sample in one cluster score 1; a single cluster on one side, 0.
/// `update(cluster_labels, labels)` takes cluster labels `[N]` (or scores `[N, K]`, their arg-max) and the
/// labels `[N]`; `compute()` scores every sample seen.
///
/// Reference: Strehl & Ghosh, "Cluster ensembles", JMLR 2002; Vinh, Epps & Bailey, JMLR 2010;
/// scikit-learn `sklearn.metrics.normalized_mutual_info_score`.
public final class NormalizedMutualInformation: Metric {
    public static let options = [
        OptionSpec(
            "average", .string, default: .string("arithmetic"),
            "the entropies' mean that normalises: arithmetic, geometric, min or max")
    ]
    public let average: String
    private var clusters: [Int] = [], labels: [Int] = []

    public init(average: String = "arithmetic") { self.average = average }

    public convenience init(config: Config) throws {
        self.init(average: try config.choice("average", ["arithmetic", "geometric", "min", "max"]))
    }

    public func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        guard targets.rank == 1, predictions.shape.first == targets.shape[0], predictions.rank <= 2 else {
            throw TensorError(
                "metrics.nmi",
                "needs cluster labels [N] (or scores [N, K]) and labels [N], got \(describe(shape: predictions.shape)) and \(describe(shape: targets.shape))"
            )
        }
        clusters += predictions.rank == 2 ? try predictions.argmax(axis: 1).toIntegers() : predictions.toIntegers()
        labels += targets.toIntegers()
    }

    public func compute() throws -> Double {
        guard !labels.isEmpty else { throw TensorError("metrics.nmi", "no samples seen (call update first)") }
        return Self.score(labels, clusters, average: average)
    }

    public func reset() { (clusters, labels) = ([], []) }

    /// scikit-learn's value for two labelings of the same samples.
    public static func score(_ truth: [Int], _ predicted: [Int], average: String = "arithmetic") -> Double {
        let counts = ContingencyTable(truth, predicted)
        let (joint, rows, columns) = (counts.joint, counts.rows, counts.columns)
        // Both sides one cluster: the same (trivial) partition.
        if rows.count == 1 && columns.count == 1 { return 1 }
        guard rows.count > 1, columns.count > 1 else { return 0 }
        let total = Double(truth.count)
        var information = 0.0
        for (a, row) in joint {
            for (b, cell) in row {
                // scikit-learn's per-cell term, terms below machine epsilon dropped as it drops them.
                let count = Double(cell)
                let (row, column) = (Double(rows[a, default: 1]), Double(columns[b, default: 1]))
                let term = count / total * (log(count) + log(total) - log(row) - log(column))
                if abs(term) >= Double.ulpOfOne { information += term }
            }
        }
        information = max(0, information)
        guard information > 0 else { return 0 }
        func entropy(_ counts: Dictionary<Int, Int>.Values) -> Double {
            -counts.reduce(0) { $0 + Double($1) / total * (log(Double($1)) - log(total)) }
        }
        let (first, second) = (entropy(rows.values), entropy(columns.values))
        let normaliser: Double
        switch average {
        case "geometric": normaliser = (first * second).squareRoot()
        case "min": normaliser = min(first, second)
        case "max": normaliser = max(first, second)
        default: normaliser = (first + second) / 2
        }
        return information / normaliser
    }
}

extension NormalizedMutualInformation: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "nmi", "normalised mutual information of a clustering with the labels",
            reference: "Strehl & Ghosh, JMLR 2002; sklearn.metrics.normalized_mutual_info_score",
            options: options, build: { try NormalizedMutualInformation(config: $0) })
    ]
}
