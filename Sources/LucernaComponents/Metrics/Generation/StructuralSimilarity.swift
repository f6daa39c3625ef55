import Foundation
import LucernaCore

/// The structural similarity index (SSIM) of image pairs, as scikit-image's `structural_similarity(a, b,
/// data_range=R, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` computes it: local means,
/// variances and covariance under a Gaussian window (σ = 1.5, truncated at 3.5σ: radius 5), S = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)) with
/// C1 = (0.01R)², C2 = (0.03R)², averaged over the pixels at least the radius from the border. A pair of
/// `[C, H, W]` images scores the mean of its channels (scikit-image's `channel_axis`). `update(images,
/// references)` takes two tensors of one shape, `[N, H, W]` or `[N, C, H, W]`; `compute()` is the mean over
/// every pair seen.
///
/// Reference: Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
/// structural similarity", IEEE TIP 2004; scikit-image `skimage.metrics.structural_similarity`.
public final class StructuralSimilarity: ImagePairMetric {
    public static let options = [
        OptionSpec("data_range", .number, default: .number(1), "R: the images' value range (1 for [0, 1])"),
        OptionSpec("sigma", .number, default: .number(1.5), "the Gaussian window's standard deviation"),
    ]
    public let window: GaussianWindow
    public let dataRange: Double
    private var sum = 0.0, count = 0

    public init(dataRange: Double = 1, sigma: Double = 1.5) throws {
        guard dataRange > 0, dataRange.isFinite else {
            throw TensorError("metrics.ssim", "data_range must be positive, got \(dataRange)")
        }
        self.dataRange = dataRange
        window = try GaussianWindow(sigma: sigma)
    }

    public convenience init(config: Config) throws {
        try self.init(dataRange: config.number("data_range"), sigma: config.number("sigma"))
    }

    public func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        let planes = try Self.planes(predictions, targets, minimumSide: window.size, owner: "metrics.ssim")
        let first = predictions.toDoubles()
        let second = targets.toDoubles()
        guard first.allSatisfy(\.isFinite), second.allSatisfy(\.isFinite) else {
            throw TensorError("metrics.ssim", "the images or references have NaN or infinite values")
        }
        for image in 0..<planes.images {
            var total = 0.0
            for channel in 0..<planes.channels {
                let start = (image * planes.channels + channel) * planes.height * planes.width
                let range = start..<(start + planes.height * planes.width)
                total += similarity(
                    Array(first[range]), Array(second[range]), height: planes.height, width: planes.width)
            }
            sum += total / Double(planes.channels)
        }
        count += planes.images
    }

    /// The mean SSIM of one `height`×`width` plane pair (row-major values).
    public func similarity(_ first: [Double], _ second: [Double], height: Int, width: Int) -> Double {
        similarity(statistics(first, height: height, width: width), statistics(second, height: height, width: width))
    }

    /// A plane's local means and mean squares at the positions SSIM averages over (at least the window's
    /// radius from the border, where the window never reaches past the edge).
    public struct PlaneStatistics: Sendable {
        public let values: [Double]
        public let height: Int, width: Int
        let means: [Double], squares: [Double]
    }

    public func statistics(_ plane: [Double], height: Int, width: Int) -> PlaneStatistics {
        PlaneStatistics(
            values: plane, height: height, width: width, means: window.valid(plane, height: height, width: width),
            squares: window.valid(plane.map { $0 * $0 }, height: height, width: width))
    }

    /// The mean SSIM of two planes of one size from their statistics; only the local covariance is new.
    public func similarity(_ first: PlaneStatistics, _ second: PlaneStatistics) -> Double {
        let products = window.valid(
            zip(first.values, second.values).map { $0 * $1 }, height: first.height, width: first.width)
        let c1 = (0.01 * dataRange) * (0.01 * dataRange)
        let c2 = (0.03 * dataRange) * (0.03 * dataRange)
        var total = 0.0
        for index in products.indices {
            let mx = first.means[index]
            let my = second.means[index]
            let vx = first.squares[index] - mx * mx
            let vy = second.squares[index] - my * my
            let vxy = products[index] - mx * my
            total += (2 * mx * my + c1) * (2 * vxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        }
        return total / Double(products.count)
    }

    public func compute() throws -> Double {
        guard count > 0 else { throw TensorError("metrics.ssim", "no image pairs seen (call update first)") }
        return sum / Double(count)
    }

    public func reset() { (sum, count) = (0, 0) }

    public func report() throws -> [String: ConfigValue] {
        ["value": .number(try compute()), "pairs": .number(Double(count))]
    }

    /// The layout of two image tensors of one shape, `[N, H, W]` or `[N, C, H, W]`, each side at least
    /// `minimumSide`, finite.
    static func planes(_ first: Tensor, _ second: Tensor, minimumSide: Int, owner: String) throws -> (
        images: Int, channels: Int, height: Int, width: Int
    ) {
        guard first.shape == second.shape, first.rank == 3 || first.rank == 4 else {
            throw TensorError(
                owner,
                "needs images and references of one shape, [N, H, W] or [N, C, H, W], got \(describe(shape: first.shape)) and \(describe(shape: second.shape))"
            )
        }
        let shape = first.shape
        let (height, width) = (shape[shape.count - 2], shape[shape.count - 1])
        guard height >= minimumSide, width >= minimumSide else {
            throw TensorError(
                owner, "images of \(height)×\(width) are smaller than the \(minimumSide)×\(minimumSide) window")
        }
        return (shape[0], first.rank == 4 ? shape[1] : 1, height, width)
    }
}

/// A normalised Gaussian window applied separably, as SciPy's `gaussian_filter(..., truncate=3.5)`: weights
/// exp(−x²/2σ²) for |x| ≤ ⌊3.5σ + 0.5⌋, summing to 1.
public struct GaussianWindow: Sendable {
    public let radius: Int
    public let weights: [Double]
    public var size: Int { 2 * radius + 1 }

    public init(sigma: Double, truncate: Double = 3.5) throws {
        guard sigma > 0, sigma.isFinite else {
            throw TensorError("gaussian window", "sigma must be positive, got \(sigma)")
        }
        radius = Int(truncate * sigma + 0.5)
        let raw = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let total = raw.reduce(0, +)
        weights = raw.map { $0 / total }
    }

    /// The filtered plane at the positions the window covers without reaching past the edge ("valid"
    /// positions, (height − 2·radius)×(width − 2·radius)): rows, then columns, as SciPy's `gaussian_filter`
    /// there, whatever its border mode.
    public func valid(_ plane: [Double], height: Int, width: Int) -> [Double] {
        let (innerHeight, innerWidth) = (height - 2 * radius, width - 2 * radius)
        guard innerHeight > 0, innerWidth > 0 else { return [] }
        var rows = [Double](repeating: 0, count: height * innerWidth)
        var result = [Double](repeating: 0, count: innerHeight * innerWidth)
        plane.withUnsafeBufferPointer { source in
            weights.withUnsafeBufferPointer { kernel in
                for row in 0..<height {
                    for column in 0..<innerWidth {
                        var total = 0.0
                        for offset in 0..<kernel.count {
                            total += kernel[offset] * source[row * width + column + offset]
                        }
                        rows[row * innerWidth + column] = total
                    }
                }
                for row in 0..<innerHeight {
                    for column in 0..<innerWidth {
                        var total = 0.0
                        for offset in 0..<kernel.count {
                            total += kernel[offset] * rows[(row + offset) * innerWidth + column]
                        }
                        result[row * innerWidth + column] = total
                    }
                }
            }
        }
        return result
    }
}

extension StructuralSimilarity: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "ssim", "mean structural similarity of image pairs (Gaussian window σ 1.5, as scikit-image)",
            reference:
                "Wang et al., \"Image quality assessment\", IEEE TIP 2004; skimage.metrics.structural_similarity",
            options: options, build: { try StructuralSimilarity(config: $0) })
    ]
}
