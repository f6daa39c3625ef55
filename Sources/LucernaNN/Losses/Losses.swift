import LucernaCore

/// How a per-element loss is reduced.
public enum Reduction: String, Sendable {
    case mean, sum, none
}

/// Loss functions with PyTorch's definitions and argument conventions.
public enum Losses {
    static func reduce(_ values: Tensor, _ reduction: Reduction) throws -> Tensor {
        switch reduction {
        case .mean: return try values.mean()
        case .sum: return try values.sum()
        case .none: return values
        }
    }

    static func checkSameShape(_ a: Tensor, _ b: Tensor, _ operation: String) throws {
        guard a.shape == b.shape else {
            throw TensorError(
                operation, "input \(describe(shape: a.shape)) and target \(describe(shape: b.shape)) differ")
        }
    }

    /// Cross-entropy of logits `[N, C]` against int64 class targets `[N]`, with optional class
    /// weights `[C]`, label smoothing and an ignored target value, as `torch.nn.functional.cross_entropy`.
    /// Floating-point targets of the logits' shape are class probabilities, as PyTorch reads them:
    /// `-Σ_c w_c y_c log p_c` per sample (after smoothing `y ← (1 − ε) y + ε / C`), and the mean divides by N.
    public static func crossEntropy(
        _ logits: Tensor, _ targets: Tensor, weight: Tensor? = nil,
        ignoreIndex: Int? = nil, labelSmoothing: Double = 0,
        reduction: Reduction = .mean
    ) throws -> Tensor {
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw TensorError("cross_entropy", "label smoothing \(labelSmoothing) must be in [0, 1]")
        }
        if targets.dtype != .int64 {
            guard logits.rank == 2, targets.shape == logits.shape, targets.dtype == logits.dtype else {
                throw TensorError(
                    "cross_entropy",
                    "targets must be int64 class indices [N] (tensor{...}:long()) or class probabilities of the logits' shape and dtype \(logits.dtype) \(describe(shape: logits.shape)); got \(targets.dtype) \(describe(shape: targets.shape))"
                )
            }
            guard ignoreIndex == nil else {
                throw TensorError("cross_entropy", "ignore_index applies to class-index targets, not probabilities")
            }
            return try probabilityCrossEntropy(
                logits, targets, weight: weight, labelSmoothing: labelSmoothing, reduction: reduction)
        }
        let logProbabilities = try logits.logSoftmax(axis: 1)
        let classes = logits.rank == 2 ? logits.shape[1] : 0
        let negativeLikelihood = try nll(
            logProbabilities, targets, weight: weight, ignoreIndex: ignoreIndex,
            reduction: reduction)
        guard labelSmoothing > 0 else { return negativeLikelihood }
        // Smoothing term: -Σ_c w_c log p_c / C per sample, reduced with the same weights as the NLL term.
        let (kept, targetWeights) = try sampleWeights(
            targets, classes: classes, weight: weight, ignoreIndex: ignoreIndex,
            dtype: logits.dtype)
        var perClass = try logProbabilities.negated()
        if let weight { perClass = try perClass * weight.reshaped([1, classes]) }
        let smooth = try perClass.sum(axes: [1]) * kept
        let smoothReduced: Tensor
        switch reduction {
        case .mean: smoothReduced = try smooth.sum() / targetWeights.sum()
        case .sum: smoothReduced = try smooth.sum()
        case .none: smoothReduced = smooth
        }
        return try negativeLikelihood * (1 - labelSmoothing) + smoothReduced * (labelSmoothing / Double(classes))
    }

    /// Cross-entropy against class probabilities `[N, C]` (see ``crossEntropy(_:_:weight:ignoreIndex:labelSmoothing:reduction:)``).
    static func probabilityCrossEntropy(
        _ logits: Tensor, _ probabilities: Tensor, weight: Tensor?, labelSmoothing: Double, reduction: Reduction
    ) throws -> Tensor {
        let classes = logits.shape[1]
        if let weight, weight.shape != [classes] {
            throw TensorError(
                "cross_entropy", "weight \(describe(shape: weight.shape)) does not match \(classes) classes")
        }
        var targets = probabilities
        if labelSmoothing > 0 { targets = try probabilities * (1 - labelSmoothing) + labelSmoothing / Double(classes) }
        var perClass = try logits.logSoftmax(axis: 1).negated() * targets
        if let weight { perClass = try perClass * weight.reshaped([1, classes]) }
        let perSample = try perClass.sum(axes: [1])
        switch reduction {
        case .mean: return try perSample.sum() / Double(logits.shape[0])
        case .sum: return try perSample.sum()
        case .none: return perSample
        }
    }

    /// Per-sample masks: 1 where the target is kept, and the target's class weight (0 where ignored).
    static func sampleWeights(
        _ targets: Tensor, classes: Int, weight: Tensor?, ignoreIndex: Int?,
        dtype: DType
    ) throws -> (kept: Tensor, targetWeights: Tensor) {
        let labels = targets.toIntegers()
        let classWeights = weight?.toDoubles()
        var kept = [Double]()
        var weights = [Double]()
        for label in labels {
            if label == ignoreIndex {
                kept.append(0)
                weights.append(0)
                continue
            }
            guard label >= 0, label < classes else {
                throw TensorError("cross_entropy", "target \(label) out of range for \(classes) classes")
            }
            kept.append(1)
            weights.append(classWeights?[label] ?? 1)
        }
        return (
            try Tensor(shape: [labels.count], values: kept, dtype: dtype),
            try Tensor(shape: [labels.count], values: weights, dtype: dtype)
        )
    }

    /// Negative log-likelihood of log-probabilities `[N, C]` at int64 targets `[N]`.
    public static func nll(
        _ logProbabilities: Tensor, _ targets: Tensor, weight: Tensor? = nil,
        ignoreIndex: Int? = nil, reduction: Reduction = .mean
    ) throws -> Tensor {
        guard logProbabilities.rank == 2, targets.dtype == .int64, targets.shape == [logProbabilities.shape[0]] else {
            throw TensorError(
                "nll_loss",
                "input must be [N, C] and target int64 [N], got \(describe(shape: logProbabilities.shape)) and \(targets.dtype) \(describe(shape: targets.shape))"
            )
        }
        let classes = logProbabilities.shape[1]
        if let weight, weight.shape != [classes] {
            throw TensorError("nll_loss", "weight \(describe(shape: weight.shape)) does not match \(classes) classes")
        }
        let (_, targetWeights) = try sampleWeights(
            targets, classes: classes, weight: weight, ignoreIndex: ignoreIndex,
            dtype: logProbabilities.dtype)
        let safeTargets = try Tensor(
            shape: [targets.count, 1],
            integers: targets.toIntegers().map { $0 == ignoreIndex ? 0 : $0 })
        let picked = try logProbabilities.gathering(axis: 1, indices: safeTargets).reshaped([targets.count])
        let losses = try picked.negated() * targetWeights
        switch reduction {
        case .mean: return try losses.sum() / targetWeights.sum()
        case .sum: return try losses.sum()
        case .none: return losses
        }
    }

    /// Binary cross-entropy on logits, computed stably: `max(x, 0) - x·y + log(1 + e^{-|x|})`, with an
    /// optional positive-class weight.
    public static func binaryCrossEntropyWithLogits(
        _ logits: Tensor, _ targets: Tensor, positiveWeight: Tensor? = nil,
        reduction: Reduction = .mean
    ) throws -> Tensor {
        try checkSameShape(logits, targets, "binary_cross_entropy_with_logits")
        let losses: Tensor
        if let positiveWeight {
            // (1 - y)·x + (1 + (w - 1)·y)·softplus(-x)
            let factor = try (positiveWeight - 1) * targets + 1
            losses = try (1 - targets) * logits + factor * logits.negated().softplus()
        } else {
            losses = try logits.relu() - logits * targets + logits.abs().negated().exp().log1p()
        }
        return try reduce(losses, reduction)
    }

    /// Mean squared error.
    public static func mse(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try checkSameShape(input, target, "mse_loss")
        let difference = try input - target
        return try reduce(difference * difference, reduction)
    }

    /// Mean absolute error.
    public static func l1(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try checkSameShape(input, target, "l1_loss")
        return try reduce((input - target).abs(), reduction)
    }

    /// KL divergence `Σ target·(log target - input)` with `input` as log-probabilities (PyTorch's
    /// `kl_div`); `batchMean` divides the sum by the batch size (the mathematically correct mean).
    public static func klDivergence(
        _ input: Tensor, _ target: Tensor, reduction: KLReduction = .batchMean,
        logTarget: Bool = false
    ) throws -> Tensor {
        try checkSameShape(input, target, "kl_div")
        let pointwise: Tensor
        if logTarget {
            pointwise = try target.exp() * (target - input)
        } else {
            // 0 · log 0 = 0: where the target is 0 the term is 0.
            let positive = try target.greater(target.zerosLike())
            let safeTarget = try Tensor.where(positive, target, target.onesLike())
            pointwise = try Tensor.where(positive, target * (safeTarget.log() - input), target.zerosLike())
        }
        switch reduction {
        case .batchMean: return try pointwise.sum() / Double(Swift.max(input.shape.first ?? 1, 1))
        case .mean: return try pointwise.mean()
        case .sum: return try pointwise.sum()
        case .none: return pointwise
        }
    }

    /// Reductions `kl_div` accepts.
    public enum KLReduction: String, Sendable {
        case batchMean = "batchmean"
        case mean, sum, none
    }
}
