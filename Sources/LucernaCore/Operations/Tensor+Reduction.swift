extension Tensor {
    /// Sizes of the `[outer, length, inner]` view around `axis`.
    func splitAround(axis: Int) -> (outer: Int, length: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// Resolves a list of axes (`nil` = all), rejecting duplicates.
    func resolve(axes: [Int]?, _ operation: String) throws -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let resolved = try axes.map { try Tensor.normalize(axis: $0, rank: rank, operation) }
        guard Set(resolved).count == resolved.count else {
            throw TensorError(operation, "repeated axis in \(axes)")
        }
        return resolved.sorted()
    }

    /// Sorted axes grouped into runs of adjacent ones: [0, 2, 3] gives 0..<1 and 2..<4.
    static func adjacentRuns(_ sortedAxes: [Int]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for axis in sortedAxes {
            if let last = runs.last, last.upperBound == axis {
                runs[runs.count - 1] = last.lowerBound..<(axis + 1)
            } else {
                runs.append(axis..<(axis + 1))
            }
        }
        return runs
    }

    /// Sum over `axes` (all when nil), keeping reduced dimensions as size 1 when asked.
    public func sum(axes: [Int]? = nil, keepingDimensions: Bool = false) throws -> Tensor {
        try requireFloatingPoint("sum")
        let resolved = try resolve(axes: axes, "sum")
        var result = self
        var keptShape = shape
        // Runs of adjacent axes reduce as one axis (H and W of a convolution's bias gradient in one pass).
        for run in Tensor.adjacentRuns(resolved).reversed() {
            let outer = result.shape[..<run.lowerBound].reduce(1, *)
            let length = result.shape[run].reduce(1, *)
            let inner = result.shape[run.upperBound...].reduce(1, *)
            var newShape = result.shape
            for axis in run { newShape[axis] = 1 }
            let reduced = Tensor(uninitializedShape: newShape, dtype: dtype)
            if dtype == .float32 {
                ReductionKernels.sum(
                    result.pointer(as: Float.self), reduced.pointer(as: Float.self),
                    outer: outer, length: length, inner: inner)
            } else {
                ReductionKernels.sum(
                    result.pointer(as: Double.self), reduced.pointer(as: Double.self),
                    outer: outer, length: length, inner: inner)
            }
            result = reduced
            for axis in run { keptShape[axis] = 1 }
        }
        let finalShape =
            keepingDimensions ? keptShape : shape.indices.filter { !resolved.contains($0) }.map { shape[$0] }
        let output = resolved.isEmpty ? result.copy() : Tensor(shape: finalShape, dtype: dtype, storage: result.storage)
        let original = shape
        return Tensor.record(output, operation: "sum", inputs: [self]) { gradient, _ in
            [try gradient.reshaped(keptShape).expanded(to: original)]
        }
    }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepingDimensions: Bool = false) throws -> Tensor {
        let resolved = try resolve(axes: axes, "mean")
        let divisor = resolved.reduce(1) { $0 * shape[$1] }
        return try sum(axes: resolved, keepingDimensions: keepingDimensions) * (1 / Double(Swift.max(divisor, 1)))
    }

    /// Variance over `axes` with `correction` (1 = unbiased, PyTorch's default; 0 = population).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepingDimensions: Bool = false) throws -> Tensor {
        let resolved = try resolve(axes: axes, "var")
        let total = resolved.reduce(1) { $0 * shape[$1] }
        let centered = try self - mean(axes: resolved, keepingDimensions: true)
        return try (centered * centered).sum(axes: resolved, keepingDimensions: keepingDimensions)
            * (1 / Double(Swift.max(total - correction, 1)))
    }

    /// Indices of the maximum along `axis` (int64; first on ties).
    public func argmax(axis: Int, keepingDimensions: Bool = false) throws -> Tensor {
        try argExtremum(axis: axis, largest: true, keepingDimensions: keepingDimensions)
    }

    /// Indices of the minimum along `axis`.
    public func argmin(axis: Int, keepingDimensions: Bool = false) throws -> Tensor {
        try argExtremum(axis: axis, largest: false, keepingDimensions: keepingDimensions)
    }

    private func argExtremum(axis: Int, largest: Bool, keepingDimensions: Bool) throws -> Tensor {
        try requireFloatingPoint(largest ? "argmax" : "argmin")
        let resolved = try Tensor.normalize(axis: axis, rank: rank, largest ? "argmax" : "argmin")
        guard shape[resolved] > 0 else {
            throw TensorError(largest ? "argmax" : "argmin", "empty axis \(axis) in \(describe(shape: shape))")
        }
        let (outer, length, inner) = splitAround(axis: resolved)
        var keptShape = shape
        keptShape[resolved] = 1
        let result = Tensor(uninitializedShape: keptShape, dtype: .int64)
        if dtype == .float32 {
            ReductionKernels.argExtremum(
                pointer(as: Float.self), result.pointer(as: Int64.self), outer: outer,
                length: length, inner: inner, largest: largest)
        } else {
            ReductionKernels.argExtremum(
                pointer(as: Double.self), result.pointer(as: Int64.self), outer: outer,
                length: length, inner: inner, largest: largest)
        }
        return keepingDimensions ? result : try result.squeezed(axis: resolved)
    }

    /// Maximum along `axis` (all elements when nil); the gradient goes to the first maximal element.
    public func max(axis: Int? = nil, keepingDimensions: Bool = false) throws -> Tensor {
        try extremum(axis: axis, largest: true, keepingDimensions: keepingDimensions)
    }

    /// Minimum along `axis` (all elements when nil).
    public func min(axis: Int? = nil, keepingDimensions: Bool = false) throws -> Tensor {
        try extremum(axis: axis, largest: false, keepingDimensions: keepingDimensions)
    }

    private func extremum(axis: Int?, largest: Bool, keepingDimensions: Bool) throws -> Tensor {
        guard let axis else {
            let flat = try reshaped([count])
            let value = try flat.extremum(axis: 0, largest: largest, keepingDimensions: false)
            return keepingDimensions ? try value.reshaped(shape.map { _ in 1 }) : value
        }
        let resolved = try Tensor.normalize(axis: axis, rank: rank, largest ? "max" : "min")
        let indices = try argExtremum(axis: resolved, largest: largest, keepingDimensions: true)
        let values = try gathering(axis: resolved, indices: indices, validated: true)
        return keepingDimensions ? values : try values.squeezed(axis: resolved)
    }

    /// `log Σ exp(x)` along `axis`, computed stably.
    public func logSumExp(axis: Int, keepingDimensions: Bool = false) throws -> Tensor {
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "logsumexp")
        let shift = try noGrad { try max(axis: resolved, keepingDimensions: true) }
        let safeShift = try Tensor.where(try shift.isFinite(), shift, shift.zerosLike())
        let result = try (self - safeShift).exp().sum(axes: [resolved], keepingDimensions: true).log() + safeShift
        return keepingDimensions ? result : try result.squeezed(axis: resolved)
    }

    /// 1 where the element is finite, 0 elsewhere.
    public func isFinite() throws -> Tensor {
        try requireFloatingPoint("isfinite")
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        if dtype == .float32 {
            let source = pointer(as: Float.self)
            let destination = result.pointer(as: Float.self)
            for index in 0..<count { destination[index] = source[index].isFinite ? 1 : 0 }
        } else {
            let source = pointer(as: Double.self)
            let destination = result.pointer(as: Double.self)
            for index in 0..<count { destination[index] = source[index].isFinite ? 1 : 0 }
        }
        return result
    }

    /// Softmax along `axis`, fused: one kernel forward; the backward y ⊙ (g − Σ g ⊙ y) is built from
    /// differentiable operations on the output, so gradients of gradients flow.
    public func softmax(axis: Int = -1) throws -> Tensor {
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "softmax")
        let result = try fusedSoftmax(axis: resolved, logarithmic: false, "softmax")
        return Tensor.record(result, operation: "softmax", inputs: [self]) { gradient, output in
            if !GradientMode.recording {
                return [try gradient.fusedSoftmaxBackward(output: output, axis: resolved, logarithmic: false)]
            }
            return [try output * (gradient - (gradient * output).sum(axes: [resolved], keepingDimensions: true))]
        }
    }

    /// Log-softmax along `axis`, fused; the backward g − exp(y) · Σ g is differentiable again.
    public func logSoftmax(axis: Int = -1) throws -> Tensor {
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "log_softmax")
        let result = try fusedSoftmax(axis: resolved, logarithmic: true, "log_softmax")
        return Tensor.record(result, operation: "log_softmax", inputs: [self]) { gradient, output in
            if !GradientMode.recording {
                return [try gradient.fusedSoftmaxBackward(output: output, axis: resolved, logarithmic: true)]
            }
            return [try gradient - output.exp() * gradient.sum(axes: [resolved], keepingDimensions: true)]
        }
    }

    /// The softmax's (log-softmax's) input gradient from this output gradient, unrecorded.
    private func fusedSoftmaxBackward(output: Tensor, axis: Int, logarithmic: Bool) throws -> Tensor {
        guard shape == output.shape, dtype == output.dtype else {
            throw TensorError(
                "softmax backward",
                "gradient \(dtype) \(describe(shape: shape)) does not match the output \(output.dtype) \(describe(shape: output.shape))"
            )
        }
        let (outer, length, inner) = splitAround(axis: axis)
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        if dtype == .float32 {
            ReductionKernels.softmaxBackward(
                gradient: pointer(as: Float.self), output: output.pointer(as: Float.self),
                result.pointer(as: Float.self), outer: outer, length: length, inner: inner, logarithmic: logarithmic)
        } else {
            ReductionKernels.softmaxBackward(
                gradient: pointer(as: Double.self), output: output.pointer(as: Double.self),
                result.pointer(as: Double.self), outer: outer, length: length, inner: inner, logarithmic: logarithmic)
        }
        return result
    }

    private func fusedSoftmax(axis: Int, logarithmic: Bool, _ operation: String) throws -> Tensor {
        try requireFloatingPoint(operation)
        let (outer, length, inner) = splitAround(axis: axis)
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        guard count > 0 else { return result }
        if dtype == .float32 {
            ReductionKernels.softmax(
                pointer(as: Float.self), result.pointer(as: Float.self), outer: outer, length: length, inner: inner,
                logarithmic: logarithmic)
        } else {
            ReductionKernels.softmax(
                pointer(as: Double.self), result.pointer(as: Double.self), outer: outer, length: length,
                inner: inner, logarithmic: logarithmic)
        }
        return result
    }
}
