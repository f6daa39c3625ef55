import LucernaCore

/// A linear support vector machine without intercept, trained as scikit-learn's `LinearSVC` trains it by
/// default: L2 penalty, squared hinge loss, C per class (`class_weight = "balanced"` gives class c the
/// weight n / (2 · n_c)), solved in the dual by coordinate descent (Hsieh et al. 2008, liblinear's solver
/// for L2-loss SVMs, without shrinking). Minimises ½‖w‖² + Σ_i C_i · max(0, 1 − y_i wᵀx_i)², whose
/// solution is unique, so any solver run to convergence gives the same vector.
///
/// Reference: Hsieh et al., "A Dual Coordinate Descent Method for Large-scale Linear SVM", ICML 2008;
/// scikit-learn `LinearSVC(fit_intercept=False)`.
public struct LinearSupportVectorMachine: Sendable {
    /// The penalty C.
    public var regularization = 1.0
    /// Stops when the spread of the projected gradient over a sweep falls below this (liblinear's ε).
    public var tolerance = 1e-4
    public var maximumIterations = 1000
    public var balanced = true
    public var seed: UInt64 = 0

    public init() {}

    /// The weight vector for `rows` (`count × width`, row-major) with labels true (positive) or false.
    public func fit(rows: [Double], count: Int, width: Int, labels: [Bool]) throws -> [Double] {
        guard count > 0, width > 0, rows.count == count * width, labels.count == count else {
            throw TensorError(
                "svm",
                "expected \(count) rows of \(width) features and \(count) labels, got \(rows.count) values and \(labels.count) labels"
            )
        }
        let positives = labels.filter { $0 }.count
        guard positives > 0, positives < count else {
            throw TensorError("svm", "both classes need samples; got \(positives) positive of \(count)")
        }
        guard regularization > 0, regularization.isFinite else {
            throw TensorError("svm", "C must be positive, got \(regularization)")
        }
        guard rows.allSatisfy(\.isFinite) else { throw TensorError("svm", "the features contain NaN or infinity") }
        let weightPositive = balanced ? Double(count) / (2 * Double(positives)) : 1
        let weightNegative = balanced ? Double(count) / (2 * Double(count - positives)) : 1
        var diagonal = [Double](repeating: 0, count: count)
        var squaredNorms = [Double](repeating: 0, count: count)
        for sample in 0..<count {
            let cost = regularization * (labels[sample] ? weightPositive : weightNegative)
            diagonal[sample] = 1 / (2 * cost)
            var norm = 0.0
            for feature in 0..<width { norm += rows[sample * width + feature] * rows[sample * width + feature] }
            squaredNorms[sample] = norm + diagonal[sample]
        }
        var alpha = [Double](repeating: 0, count: count)
        var weights = [Double](repeating: 0, count: width)
        let generator = RandomGenerator(seed: seed)
        for _ in 0..<maximumIterations {
            var largest = -Double.infinity
            var smallest = Double.infinity
            for sample in generator.permutation(count) {
                let sign = labels[sample] ? 1.0 : -1.0
                let base = sample * width
                var margin = 0.0
                for feature in 0..<width { margin += weights[feature] * rows[base + feature] }
                let gradient = sign * margin - 1 + diagonal[sample] * alpha[sample]
                let projected = alpha[sample] > 0 ? gradient : min(gradient, 0)
                largest = max(largest, projected)
                smallest = min(smallest, projected)
                guard abs(projected) > 1e-12 else { continue }
                let previous = alpha[sample]
                alpha[sample] = max(previous - gradient / squaredNorms[sample], 0)
                let step = (alpha[sample] - previous) * sign
                for feature in 0..<width { weights[feature] += step * rows[base + feature] }
            }
            if largest - smallest <= tolerance { break }
        }
        return weights
    }
}
