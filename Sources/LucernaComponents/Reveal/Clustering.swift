import Foundation
import LucernaCore

/// k-means as scikit-learn's `KMeans` computes it: greedy k-means++ seeding (2 + ⌊ln k⌋ candidates per
/// centre, the one lowering the potential most kept), Lloyd iterations until the centres move less than
/// `tolerance` × the mean feature variance (squared, summed) or the labels stop changing, `initializations`
/// restarts keeping the lowest inertia; an empty cluster takes the point farthest from its centre.
///
/// Reference: Arthur & Vassilvitskii, "k-means++", SODA 2007; scikit-learn `sklearn.cluster.KMeans`.
public struct KMeans: Sendable {
    public let clusters: Int
    public var initializations = 10
    public var maximumIterations = 300
    public var tolerance = 1e-4

    public init(clusters: Int) { self.clusters = clusters }

    /// The clustering: a label per sample, the centres (`clusters`×`features`, row-major) and the inertia
    /// (sum of squared distances to the own centre).
    public struct Result: Sendable {
        public let labels: [Int]
        public let centers: [Double]
        public let inertia: Double
    }

    public func fit(points: [Double], samples: Int, features: Int, seed: UInt64 = 0) throws -> Result {
        guard samples >= 1, features >= 1, points.count == samples * features else {
            throw TensorError("kmeans", "needs samples×features values, got \(points.count) for \(samples)×\(features)")
        }
        guard clusters >= 1, clusters <= samples else {
            throw TensorError("kmeans", "asks for \(clusters) clusters of \(samples) samples")
        }
        guard initializations >= 1, maximumIterations >= 1 else {
            throw TensorError("kmeans", "needs at least one initialization and one iteration")
        }
        guard points.allSatisfy(\.isFinite) else {
            throw TensorError("kmeans", "the points have NaN or infinite values")
        }
        // sklearn's tolerance: relative to the mean variance of the features.
        var variance = 0.0
        for feature in 0..<features {
            var mean = 0.0
            for sample in 0..<samples { mean += points[sample * features + feature] }
            mean /= Double(samples)
            var sum = 0.0
            for sample in 0..<samples {
                let difference = points[sample * features + feature] - mean
                sum += difference * difference
            }
            variance += sum / Double(samples)
        }
        let threshold = tolerance * variance / Double(features)
        let generator = RandomGenerator(seed: seed)
        var best: Result?
        for _ in 0..<initializations {
            let centers = plusPlus(points, samples, features, generator)
            let result = lloyd(points, samples, features, centers: centers, threshold: threshold)
            if best == nil || result.inertia < best!.inertia { best = result }
        }
        return best!
    }

    static func squaredDistance(
        _ points: [Double], _ sample: Int, _ centers: [Double], _ center: Int, _ features: Int
    ) -> Double {
        var sum = 0.0
        for feature in 0..<features {
            let difference = points[sample * features + feature] - centers[center * features + feature]
            sum += difference * difference
        }
        return sum
    }

    /// Greedy k-means++.
    func plusPlus(_ points: [Double], _ samples: Int, _ features: Int, _ generator: RandomGenerator) -> [Double] {
        var centers = [Double](repeating: 0, count: clusters * features)
        let trials = 2 + Int(log(Double(clusters)))
        let first = generator.nextInt(below: samples)
        for feature in 0..<features { centers[feature] = points[first * features + feature] }
        var closest = (0..<samples).map { Self.squaredDistance(points, $0, centers, 0, features) }
        var potential = closest.reduce(0, +)
        for center in 1..<max(1, clusters) {
            var bestCandidate = -1
            var bestPotential = Double.infinity
            var bestClosest = closest
            for _ in 0..<trials {
                // Sample ∝ the squared distance to the nearest centre so far.
                var target = generator.nextUniform() * potential
                var candidate = samples - 1
                for sample in 0..<samples {
                    target -= closest[sample]
                    if target < 0 {
                        candidate = sample
                        break
                    }
                }
                var candidateClosest = closest
                var candidatePotential = 0.0
                for sample in 0..<samples {
                    var sum = 0.0
                    for feature in 0..<features {
                        let difference = points[sample * features + feature] - points[candidate * features + feature]
                        sum += difference * difference
                    }
                    candidateClosest[sample] = min(candidateClosest[sample], sum)
                    candidatePotential += candidateClosest[sample]
                }
                if candidatePotential < bestPotential {
                    bestPotential = candidatePotential
                    bestCandidate = candidate
                    bestClosest = candidateClosest
                }
            }
            for feature in 0..<features {
                centers[center * features + feature] = points[bestCandidate * features + feature]
            }
            closest = bestClosest
            potential = bestPotential
        }
        return centers
    }

    /// Lloyd's iterations from `centers`.
    func lloyd(_ points: [Double], _ samples: Int, _ features: Int, centers start: [Double], threshold: Double)
        -> Result
    {
        var centers = start
        var labels = [Int](repeating: -1, count: samples)
        var distances = [Double](repeating: 0, count: samples)
        let pointNorms = (0..<samples).map { sample in
            (0..<features).reduce(0.0) { $0 + points[sample * features + $1] * points[sample * features + $1] }
        }
        var cross = [Double](repeating: 0, count: samples * clusters)
        for _ in 0..<maximumIterations {
            // Squared distances ‖x‖² + ‖c‖² − 2 x·c, the products through BLAS.
            let centerNorms = (0..<clusters).map { center in
                (0..<features).reduce(0.0) { $0 + centers[center * features + $1] * centers[center * features + $1] }
            }
            points.withUnsafeBufferPointer { x in
                centers.withUnsafeBufferPointer { c in
                    cross.withUnsafeMutableBufferPointer { output in
                        Double.gemm(
                            false, true, samples, clusters, features, 1, x.baseAddress!, features, c.baseAddress!,
                            features, 0, output.baseAddress!, clusters)
                    }
                }
            }
            var changed = false
            for sample in 0..<samples {
                var best = 0
                var bestDistance = Double.infinity
                for center in 0..<clusters {
                    let distance = pointNorms[sample] + centerNorms[center] - 2 * cross[sample * clusters + center]
                    if distance < bestDistance {
                        bestDistance = distance
                        best = center
                    }
                }
                if labels[sample] != best { changed = true }
                labels[sample] = best
                distances[sample] = bestDistance
            }
            var sums = [Double](repeating: 0, count: clusters * features)
            var counts = [Int](repeating: 0, count: clusters)
            for sample in 0..<samples {
                counts[labels[sample]] += 1
                for feature in 0..<features {
                    sums[labels[sample] * features + feature] += points[sample * features + feature]
                }
            }
            // An empty cluster takes the point farthest from its own centre.
            var taken = Set<Int>()
            for center in 0..<clusters where counts[center] == 0 {
                let farthest = (0..<samples).filter { !taken.contains($0) }.max { distances[$0] < distances[$1] } ?? 0
                taken.insert(farthest)
                let old = labels[farthest]
                counts[old] -= 1
                for feature in 0..<features {
                    sums[old * features + feature] -= points[farthest * features + feature]
                    sums[center * features + feature] = points[farthest * features + feature]
                }
                counts[center] = 1
                labels[farthest] = center
                changed = true
            }
            var shift = 0.0
            for center in 0..<clusters where counts[center] > 0 {
                for feature in 0..<features {
                    let updated = sums[center * features + feature] / Double(counts[center])
                    let difference = updated - centers[center * features + feature]
                    shift += difference * difference
                    centers[center * features + feature] = updated
                }
            }
            if !changed || shift <= threshold { break }
        }
        // Final assignment and inertia against the final centres.
        var inertia = 0.0
        for sample in 0..<samples {
            var best = 0
            var bestDistance = Double.infinity
            for center in 0..<clusters {
                let distance = Self.squaredDistance(points, sample, centers, center, features)
                if distance < bestDistance {
                    bestDistance = distance
                    best = center
                }
            }
            labels[sample] = best
            inertia += bestDistance
        }
        return Result(labels: labels, centers: centers, inertia: inertia)
    }
}

/// Agglomerative clustering with Ward's linkage (scikit-learn's default): the merge of two clusters costs
/// the increase in within-cluster variance, √(2|A||B|/(|A|+|B|))·‖c_A − c_B‖; merges by the
/// nearest-neighbour chain algorithm (exact for Ward, `O(n²·features)` time and `O(n)` memory from the
/// centroids), the tree cut at `clusters`.
///
/// Reference: Ward, "Hierarchical grouping to optimize an objective function", JASA 1963; Murtagh,
/// "A survey of recent advances in hierarchical clustering algorithms", 1983 (nearest-neighbour chains);
/// scikit-learn `AgglomerativeClustering(linkage="ward")`.
public struct WardClustering: Sendable {
    public let clusters: Int

    public init(clusters: Int) { self.clusters = clusters }

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

/// The adjusted Rand index of two labelings (Hubert & Arabie 1985; scikit-learn's `adjusted_rand_score`):
/// 1 for the same partition whatever the label names, about 0 for independent ones.
public func adjustedRandIndex(_ first: [Int], _ second: [Int]) throws -> Double {
    guard first.count == second.count, !first.isEmpty else {
        throw TensorError(
            "adjusted_rand_index", "needs two labelings of the same samples, got \(first.count) and \(second.count)")
    }
    var table: [Int: [Int: Int]] = [:]
    var rows: [Int: Int] = [:]
    var columns: [Int: Int] = [:]
    for (a, b) in zip(first, second) {
        table[a, default: [:]][b, default: 0] += 1
        rows[a, default: 0] += 1
        columns[b, default: 0] += 1
    }
    func pairs(_ count: Int) -> Double { Double(count) * Double(count - 1) / 2 }
    let index = table.values.flatMap(\.values).reduce(0) { $0 + pairs($1) }
    let rowPairs = rows.values.reduce(0) { $0 + pairs($1) }
    let columnPairs = columns.values.reduce(0) { $0 + pairs($1) }
    let expected = rowPairs * columnPairs / pairs(first.count)
    let maximum = (rowPairs + columnPairs) / 2
    // sklearn: identical trivial partitions (one cluster, or all singletons) score 1.
    guard maximum != expected else { return 1 }
    return (index - expected) / (maximum - expected)
}
