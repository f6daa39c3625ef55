import LucernaCore

/// DBSCAN as scikit-learn computes it: a sample with at least `minimum_samples` samples (itself included)
/// within Euclidean distance `eps` is a core sample; clusters are the core samples connected through such
/// neighbourhoods together with the non-core samples within `eps` of one of them (a border sample goes to
/// the first cluster found, clusters being grown from the samples in order); the rest is noise (-1).
///
/// Reference: Ester, Kriegel, Sander & Xu, "A Density-Based Algorithm for Discovering Clusters in Large
/// Spatial Databases with Noise", KDD 1996; scikit-learn `sklearn.cluster.DBSCAN`.
public final class DBSCAN: Clustering {
    public static let options = [
        OptionSpec("eps", .number, default: .number(0.5), "the neighbourhood radius (Euclidean)"),
        OptionSpec(
            "minimum_samples", .integer, default: .number(5),
            "samples within eps (the sample itself included) that make a core sample"),
    ]
    public let radius: Double
    public let minimumSamples: Int

    public init(radius: Double, minimumSamples: Int) {
        self.radius = radius
        self.minimumSamples = minimumSamples
    }

    public init(config: Config) throws {
        radius = try config.nonNegativeNumber("eps")
        minimumSamples = try config.positiveInteger("minimum_samples")
    }

    public func fit(_ points: Tensor) throws -> Tensor {
        let (values, samples, features) = try Self.rows(points, "clusterings.dbscan")
        return try Self.labels(fit(points: values, samples: samples, features: features))
    }

    /// A label per sample, clusters numbered in the order they are found, -1 for noise.
    public func fit(points: [Double], samples: Int, features: Int) throws -> [Int] {
        guard samples >= 1, features >= 1, points.count == samples * features else {
            throw TensorError("dbscan", "needs samples×features values, got \(points.count) for \(samples)×\(features)")
        }
        // 1. Every sample's neighbourhood within eps (itself included), squared distances through BLAS.
        let norms = (0..<samples).map { sample in
            (0..<features).reduce(0.0) { $0 + points[sample * features + $1] * points[sample * features + $1] }
        }
        let limit = radius * radius
        var neighbourhoods = [[Int]](repeating: [], count: samples)
        let blockRows = 256
        var products = [Double](repeating: 0, count: blockRows * samples)
        for start in stride(from: 0, to: samples, by: blockRows) {
            let rows = min(blockRows, samples - start)
            points.withUnsafeBufferPointer { x in
                products.withUnsafeMutableBufferPointer { output in
                    Double.gemm(
                        false, true, rows, samples, features, 1, x.baseAddress! + start * features, features,
                        x.baseAddress!, features, 0, output.baseAddress!, samples)
                }
            }
            for row in 0..<rows {
                let sample = start + row
                neighbourhoods[sample] = (0..<samples).filter { other in
                    other == sample
                        || max(0, norms[sample] + norms[other] - 2 * products[row * samples + other]) <= limit
                }
            }
        }
        // 2. Grow a cluster from each unlabelled core sample in order (depth first, as scikit-learn).
        let core = neighbourhoods.map { $0.count >= minimumSamples }
        var labels = [Int](repeating: -1, count: samples)
        var next = 0
        for seed in 0..<samples where labels[seed] == -1 && core[seed] {
            var stack = [seed]
            while let sample = stack.popLast() {
                guard labels[sample] == -1 else { continue }
                labels[sample] = next
                if core[sample] { stack.append(contentsOf: neighbourhoods[sample].filter { labels[$0] == -1 }) }
            }
            next += 1
        }
        return labels
    }
}

extension DBSCAN: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .clustering, "dbscan",
            "density-based clustering: core samples within eps, noise labelled -1 (scikit-learn's DBSCAN)",
            reference: "Ester et al., \"A Density-Based Algorithm for Discovering Clusters\", KDD 1996",
            options: options, build: DBSCAN.init)
    ]
}
