import LucernaCore
import LucernaNN

/// The values an attack may give the input features: one interval for every feature (pixels in [0, 1]),
/// or one per feature of a sample (a joint multimodal attack gives each modality its own). Bounds may be
/// infinite (an unbounded feature such as a log-mel energy).
public struct ValidRange: Sendable, Equatable {
    /// Lower and upper bounds: one value for every feature, or one per feature of a sample.
    public let low: [Double], high: [Double]

    /// One interval for every feature.
    public init(low: Double, high: Double) {
        self.low = [low]
        self.high = [high]
    }

    /// One interval per feature of a sample (`low[i] < high[i]`).
    public init(low: [Double], high: [Double], owner: String = "attack") throws {
        guard !low.isEmpty, low.count == high.count else {
            throw TensorError(
                owner, "a valid range needs as many lower as upper bounds, got \(low.count) and \(high.count)")
        }
        if let bad = low.indices.first(where: { !(low[$0] < high[$0]) }) {
            throw TensorError(
                owner,
                "the valid range of feature \(bad) is [\(low[bad]), \(high[bad])]: the lower bound must be below the upper"
            )
        }
        self.low = low
        self.high = high
    }

    /// Whether one interval holds for every feature.
    public var isUniform: Bool { low.count == 1 }

    /// `value` clamped to the range of `feature` (the index within a sample).
    @inline(__always)
    public func clamp(_ value: Double, feature: Int) -> Double {
        low.count == 1 ? min(max(value, low[0]), high[0]) : min(max(value, low[feature]), high[feature])
    }

    /// `value`, the element at `index` of a flat batch of samples of `size` features, clamped.
    @inline(__always)
    public func clamp(_ value: Double, index: Int, size: Int) -> Double {
        low.count == 1 ? min(max(value, low[0]), high[0]) : clamp(value, feature: index % size)
    }

    /// The index of the first of `values` (flat, `size` features a sample) outside the range by more than
    /// rounding (a millionth of the value's magnitude), or NaN; nil when all lie in it.
    public func firstViolation(in values: [Double], size: Int) -> Int? {
        values.indices.first { index in
            let value = values[index]
            let feature = low.count == 1 ? 0 : index % size
            let slack = 1e-6 * max(1, abs(value))
            return value.isNaN || value < low[feature] - slack || value > high[feature] + slack
        }
    }

    /// Checks that the clean inputs (flat, `size` features a sample) lie in the range, within rounding:
    /// an attack started outside it would first move the inputs into it, which is no perturbation of them.
    public func check(_ values: [Double], size: Int, owner: String) throws {
        guard low.count == 1 || low.count == size else {
            throw TensorError(owner, "the valid range has \(low.count) bounds for samples of \(size) features")
        }
        if let index = firstViolation(in: values, size: size) {
            let feature = index % max(size, 1)
            let bound = low.count == 1 ? 0 : feature
            throw TensorError(
                owner,
                "input \(index / max(size, 1)), feature \(feature) is \(values[index]), outside the valid range [\(low[bound]), \(high[bound])] (clamp_min, clamp_max); give the attack the range of these inputs"
            )
        }
    }
}

/// An attack on inputs with a valid range that can run under a range other than its own, per feature:
/// what a joint multimodal attack needs to give each modality its own range and budget.
public protocol RangeBoundedAttack: Attack {
    /// The range the attack was configured with (`clamp_min`, `clamp_max`).
    var validRange: ValidRange { get }
    /// The radius of the attack's ball, or nil for a minimal-perturbation attack (DeepFool) that has none.
    var budget: Double? { get }
    /// Adversarial inputs kept in `range` instead of ``validRange``.
    func perturb(model: Module, inputs: Tensor, targets: Tensor, within range: ValidRange) throws -> Tensor
}

extension RangeBoundedAttack {
    public func perturb(model: Module, inputs: Tensor, targets: Tensor) throws -> Tensor {
        try perturb(model: model, inputs: inputs, targets: targets, within: validRange)
    }
}
