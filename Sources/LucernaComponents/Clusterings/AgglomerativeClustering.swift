import LucernaCore

/// Agglomerative clustering with Ward's linkage (scikit-learn's default): the merge of two clusters costs
/// the increase in within-cluster variance, √(2|A||B|/(|A|+|B|))·‖c_A − c_B‖; merges by the
/// nearest-neighbour chain algorithm (exact for Ward, `O(n²·features)` time and `O(n)` memory from the
/// centroids), the tree cut at `clusters`.
///
/// Reference: Ward, "Hierarchical grouping to optimize an objective function", JASA 1963; Murtagh,
/// "A survey of recent advances in hierarchical clustering algorithms", 1983 (nearest-neighbour chains);
/// scikit-learn `AgglomerativeClustering(linkage="ward")`.
public final class AgglomerativeClustering: Clustering {
    public static let options = [
        OptionSpec(
            "clusters", .integer, default: .number(2),
            "the number of clusters the tree is cut at (scikit-learn's default 2)")
    ]
    public let clusters: Int

    public init(clusters: Int) { self.clusters = clusters }

    public init(config: Config) throws { clusters = try config.positiveInteger("clusters") }

    public func fit(_ points: Tensor) throws -> Tensor {
        let (values, samples, features) = try Self.rows(points, "clusterings.agglomerative")
        return try Self.labels(fit(points: values, samples: samples, features: features).labels)
    }

    /// A merge of the tree: the two clusters (by their smallest sample) and the linkage distance.
    public struct Merge: Sendable {
        public let first: Int, second: Int, distance: Double
    }

    /// Labels numbered 0..<clusters in order of each cluster's first sample, and the merges in order of
    /// distance.
    public func fit(points: [Double], samples: Int, features: Int) throws -> (labels: [Int], merges: [Merge]) {
        guard samples >= 1, features >= 1, points.count == samples * features else {
            throw TensorError("ward", "needs samples×features values, got \(points.count) for \(samples)×\(features)")
        }
        guard clusters >= 1, clusters <= samples else {
            throw TensorError("ward", "asks for \(clusters) clusters of \(samples) samples")
        }
        guard points.allSatisfy(\.isFinite) else { throw TensorError("ward", "the points have NaN or infinite values") }
        var centroids = points
        var sizes = [Double](repeating: 1, count: samples)
        var active = Array(0..<samples)  // cluster ids (the slot of a representative sample)
        var position = Array(0..<samples)  // index in `active`, -1 once merged away
        func cost(_ a: Int, _ b: Int) -> Double {
            var sum = 0.0
            for feature in 0..<features {
                let difference = centroids[a * features + feature] - centroids[b * features + feature]
                sum += difference * difference
            }
            return (2 * sizes[a] * sizes[b] / (sizes[a] + sizes[b]) * sum).squareRoot()
        }
        var merges: [Merge] = []
        var chain: [Int] = []
        while active.count > 1 {
            if chain.isEmpty { chain.append(active[0]) }
            let top = chain[chain.count - 1]
            // The nearest active cluster of the chain's top; the previous chain element wins a tie (so the
            // chain always ends in a reciprocal pair).
            var nearest = -1
            var nearestDistance = Double.infinity
            for other in active where other != top {
                let distance = cost(top, other)
                if distance < nearestDistance {
                    nearest = other
                    nearestDistance = distance
                }
            }
            if chain.count > 1 {
                let previous = chain[chain.count - 2]
                let distance = cost(top, previous)
                if distance <= nearestDistance {
                    nearest = previous
                    nearestDistance = distance
                }
            }
            if chain.count > 1 && nearest == chain[chain.count - 2] {
                // Reciprocal nearest neighbours: merge them into the smaller id.
                chain.removeLast(2)
                let (keep, drop) = (min(top, nearest), max(top, nearest))
                let total = sizes[keep] + sizes[drop]
                for feature in 0..<features {
                    centroids[keep * features + feature] =
                        (sizes[keep] * centroids[keep * features + feature] + sizes[drop]
                            * centroids[drop * features + feature]) / total
                }
                sizes[keep] = total
                merges.append(Merge(first: keep, second: drop, distance: nearestDistance))
                let index = position[drop]
                let last = active.removeLast()
                if last != drop {
                    active[index] = last
                    position[last] = index
                }
                position[drop] = -1
            } else {
                chain.append(nearest)
            }
        }
        // Cut: apply the samples − clusters cheapest merges (Ward is reducible, so their order is the tree's).
        let ordered = merges.enumerated().sorted { ($0.element.distance, $0.offset) < ($1.element.distance, $1.offset) }
            .map(\.element)
        var parent = Array(0..<samples)
        func root(_ node: Int) -> Int {
            var node = node
            while parent[node] != node {
                parent[node] = parent[parent[node]]
                node = parent[node]
            }
            return node
        }
        for merge in ordered.prefix(samples - clusters) {
            let (a, b) = (root(merge.first), root(merge.second))
            parent[max(a, b)] = min(a, b)
        }
        var numbering: [Int: Int] = [:]
        let labels = (0..<samples).map { sample -> Int in
            let cluster = root(sample)
            if let label = numbering[cluster] { return label }
            numbering[cluster] = numbering.count
            return numbering.count - 1
        }
        return (labels, ordered)
    }
}

extension AgglomerativeClustering: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .clustering, "agglomerative",
            "agglomerative clustering with Ward's linkage, cut at a number of clusters (scikit-learn's AgglomerativeClustering)",
            reference: "Ward, \"Hierarchical Grouping to Optimize an Objective Function\", JASA 1963",
            options: options, build: AgglomerativeClustering.init)
    ]
}
