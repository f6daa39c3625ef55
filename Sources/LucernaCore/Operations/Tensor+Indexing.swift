extension Tensor {
    /// Validates an int64 index tensor against `length` and returns it.
    private func checkedIndices(_ indices: Tensor, length: Int, _ operation: String) throws -> Tensor {
        guard indices.dtype == .int64 else {
            throw TensorError(operation, "indices must be int64, got \(indices.dtype)")
        }
        let values = indices.pointer(as: Int64.self)
        for position in 0..<indices.count where values[position] < 0 || values[position] >= length {
            throw TensorError(operation, "index \(values[position]) out of range for size \(length)")
        }
        return indices
    }

    /// `result[..., j, ...] = self[..., indices[..., j, ...], ...]` along `axis` (torch.gather). `indices`
    /// has this tensor's shape except along `axis`.
    public func gathering(axis: Int, indices: Tensor) throws -> Tensor {
        try gathering(axis: axis, indices: indices, validated: false)
    }

    /// `validated: true` skips the per-index range check, for indices the engine produced itself (the
    /// argmax positions of max pooling and reductions).
    func gathering(axis: Int, indices: Tensor, validated: Bool) throws -> Tensor {
        try requireFloatingPoint("gather")
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "gather")
        var expected = shape
        var actual = indices.shape
        guard indices.rank == rank else {
            throw TensorError(
                "gather", "indices \(describe(shape: indices.shape)) and input \(describe(shape: shape)) differ in rank"
            )
        }
        expected[resolved] = 0
        actual[resolved] = 0
        guard expected == actual else {
            throw TensorError(
                "gather",
                "indices \(describe(shape: indices.shape)) must match input \(describe(shape: shape)) outside axis \(axis)"
            )
        }
        if !validated { _ = try checkedIndices(indices, length: shape[resolved], "gather") }
        let (outer, length, inner) = splitAround(axis: resolved)
        let result = Tensor(uninitializedShape: indices.shape, dtype: dtype)
        let selected = indices.shape[resolved]
        if dtype == .float32 {
            ReductionKernels.gather(
                pointer(as: Float.self), indices.pointer(as: Int64.self),
                result.pointer(as: Float.self), outer: outer, length: length,
                selected: selected, inner: inner)
        } else {
            ReductionKernels.gather(
                pointer(as: Double.self), indices.pointer(as: Int64.self),
                result.pointer(as: Double.self), outer: outer, length: length,
                selected: selected, inner: inner)
        }
        let original = shape
        return Tensor.record(result, operation: "gather", inputs: [self]) { gradient, _ in
            [try gradient.scatterAdding(axis: resolved, indices: indices, size: original[resolved], validated: true)]
        }
    }

    /// The adjoint of ``gathering(axis:indices:)``: zeros with `size` along `axis`, and each element of
    /// `self` added at its index (torch.scatter_add).
    public func scatterAdding(axis: Int, indices: Tensor, size: Int) throws -> Tensor {
        try scatterAdding(axis: axis, indices: indices, size: size, validated: false)
    }

    /// The mean of a vector's entries per group: entry g is the mean of the entries whose group is g, for
    /// groups `0..<groupCount` (0 for a group without members), and the groups' sizes. Differentiable: a
    /// scatter-add of the entries, divided by the sizes (a batch's per-group loss or accuracy).
    public func groupMeans(groups: [Int], groupCount: Int) throws -> (means: Tensor, sizes: [Int]) {
        guard rank == 1, groups.count == shape[0], groups.allSatisfy({ (0..<groupCount).contains($0) }) else {
            throw TensorError(
                "group_means",
                "needs a vector with one group in 0..<\(groupCount) per entry, got \(describe(shape: shape)) and \(groups.count) groups up to \(groups.max() ?? 0)"
            )
        }
        var sizes = [Int](repeating: 0, count: groupCount)
        for group in groups { sizes[group] += 1 }
        let sums = try scatterAdding(
            axis: 0, indices: Tensor(shape: [groups.count], integers: groups), size: groupCount, validated: true)
        let divisors = try Tensor(shape: [groupCount], values: sizes.map { Double(Swift.max($0, 1)) }, dtype: dtype)
        return (try sums / divisors, sizes)
    }

    func scatterAdding(axis: Int, indices: Tensor, size: Int, validated: Bool) throws -> Tensor {
        try requireFloatingPoint("scatter_add")
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "scatter_add")
        guard indices.shape == shape else {
            throw TensorError(
                "scatter_add", "indices \(describe(shape: indices.shape)) must match source \(describe(shape: shape))")
        }
        if !validated { _ = try checkedIndices(indices, length: size, "scatter_add") }
        var targetShape = shape
        targetShape[resolved] = size
        try Tensor.validate(shape: targetShape, dtype: dtype, operation: "scatter_add")
        let result = Tensor(uninitializedShape: targetShape, dtype: dtype, zeroed: true)
        let outer = shape[..<resolved].reduce(1, *)
        let inner = shape[(resolved + 1)...].reduce(1, *)
        if dtype == .float32 {
            ReductionKernels.scatterAdd(
                pointer(as: Float.self), indices.pointer(as: Int64.self),
                result.pointer(as: Float.self), outer: outer, length: size,
                selected: shape[resolved], inner: inner)
        } else {
            ReductionKernels.scatterAdd(
                pointer(as: Double.self), indices.pointer(as: Int64.self),
                result.pointer(as: Double.self), outer: outer, length: size,
                selected: shape[resolved], inner: inner)
        }
        return Tensor.record(result, operation: "scatter_add", inputs: [self]) { gradient, _ in
            [try gradient.gathering(axis: resolved, indices: indices, validated: true)]
        }
    }

    /// Selects whole slices along `axis` by index (torch.index_select); indices may repeat.
    public func indexSelect(axis: Int, indices: [Int]) throws -> Tensor {
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "index_select")
        let length = shape[resolved]
        if let bad = indices.first(where: { $0 < 0 || $0 >= length }) {
            throw TensorError(
                "index_select",
                "index \(bad) out of range for axis \(axis) of size \(length) in \(describe(shape: shape))")
        }
        let (outer, _, inner) = splitAround(axis: resolved)
        var newShape = shape
        newShape[resolved] = indices.count
        try Tensor.validate(shape: newShape, dtype: dtype, operation: "index_select")
        let result = Tensor(uninitializedShape: newShape, dtype: dtype)
        switch dtype {
        case .float32:
            ReductionKernels.indexSelect(
                pointer(as: Float.self), indices, result.pointer(as: Float.self),
                outer: outer, length: length, inner: inner)
        case .float64:
            ReductionKernels.indexSelect(
                pointer(as: Double.self), indices, result.pointer(as: Double.self),
                outer: outer, length: length, inner: inner)
        case .int64:
            ReductionKernels.indexSelect(
                pointer(as: Int64.self), indices, result.pointer(as: Int64.self),
                outer: outer, length: length, inner: inner)
        }
        guard dtype.isFloatingPoint else { return result }
        return Tensor.record(result, operation: "index_select", inputs: [self]) { gradient, _ in
            [try gradient.indexAdding(axis: resolved, indices: indices, size: length)]
        }
    }

    /// The adjoint of ``indexSelect(axis:indices:)``: zeros with `size` along `axis`, slice `j` of `self`
    /// added at `indices[j]` (torch.index_add).
    public func indexAdding(axis: Int, indices: [Int], size: Int) throws -> Tensor {
        try requireFloatingPoint("index_add")
        let resolved = try Tensor.normalize(axis: axis, rank: rank, "index_add")
        guard indices.count == shape[resolved] else {
            throw TensorError("index_add", "\(indices.count) indices for axis \(axis) of size \(shape[resolved])")
        }
        if let bad = indices.first(where: { $0 < 0 || $0 >= size }) {
            throw TensorError("index_add", "index \(bad) out of range for size \(size)")
        }
        var newShape = shape
        newShape[resolved] = size
        let result = Tensor(uninitializedShape: newShape, dtype: dtype, zeroed: true)
        let outer = shape[..<resolved].reduce(1, *)
        let inner = shape[(resolved + 1)...].reduce(1, *)
        if dtype == .float32 {
            ReductionKernels.indexAdd(
                pointer(as: Float.self), indices, result.pointer(as: Float.self),
                outer: outer, length: size, inner: inner)
        } else {
            ReductionKernels.indexAdd(
                pointer(as: Double.self), indices, result.pointer(as: Double.self),
                outer: outer, length: size, inner: inner)
        }
        return Tensor.record(result, operation: "index_add", inputs: [self]) { gradient, _ in
            [try gradient.indexSelect(axis: resolved, indices: indices)]
        }
    }

    /// One-hot encoding of an int64 label tensor: shape `labels.shape + [classes]`.
    public static func oneHot(_ labels: Tensor, classes: Int, dtype: DType = .float32) throws -> Tensor {
        guard labels.dtype == .int64 else { throw TensorError("one_hot", "labels must be int64, got \(labels.dtype)") }
        guard classes > 0 else { throw TensorError("one_hot", "classes must be positive, got \(classes)") }
        try validate(shape: labels.shape + [classes], dtype: dtype, operation: "one_hot")
        let values = labels.toIntegers()
        var result = [Double](repeating: 0, count: values.count * classes)
        for (position, label) in values.enumerated() {
            guard label >= 0, label < classes else {
                throw TensorError("one_hot", "label \(label) out of range for \(classes) classes")
            }
            result[position * classes + label] = 1
        }
        return try Tensor(shape: labels.shape + [classes], values: result, dtype: dtype)
    }
}
