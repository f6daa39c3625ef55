import Foundation
import LucernaCore

/// How much two sets of attribution maps of the same inputs differ (clean vs adversarial inputs, two
/// models, two explainers), per sample: the intersection over union of their top-k features (k = `top` ×
/// the features per map, rounded half up, at least 1; ties broken by position) and Spearman's rank
/// correlation of all features (average ranks for ties; 0 when either map is constant). Maps `[N, ...]`,
/// compared over everything after the first axis.
///
/// Reference: Ghorbani, Abid & Zou, "Interpretation of Neural Networks Is Fragile", AAAI 2019 (top-k
/// intersection and Spearman's rank correlation between the maps of an input and its perturbed copy).
public enum ExplanationShift {
    public struct Result {
        public let intersectionOverUnion: [Double]
        public let rankCorrelation: [Double]
    }

    public static func compare(_ first: Tensor, _ second: Tensor, top: Double = 0.2) throws -> Result {
        guard first.shape == second.shape, first.rank >= 2 else {
            throw TensorError(
                "explanation_shift",
                "maps must be [N, ...] with the same shape, got \(describe(shape: first.shape)) and \(describe(shape: second.shape))"
            )
        }
        guard top > 0, top <= 1 else { throw TensorError("explanation_shift", "top must be in (0, 1], got \(top)") }
        let count = first.shape[0]
        let size = first.count / max(count, 1)
        let a = try first.to(.float64).toDoubles()
        let b = try second.to(.float64).toDoubles()
        guard a.allSatisfy(\.isFinite), b.allSatisfy(\.isFinite) else {
            throw TensorError("explanation_shift", "maps must be finite")
        }
        let k = max(1, Int((top * Double(size) + 0.5).rounded(.down)))
        var overlaps: [Double] = []
        var correlations: [Double] = []
        for sample in 0..<count {
            let x = Array(a[sample * size..<(sample + 1) * size])
            let y = Array(b[sample * size..<(sample + 1) * size])
            let topX = Set(topIndices(x, k))
            let topY = Set(topIndices(y, k))
            overlaps.append(Double(topX.intersection(topY).count) / Double(topX.union(topY).count))
            correlations.append(pearson(averageRanks(x), averageRanks(y)))
        }
        return Result(intersectionOverUnion: overlaps, rankCorrelation: correlations)
    }

    /// The positions of the `k` largest values, ties by position.
    static func topIndices(_ values: [Double], _ k: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(k))
    }

    static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        let meanX = x.reduce(0, +) / n
        let meanY = y.reduce(0, +) / n
        var covariance = 0.0
        var varianceX = 0.0
        var varianceY = 0.0
        for (u, v) in zip(x, y) {
            covariance += (u - meanX) * (v - meanY)
            varianceX += (u - meanX) * (u - meanX)
            varianceY += (v - meanY) * (v - meanY)
        }
        return varianceX > 0 && varianceY > 0 ? covariance / (varianceX * varianceY).squareRoot() : 0
    }
}
