import Foundation
import LucernaCore
import LucernaNN

/// A distance between two sets of samples in a feature space: `update(generated, real)` adds samples to
/// each set (they need not be paired or of equal count). With a `classifier` (a module) and its `layer`,
/// the features are that layer's output in an evaluation-mode forward pass, flattened; without one, the
/// samples themselves, flattened. No Inception network is available here, so these are "classifier"
/// distances: comparable between runs that use the same classifier and layer, not to published
/// Inception-based figures; the floor to report beside them is the same metric between two real sets.
public class FeatureDistanceMetric: ImagePairMetric {
    static let featureOptions = FeatureExtractor.options
    let owner: String
    let extractor: FeatureExtractor
    /// Feature rows of each set, row after row, and their width.
    var generated: [Double] = [], real: [Double] = []
    var width: Int?

    init(config: Config) throws {
        owner = config.owner
        extractor = try FeatureExtractor(config: config)
    }

    func features(_ samples: Tensor) throws -> (values: [Double], width: Int) { try extractor.features(samples) }

    public func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        let (first, second) = (try features(predictions), try features(targets))
        guard first.width == second.width, width == nil || width == first.width else {
            throw TensorError(
                owner,
                "the generated and real features must have one width, got \(first.width) and \(second.width)\(width.map { " after \($0)" } ?? "")"
            )
        }
        width = first.width
        generated += first.values
        real += second.values
    }

    public func reset() { (generated, real, width) = ([], [], nil) }

    public func compute() throws -> Double { throw TensorError(owner, "compute is the subclass's") }

    public func report() throws -> [String: ConfigValue] { ["value": .number(try compute())] }
}

/// The trace of a square matrix `[n, n]`.
func trace(_ matrix: Tensor) -> Double {
    let entries = matrix.toDoubles()
    let size = matrix.shape[0]
    return (0..<size).reduce(0) { $0 + entries[$1 * size + $1] }
}

/// The Fréchet distance between Gaussians fitted to the two feature sets: ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ −
/// 2 tr (Σ₁Σ₂)^½, with sample covariances (N − 1). The trace of the square root is taken as Σ √λᵢ over
/// the eigenvalues of Σ₁^½ Σ₂ Σ₁^½ (symmetric, the same eigenvalues as Σ₁Σ₂), which stays real where
/// SciPy's `sqrtm(Σ₁Σ₂)` can turn complex on nearly singular covariances.
///
/// Reference: Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash
/// equilibrium", NeurIPS 2017; pytorch-fid `calculate_frechet_distance`.
public final class FrechetDistance: FeatureDistanceMetric {
    public override func compute() throws -> Double {
        guard let width, generated.count / width >= 2, real.count / width >= 2 else {
            throw TensorError(owner, "needs at least two generated and two real samples (call update first)")
        }
        let (meanFirst, covarianceFirst) = try Self.moments(generated, width: width)
        let (meanSecond, covarianceSecond) = try Self.moments(real, width: width)
        // Σ₁^½ from Σ₁'s eigendecomposition (negative round-off eigenvalues clipped to 0).
        let (values, vectors) = try DenseLinearAlgebra.symmetricEigen(covarianceFirst.toDoubles(), size: width)
        let basis = try Tensor(shape: [width, width], values: vectors, dtype: .float64)  // row i: vector i
        let roots = try Tensor(shape: [width, 1], values: values.map { max($0, 0).squareRoot() }, dtype: .float64)
        let root = try basis.matmul(basis * roots, transposingSelf: true, transposingOther: false)
        let product = try root.matmul(covarianceSecond).matmul(root)
        let symmetric = try (product + product.transposed(0, 1)) * 0.5
        let traceRoot = try DenseLinearAlgebra.symmetricEigen(symmetric.toDoubles(), size: width).values
            .reduce(0) { $0 + max($1, 0).squareRoot() }
        let shift = zip(meanFirst, meanSecond).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return shift + trace(covarianceFirst) + trace(covarianceSecond) - 2 * traceRoot
    }

    /// The mean and sample covariance (N − 1) of `rows` of `width` values.
    static func moments(_ rows: [Double], width: Int) throws -> (mean: [Double], covariance: Tensor) {
        let count = rows.count / width
        let matrix = try Tensor(shape: [count, width], values: rows, dtype: .float64)
        let mean = try matrix.mean(axes: [0], keepingDimensions: true)
        let centred = try matrix - mean
        let covariance = try centred.matmul(centred, transposingSelf: true, transposingOther: false) / Double(count - 1)
        return (mean.toDoubles(), covariance)
    }
}

/// The kernel distance (KID): the unbiased estimate of the squared maximum mean discrepancy with the cubic
/// polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over `subsets` random subsets of `subset_size`
/// samples drawn without replacement from each set (the subset size is cut to the smaller set's size,
/// reported as `subset_size`), with its standard deviation over the subsets.
///
/// Reference: Bińkowski et al., "Demystifying MMD GANs", ICLR 2018; torch-fidelity / clean-fid
/// `kernel_distance`.
public final class KernelDistance: FeatureDistanceMetric {
    static let options =
        featureOptions + [
            OptionSpec("subsets", .integer, default: .number(100), "random subsets averaged"),
            OptionSpec("subset_size", .integer, default: .number(1000), "samples drawn from each set per subset"),
            OptionSpec("seed", .integer, default: .number(0), "the subsets' random generator"),
        ]
    let subsets: Int, subsetSize: Int, seed: UInt64

    override init(config: Config) throws {
        subsets = try config.positiveInteger("subsets")
        subsetSize = try config.positiveInteger("subset_size")
        seed = UInt64(max(0, try config.integer("seed")))
        try super.init(config: config)
    }

    /// The estimates of every subset.
    func estimates() throws -> [Double] {
        guard let width, generated.count / width >= 2, real.count / width >= 2 else {
            throw TensorError(owner, "needs at least two generated and two real samples (call update first)")
        }
        let (first, second) = (generated.count / width, real.count / width)
        let size = min(subsetSize, first, second)
        let generator = RandomGenerator(seed: seed)
        let all = (
            try Tensor(shape: [first, width], values: generated, dtype: .float64),
            try Tensor(shape: [second, width], values: real, dtype: .float64)
        )
        func kernel(_ a: Tensor, _ b: Tensor) throws -> Tensor {
            let inner = try a.matmul(b, transposingSelf: false, transposingOther: true) / Double(width) + 1
            return try inner * inner * inner
        }
        return try (0..<subsets).map { _ in
            let x = try all.0.indexSelect(axis: 0, indices: Array(generator.permutation(first).prefix(size)))
            let y = try all.1.indexSelect(axis: 0, indices: Array(generator.permutation(second).prefix(size)))
            let (xx, yy, xy) = (try kernel(x, x), try kernel(y, y), try kernel(x, y))
            let within = try xx.sum().item() + yy.sum().item() - trace(xx) - trace(yy)
            let m = Double(size)
            return within / (m * (m - 1)) - 2 * (try xy.sum().item()) / (m * m)
        }
    }

    public override func compute() throws -> Double {
        let values = try estimates()
        return values.reduce(0, +) / Double(values.count)
    }

    public override func report() throws -> [String: ConfigValue] {
        let values = try estimates()
        let mean = values.reduce(0, +) / Double(values.count)
        let spread = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
        let size = min(subsetSize, generated.count / (width ?? 1), real.count / (width ?? 1))
        return ["value": .number(mean), "std": .number(spread), "subset_size": .number(Double(size))]
    }
}

extension FrechetDistance: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "fid",
            "Fréchet distance of generated and real samples in a classifier's feature space (\"classifier FID\")",
            reference: "Heusel et al., NeurIPS 2017; pytorch-fid calculate_frechet_distance",
            options: featureOptions, build: { try FrechetDistance(config: $0) })
    ]
}

extension KernelDistance: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "kid",
            "kernel (polynomial MMD²) distance of generated and real samples in a classifier's feature space",
            reference: "Bińkowski et al., \"Demystifying MMD GANs\", ICLR 2018; torch-fidelity kernel_distance",
            options: options, build: { try KernelDistance(config: $0) })
    ]
}
