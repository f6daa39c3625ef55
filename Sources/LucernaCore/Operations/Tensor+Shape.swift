extension Tensor {
    /// Normalises a possibly negative axis for a tensor of `rank` dimensions.
    static func normalize(axis: Int, rank: Int, _ operation: String) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0, resolved < Swift.max(rank, 1) else {
            throw TensorError(operation, "axis \(axis) out of range for rank \(rank)")
        }
        return resolved
    }

    /// The same elements with a new shape (sharing storage); one dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var resolved = newShape
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        guard inferred.count <= 1, !newShape.contains(where: { $0 < -1 }) else {
            throw TensorError(
                "reshape", "invalid target shape \(describe(shape: newShape)) for \(describe(shape: shape))")
        }
        if let position = inferred.first {
            let known = try Tensor.elementCount(of: newShape.filter { $0 != -1 }, operation: "reshape")
            guard known > 0, count % known == 0 else {
                throw TensorError(
                    "reshape",
                    "cannot infer -1 in \(describe(shape: newShape)) for \(count) elements of \(describe(shape: shape))"
                )
            }
            resolved[position] = count / known
        }
        guard try Tensor.elementCount(of: resolved, operation: "reshape") == count else {
            throw TensorError(
                "reshape", "\(describe(shape: shape)) (\(count) elements) cannot become \(describe(shape: newShape))")
        }
        if resolved == shape { return self }
        let result = Tensor(shape: resolved, dtype: dtype, storage: storage)
        let original = shape
        return Tensor.record(result, operation: "reshape", inputs: [self]) { gradient, _ in
            [try gradient.reshaped(original)]
        }
    }

    /// Flattens dimensions `startAxis...endAxis` into one.
    public func flattened(from startAxis: Int = 0, to endAxis: Int = -1) throws -> Tensor {
        if rank == 0 { return try reshaped([1]) }
        let start = try Tensor.normalize(axis: startAxis, rank: rank, "flatten")
        let end = try Tensor.normalize(axis: endAxis, rank: rank, "flatten")
        guard start <= end else { throw TensorError("flatten", "start axis \(startAxis) after end axis \(endAxis)") }
        let middle = shape[start...end].reduce(1, *)
        return try reshaped(Array(shape[..<start]) + [middle] + Array(shape[(end + 1)...]))
    }

    /// Inserts a dimension of size 1 at `axis`.
    public func unsqueezed(axis: Int) throws -> Tensor {
        let resolved = try Tensor.normalize(axis: axis < 0 ? axis + rank + 1 : axis, rank: rank + 1, "unsqueeze")
        var newShape = shape
        newShape.insert(1, at: resolved)
        return try reshaped(newShape)
    }

    /// Removes dimension `axis` (which must have size 1), or every size-1 dimension when `axis` is nil.
    public func squeezed(axis: Int? = nil) throws -> Tensor {
        guard let axis else { return try reshaped(shape.filter { $0 != 1 }) }
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "squeeze")
        guard shape[resolved] == 1 else {
            throw TensorError("squeeze", "axis \(axis) of \(describe(shape: shape)) has size \(shape[resolved]), not 1")
        }
        var newShape = shape
        newShape.remove(at: resolved)
        return try reshaped(newShape)
    }

    /// Reorders dimensions: result axis `i` is input axis `order[i]`.
    public func permuted(_ order: [Int]) throws -> Tensor {
        let resolved = try order.map { try Tensor.normalize(axis: $0, rank: rank, "permute") }
        guard resolved.count == rank, Set(resolved).count == rank else {
            throw TensorError(
                "permute", "order \(order) is not a permutation of \(rank) axes of \(describe(shape: shape))")
        }
        if resolved == Array(0..<rank) { return self }
        let newShape = resolved.map { shape[$0] }
        let strides = CopyKernels.contiguousStrides(shape)
        let result = Tensor(uninitializedShape: newShape, dtype: dtype)
        copyElements(
            sourceStrides: resolved.map { strides[$0] }, into: result,
            destinationStrides: CopyKernels.contiguousStrides(newShape), sizes: newShape)
        var inverse = [Int](repeating: 0, count: rank)
        for (position, axis) in resolved.enumerated() { inverse[axis] = position }
        return Tensor.record(result, operation: "permute", inputs: [self]) { gradient, _ in
            [try gradient.permuted(inverse)]
        }
    }

    /// Swaps two axes.
    public func transposed(_ first: Int = -2, _ second: Int = -1) throws -> Tensor {
        guard rank >= 2 else { throw TensorError("transpose", "needs rank >= 2, got \(describe(shape: shape))") }
        let a = try Tensor.normalize(axis: first, rank: rank, "transpose")
        let b = try Tensor.normalize(axis: second, rank: rank, "transpose")
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return try permuted(order)
    }

    /// A contiguous copy broadcast to `target` (not recorded).
    func expandedCopy(to target: [Int]) throws -> Tensor {
        if target == shape { return self }
        guard let plan = BroadcastPlan(shape, target), plan.outputShape == target else {
            throw TensorError("expand", "\(describe(shape: shape)) cannot be broadcast to \(describe(shape: target))")
        }
        let padded = Array(repeating: 1, count: target.count - rank) + shape
        let contiguous = CopyKernels.contiguousStrides(padded)
        let strides = padded.indices.map { padded[$0] == 1 ? 0 : contiguous[$0] }
        try Tensor.validate(shape: target, dtype: dtype, operation: "expand")
        let result = Tensor(uninitializedShape: target, dtype: dtype)
        copyElements(
            sourceStrides: strides, into: result, destinationStrides: CopyKernels.contiguousStrides(target),
            sizes: target)
        return result
    }

    /// Broadcasts to `target` (NumPy rules); the gradient is summed back.
    public func expanded(to target: [Int]) throws -> Tensor {
        if target == shape { return self }
        try Tensor.validate(shape: target, dtype: dtype, operation: "expand")
        let result = try expandedCopy(to: target)
        let original = shape
        return Tensor.record(result, operation: "expand", inputs: [self]) { gradient, _ in
            [try gradient.sum(toShape: original)]
        }
    }

    /// Sums over broadcast dimensions so the result has `target` shape (the adjoint of ``expanded(to:)``).
    public func sum(toShape target: [Int]) throws -> Tensor {
        if target == shape { return self }
        guard let plan = BroadcastPlan(target, shape), plan.outputShape == shape else {
            throw TensorError("sum_to", "\(describe(shape: shape)) cannot be reduced to \(describe(shape: target))")
        }
        let leading = rank - target.count
        var axes = Array(0..<leading)
        for axis in 0..<target.count where target[axis] == 1 && shape[leading + axis] != 1 {
            axes.append(leading + axis)
        }
        return try sum(axes: axes, keepingDimensions: true).reshaped(target)
    }

    /// Elements `start..<end` (step `step`) along `axis`; negative bounds count from the end and are
    /// clipped as in Python.
    public func sliced(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) throws -> Tensor {
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "slice")
        guard step > 0 else { throw TensorError("slice", "step must be positive, got \(step)") }
        let size = shape[resolved]
        func clip(_ value: Int) -> Int { Swift.min(Swift.max(value < 0 ? value + size : value, 0), size) }
        let lower = clip(start)
        let upper = Swift.max(clip(end ?? size), lower)
        let length = (upper - lower + step - 1) / step
        var newShape = shape
        newShape[resolved] = length
        let strides = CopyKernels.contiguousStrides(shape)
        var sourceStrides = strides
        sourceStrides[resolved] *= step
        let result = Tensor(uninitializedShape: newShape, dtype: dtype)
        copyElements(
            sourceOffset: lower * strides[resolved], sourceStrides: sourceStrides, into: result,
            destinationStrides: CopyKernels.contiguousStrides(newShape), sizes: newShape)
        let original = shape
        return Tensor.record(result, operation: "slice", inputs: [self]) { gradient, _ in
            [try gradient.embedded(in: original, axis: resolved, start: lower, step: step)]
        }
    }

    /// The adjoint of ``sliced(axis:start:end:step:)``: zeros of `target` shape with `self` written at
    /// `start, start + step, ...` along `axis`.
    func embedded(in target: [Int], axis: Int, start: Int, step: Int) throws -> Tensor {
        let result = Tensor(uninitializedShape: target, dtype: dtype, zeroed: true)
        let strides = CopyKernels.contiguousStrides(target)
        var destinationStrides = strides
        destinationStrides[axis] *= step
        copyElements(
            sourceStrides: CopyKernels.contiguousStrides(shape), into: result,
            destinationOffset: start * strides[axis], destinationStrides: destinationStrides, sizes: shape)
        return Tensor.record(result, operation: "slice_backward", inputs: [self]) { gradient, _ in
            [try gradient.sliced(axis: axis, start: start, end: start + (self.shape[axis] - 1) * step + 1, step: step)]
        }
    }

    /// Pads with a constant: `padding[i] = (before, after)` for the last `padding.count` dimensions,
    /// listed from the first of them to the last.
    public func padded(_ padding: [(before: Int, after: Int)], value: Double = 0) throws -> Tensor {
        guard padding.count <= rank, padding.allSatisfy({ $0.before >= 0 && $0.after >= 0 }) else {
            throw TensorError(
                "pad",
                "padding \(padding.map { [$0.before, $0.after] }) does not fit \(describe(shape: shape)) (non-negative, at most one pair per dimension)"
            )
        }
        let first = rank - padding.count
        var newShape = shape
        var offset = 0
        let targetStrides: [Int]
        for (position, pair) in padding.enumerated() { newShape[first + position] += pair.before + pair.after }
        try Tensor.validate(shape: newShape, dtype: dtype, operation: "pad")
        targetStrides = CopyKernels.contiguousStrides(newShape)
        for (position, pair) in padding.enumerated() { offset += pair.before * targetStrides[first + position] }
        let result = try Tensor.full(newShape, value: value, dtype: dtype)
        copyElements(
            sourceStrides: CopyKernels.contiguousStrides(shape), into: result, destinationOffset: offset,
            destinationStrides: targetStrides, sizes: shape)
        let original = shape
        return Tensor.record(result, operation: "pad", inputs: [self]) { gradient, _ in
            var cropped = gradient
            for (position, pair) in padding.enumerated() {
                cropped = try cropped.sliced(
                    axis: first + position, start: pair.before,
                    end: pair.before + original[first + position])
            }
            return [cropped]
        }
    }

    /// Joins tensors along an existing axis.
    public static func concatenate(_ tensors: [Tensor], axis: Int) throws -> Tensor {
        guard let head = tensors.first else { throw TensorError("cat", "needs at least one tensor") }
        let resolved = try normalize(axis: axis, rank: head.rank, "cat")
        for tensor in tensors {
            var expected = head.shape
            var actual = tensor.shape
            guard tensor.rank == head.rank, tensor.dtype == head.dtype else {
                throw TensorError(
                    "cat",
                    "tensors \(tensors.map { "\($0.dtype) \(describe(shape: $0.shape))" }.joined(separator: ", ")) differ in rank or dtype"
                )
            }
            expected[resolved] = 0
            actual[resolved] = 0
            guard expected == actual else {
                throw TensorError(
                    "cat",
                    "shapes \(tensors.map { describe(shape: $0.shape) }.joined(separator: ", ")) differ outside axis \(axis)"
                )
            }
        }
        var newShape = head.shape
        newShape[resolved] = tensors.reduce(0) { $0 + $1.shape[resolved] }
        try Tensor.validate(shape: newShape, dtype: head.dtype, operation: "cat")
        let result = Tensor(uninitializedShape: newShape, dtype: head.dtype)
        let strides = CopyKernels.contiguousStrides(newShape)
        var offset = 0
        var starts: [Int] = []
        for tensor in tensors {
            starts.append(offset)
            tensor.copyElements(
                sourceStrides: CopyKernels.contiguousStrides(tensor.shape), into: result,
                destinationOffset: offset * strides[resolved], destinationStrides: strides,
                sizes: tensor.shape)
            offset += tensor.shape[resolved]
        }
        return record(result, operation: "cat", inputs: tensors) { gradient, _ in
            try zip(tensors, starts).map { tensor, start in
                tensor.needsGradient
                    ? try gradient.sliced(axis: resolved, start: start, end: start + tensor.shape[resolved]) : nil
            }
        }
    }

    /// Stacks equally shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let head = tensors.first else { throw TensorError("stack", "needs at least one tensor") }
        guard tensors.allSatisfy({ $0.shape == head.shape }) else {
            throw TensorError(
                "stack", "shapes differ: \(tensors.map { describe(shape: $0.shape) }.joined(separator: ", "))")
        }
        let resolved = try normalize(axis: axis < 0 ? axis + head.rank + 1 : axis, rank: head.rank + 1, "stack")
        return try concatenate(tensors.map { try $0.unsqueezed(axis: resolved) }, axis: resolved)
    }
}
