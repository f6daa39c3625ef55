import Foundation
import LucernaCore

/// k-means as scikit-learn's `KMeans` computes it: greedy k-means++ seeding (2 + ⌊ln k⌋ candidates per
/// centre, the one lowering the potential most kept), Lloyd iterations until the centres move less than
/// `tolerance` × the mean feature variance (squared, summed) or the labels stop changing, `initializations`
/// restarts keeping the lowest inertia; an empty cluster takes the point farthest from its centre.
///
/// Reference: Arthur & Vassilvitskii, "k-means++", SODA 2007; scikit-learn `sklearn.cluster.KMeans`.
public final class KMeans: Clustering {
    public static let options = [
        OptionSpec("clusters", .integer, default: .number(8), "the number of clusters (scikit-learn's default 8)"),
        OptionSpec("initializations", .integer, default: .number(10), "k-means++ restarts; the lowest inertia is kept"),
        OptionSpec("maximum_iterations", .integer, default: .number(300), "Lloyd iterations per restart"),
        OptionSpec(
            "tolerance", .number, default: .number(1e-4),
            "stop when the centres' squared shift is below this times the mean feature variance"),
        OptionSpec("seed", .integer, default: .number(0), "the seeding's random generator"),
    ]
    public let clusters: Int
    public var initializations = 10
    public var maximumIterations = 300
    public var tolerance = 1e-4
    public var seed: UInt64 = 0

    public init(clusters: Int) { self.clusters = clusters }

    public init(config: Config) throws {
        clusters = try config.positiveInteger("clusters")
        initializations = try config.positiveInteger("initializations")
        maximumIterations = try config.positiveInteger("maximum_iterations")
        tolerance = try config.nonNegativeNumber("tolerance")
        seed = UInt64(max(0, try config.integer("seed")))
    }

    public func fit(_ points: Tensor) throws -> Tensor {
        let (values, samples, features) = try Self.rows(points, "clusterings.kmeans")
        return try Self.labels(fit(points: values, samples: samples, features: features, seed: seed).labels)
    }

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

    /// The squared distance of each of `count` rows (`features` values each, one after another) to `point`,
    /// into `output`: four rows at a time, each sum over the features in order (the bits of
    /// ``squaredDistance(_:_:_:_:_:)``), four independent sums keeping the adder busy.
    static func squaredDistances(
        to point: UnsafePointer<Double>, rows: UnsafePointer<Double>, count: Int, features: Int,
        into output: UnsafeMutablePointer<Double>
    ) {
        var row = 0
        while row + 4 <= count {
            let (first, second, third, fourth) = (
                rows + row * features, rows + (row + 1) * features, rows + (row + 2) * features,
                rows + (row + 3) * features
            )
            var (sum0, sum1, sum2, sum3) = (0.0, 0.0, 0.0, 0.0)
            for feature in 0..<features {
                let value = point[feature]
                let (d0, d1, d2, d3) = (
                    first[feature] - value, second[feature] - value, third[feature] - value, fourth[feature] - value
                )
                sum0 += d0 * d0
                sum1 += d1 * d1
                sum2 += d2 * d2
                sum3 += d3 * d3
            }
            (output[row], output[row + 1], output[row + 2], output[row + 3]) = (sum0, sum1, sum2, sum3)
            row += 4
        }
        for row in row..<count {
            var sum = 0.0
            for feature in 0..<features {
                let difference = rows[row * features + feature] - point[feature]
                sum += difference * difference
            }
            output[row] = sum
        }
    }

    /// ``squaredDistances(to:rows:count:features:into:)`` from row `row` of `points`.
    static func squaredDistances(
        to points: [Double], row: Int, rows: [Double], count: Int, features: Int, into output: inout [Double]
    ) {
        points.withUnsafeBufferPointer { points in
            rows.withUnsafeBufferPointer { rows in
                output.withUnsafeMutableBufferPointer { output in
                    squaredDistances(
                        to: points.baseAddress! + row * features, rows: rows.baseAddress!, count: count,
                        features: features, into: output.baseAddress!)
                }
            }
        }
    }

    /// Greedy k-means++.
    func plusPlus(_ points: [Double], _ samples: Int, _ features: Int, _ generator: RandomGenerator) -> [Double] {
        var centers = [Double](repeating: 0, count: clusters * features)
        let trials = 2 + Int(log(Double(clusters)))
        let first = generator.nextInt(below: samples)
        for feature in 0..<features { centers[feature] = points[first * features + feature] }
        var closest = (0..<samples).map { Self.squaredDistance(points, $0, centers, 0, features) }
        var potential = closest.reduce(0, +)
        // Two buffers for the trials' distances, swapped rather than copied.
        var bestClosest = closest
        var candidateClosest = closest
        for center in 1..<max(1, clusters) {
            var bestCandidate = -1
            var bestPotential = Double.infinity
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
                var candidatePotential = 0.0
                Self.squaredDistances(
                    to: points, row: candidate, rows: points, count: samples, features: features,
                    into: &candidateClosest)
                for sample in 0..<samples {
                    candidateClosest[sample] = min(closest[sample], candidateClosest[sample])
                    candidatePotential += candidateClosest[sample]
                }
                if candidatePotential < bestPotential {
                    bestPotential = candidatePotential
                    bestCandidate = candidate
                    swap(&bestClosest, &candidateClosest)
                }
            }
            for feature in 0..<features {
                centers[center * features + feature] = points[bestCandidate * features + feature]
            }
            swap(&closest, &bestClosest)
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
        var centerDistances = [Double](repeating: 0, count: clusters)
        for sample in 0..<samples {
            var best = 0
            var bestDistance = Double.infinity
            Self.squaredDistances(
                to: points, row: sample, rows: centers, count: clusters, features: features, into: &centerDistances)
            for center in 0..<clusters {
                let distance = centerDistances[center]
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

extension KMeans: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .clustering, "kmeans",
            "k-means: greedy k-means++ seeding, Lloyd iterations, restarts (scikit-learn's KMeans)",
            reference: "Arthur & Vassilvitskii, \"k-means++: The Advantages of Careful Seeding\", SODA 2007",
            options: options, build: KMeans.init)
    ]
}
