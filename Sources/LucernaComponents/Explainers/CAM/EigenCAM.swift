import Foundation
import LucernaCore
import LucernaNN

/// Eigen-CAM: the projection of the centred activations on their first principal component.
public final class EigenCAM: CAMWeighting {
    public let name = "eigen_cam"
    public let requirement = CAMRequirement.activations
    public init() {}

    public func map(_ layer: CAMLayer) throws -> [Double] {
        Self.principalProjection(layer.activationValues, shape: layer.activations.shape)
    }

    /// Eigen-CAM: per sample, the `[h·w, C]` activations centred over positions, projected on their first
    /// right singular vector (power iteration on the C×C Gram matrix). The singular vector's sign is
    /// arbitrary (LAPACK's in pytorch-grad-cam); it is fixed here so the projection correlates positively
    /// with the channel-summed activations.
    public static func principalProjection(_ a: [Double], shape: [Int]) -> [Double] {
        let (count, channels, plane) = (shape[0], shape[1], shape[2] * shape[3])
        var result = [Double](repeating: 0, count: count * plane)
        for n in 0..<count {
            // 1. X[p][c], centred per channel.
            var x = [Double](repeating: 0, count: plane * channels)
            for c in 0..<channels {
                let base = (n * channels + c) * plane
                let mean = (0..<plane).reduce(0) { $0 + a[base + $1] } / Double(plane)
                for p in 0..<plane { x[p * channels + c] = a[base + p] - mean }
            }
            // 2. Gram matrix G = XᵀX and its leading eigenvector by power iteration.
            var gram = [Double](repeating: 0, count: channels * channels)
            for p in 0..<plane {
                for i in 0..<channels where x[p * channels + i] != 0 {
                    for j in 0..<channels { gram[i * channels + j] += x[p * channels + i] * x[p * channels + j] }
                }
            }
            var vector = (0..<channels).map { 1 + Double($0) * 1e-3 }
            for _ in 0..<5000 {
                var next = [Double](repeating: 0, count: channels)
                for i in 0..<channels { for j in 0..<channels { next[i] += gram[i * channels + j] * vector[j] } }
                let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 0 else { break }
                next = next.map { $0 / norm }
                let change = zip(next, vector).reduce(0) { max($0, abs($1.0 - $1.1)) }
                vector = next
                if change < 1e-13 { break }
            }
            // 3. The projection, signed to agree with the summed activations.
            var projection = (0..<plane).map { p in (0..<channels).reduce(0) { $0 + x[p * channels + $1] * vector[$1] }
            }
            let summed = (0..<plane).map { p in (0..<channels).reduce(0) { $0 + a[(n * channels + $1) * plane + p] } }
            if zip(projection, summed).reduce(0, { $0 + $1.0 * $1.1 }) < 0 { projection = projection.map { -$0 } }
            for p in 0..<plane { result[n * plane + p] = projection[p] }
        }
        return result
    }
}

extension EigenCAM: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "eigen_cam", "Eigen-CAM: first principal component of the activations",
            reference: "Muhammad & Yeasin, \"Eigen-CAM\", IJCNN 2020; pytorch-grad-cam EigenCAM",
            options: ClassActivationMap.options, build: { try ClassActivationMap(weighting: EigenCAM(), config: $0) })
    ]
}
