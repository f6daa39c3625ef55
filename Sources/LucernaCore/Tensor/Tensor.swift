import Foundation

/// An n-dimensional array of Float32, Float64 or Int64 values in row-major contiguous storage, and a
/// node of the define-by-run autodiff graph.
///
/// Operations are methods that throw a ``TensorError`` when shapes or arguments do not fit; they never
/// trap on user input. Operations on tensors that require gradients record how to differentiate
/// themselves, with backward functions written in the same differentiable operations, so gradients of
/// gradients are available (see ``Tensor/gradients(of:withRespectTo:seeds:createGraph:)``).
public final class Tensor: @unchecked Sendable {
    /// Size of each dimension; `[]` for a scalar.
    public let shape: [Int]
    /// Element type.
    public let dtype: DType
    /// The memory holding the elements (shared by reshaped views).
    public let storage: TensorStorage
    /// Whether gradients flow to this tensor.
    public internal(set) var requiresGrad: Bool = false
    /// The accumulated gradient of a leaf tensor (or of one that called ``retainGrad()``) after
    /// ``backward(seed:createGraph:)``.
    public var grad: Tensor?
    /// How this tensor was computed; `nil` for leaves.
    var gradientNode: GradientNode?
    /// Whether ``backward(seed:createGraph:)`` stores this non-leaf tensor's gradient in ``grad``.
    public private(set) var retainsGrad = false

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Whether the tensor is a leaf of the autodiff graph (not the result of a recorded operation).
    public var isLeaf: Bool { gradientNode == nil }
    /// Name of the operation that produced this tensor, if it was recorded.
    public var operationName: String? { gradientNode?.operation }

    /// Creates a tensor over existing storage. The storage must hold at least `shape`'s element count.
    init(shape: [Int], dtype: DType, storage: TensorStorage) {
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
    }

    /// Creates an uninitialised (or zeroed) tensor.
    init(uninitializedShape shape: [Int], dtype: DType, zeroed: Bool = false) {
        self.shape = shape
        self.dtype = dtype
        storage = TensorStorage(byteCount: shape.reduce(1, *) * dtype.byteWidth, zeroed: zeroed)
    }

    // MARK: Creation

    /// This machine's memory, read once (`physicalMemory` asks the kernel every time, and tensors are made
    /// thousands of times a second).
    private static let machineMemoryBytes = ProcessInfo.processInfo.physicalMemory

    /// The element count of a user-supplied shape: every dimension non-negative, the product without
    /// overflow, and the buffer no larger than this machine's memory (so an absurd shape is an error,
    /// not a trap in the allocator).
    public static func elementCount(of shape: [Int], dtype: DType = .float32, operation: String) throws -> Int {
        try Interruption.check(operation)
        if shape.contains(where: { $0 < 0 }) {
            throw TensorError(operation, "negative dimension in shape \(describe(shape: shape))")
        }
        var total = 1
        for size in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw TensorError(operation, "shape \(describe(shape: shape)) has too many elements")
            }
            total = product
        }
        let (bytes, overflow) = total.multipliedReportingOverflow(by: dtype.byteWidth)
        guard !overflow, UInt64(bytes) <= machineMemoryBytes else {
            throw TensorError(operation, "shape \(describe(shape: shape)) needs more memory than this machine has")
        }
        try TensorStorage.admission?(bytes, operation)
        return total
    }

    /// Checks a user-supplied shape and that it holds exactly `count` values.
    static func validate(shape: [Int], count: Int, operation: String) throws {
        let expected = try elementCount(of: shape, operation: operation)
        if expected != count {
            throw TensorError(operation, "shape \(describe(shape: shape)) needs \(expected) values, got \(count)")
        }
    }

    /// Checks a user-supplied shape for a tensor to be created.
    static func validate(shape: [Int], dtype: DType = .float32, operation: String) throws {
        _ = try elementCount(of: shape, dtype: dtype, operation: operation)
    }

    /// A Float32 tensor of the given shape and values (row-major).
    public convenience init(shape: [Int], scalars: [Float]) throws {
        try Tensor.validate(shape: shape, count: scalars.count, operation: "tensor")
        self.init(uninitializedShape: shape, dtype: .float32)
        scalars.withUnsafeBufferPointer { source in
            if let base = source.baseAddress {
                storage.pointer.assumingMemoryBound(to: Float.self).update(from: base, count: source.count)
            }
        }
    }

    /// A Float64 tensor of the given shape and values (row-major).
    public convenience init(shape: [Int], doubles: [Double]) throws {
        try Tensor.validate(shape: shape, count: doubles.count, operation: "tensor")
        self.init(uninitializedShape: shape, dtype: .float64)
        doubles.withUnsafeBufferPointer { source in
            if let base = source.baseAddress {
                storage.pointer.assumingMemoryBound(to: Double.self).update(from: base, count: source.count)
            }
        }
    }

    /// An Int64 tensor (labels, indices) of the given shape and values.
    public convenience init(shape: [Int], integers: [Int]) throws {
        try Tensor.validate(shape: shape, count: integers.count, operation: "tensor")
        self.init(uninitializedShape: shape, dtype: .int64)
        let destination = storage.pointer.assumingMemoryBound(to: Int64.self)
        for index in integers.indices { destination[index] = Int64(integers[index]) }
    }

    /// A tensor of `shape` with values converted from `values` into `dtype`.
    public convenience init(shape: [Int], values: [Double], dtype: DType) throws {
        try Tensor.validate(shape: shape, count: values.count, operation: "tensor")
        self.init(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32:
            let destination = storage.pointer.assumingMemoryBound(to: Float.self)
            for index in values.indices { destination[index] = Float(values[index]) }
        case .float64:
            let destination = storage.pointer.assumingMemoryBound(to: Double.self)
            for index in values.indices { destination[index] = values[index] }
        case .int64:
            let destination = storage.pointer.assumingMemoryBound(to: Int64.self)
            for index in values.indices {
                let value = values[index]
                guard value.isFinite, Swift.abs(value) < 9.2e18 else {
                    throw TensorError("tensor", "value \(value) does not fit in int64")
                }
                destination[index] = Int64(value)
            }
        }
    }

    /// A scalar (rank-0) tensor.
    public convenience init(_ value: Double, dtype: DType = .float32) {
        self.init(uninitializedShape: [], dtype: dtype)
        switch dtype {
        case .float32: storage.pointer.assumingMemoryBound(to: Float.self)[0] = Float(value)
        case .float64: storage.pointer.assumingMemoryBound(to: Double.self)[0] = value
        case .int64: storage.pointer.assumingMemoryBound(to: Int64.self)[0] = Tensor.saturatingInteger(value)
        }
    }

    /// A tensor filled with `value`.
    public static func full(_ shape: [Int], value: Double, dtype: DType = .float32) throws -> Tensor {
        try validate(shape: shape, dtype: dtype, operation: "full")
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        result.fill(value)
        return result
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try validate(shape: shape, dtype: dtype, operation: "zeros")
        return Tensor(uninitializedShape: shape, dtype: dtype, zeroed: true)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try full(shape, value: 1, dtype: dtype)
    }

    /// Zeros with this tensor's shape and dtype.
    public func zerosLike() -> Tensor { Tensor(uninitializedShape: shape, dtype: dtype, zeroed: true) }

    /// Ones with this tensor's shape and dtype.
    public func onesLike() -> Tensor {
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        result.fill(1)
        return result
    }

    /// `[0, 1, ..., count - 1]` as a 1-D tensor.
    public static func arange(_ count: Int, dtype: DType = .float32) throws -> Tensor {
        guard count >= 0 else { throw TensorError("arange", "negative count \(count)") }
        return try arange(0, Double(count), step: 1, dtype: dtype)
    }

    /// `start, start + step, ...` up to `end` (excluded) as a 1-D tensor, as `torch.arange(start, end, step)`:
    /// ⌈(end − start) / step⌉ values.
    public static func arange(_ start: Double, _ end: Double = .nan, step: Double = 1, dtype: DType = .float32)
        throws -> Tensor
    {
        let (first, last) = end.isNaN ? (0, start) : (start, end)
        guard first.isFinite, last.isFinite, step.isFinite else {
            throw TensorError("arange", "start, end and step must be finite, got \(first), \(last), \(step)")
        }
        guard step != 0 else { throw TensorError("arange", "step must not be 0") }
        let exact = ((last - first) / step).rounded(.up)
        guard exact >= 0 else {
            throw TensorError("arange", "end \(last) cannot be reached from start \(first) with step \(step)")
        }
        guard exact < 1e15 else { throw TensorError("arange", "\(exact) values are too many") }
        let count = Int(exact)
        try validate(shape: [count], dtype: dtype, operation: "arange")
        return try Tensor(shape: [count], values: (0..<count).map { first + Double($0) * step }, dtype: dtype)
    }

    // MARK: Element access

    /// Typed pointer to the elements. `T` must match ``dtype``.
    @inline(__always)
    public func pointer<T>(as type: T.Type) -> UnsafeMutablePointer<T> {
        storage.pointer.assumingMemoryBound(to: T.self)
    }

    /// Sets every element to `value`.
    public func fill(_ value: Double) {
        let total = count
        switch dtype {
        case .float32: pointer(as: Float.self).update(repeating: Float(value), count: total)
        case .float64: pointer(as: Double.self).update(repeating: value, count: total)
        case .int64: pointer(as: Int64.self).update(repeating: Tensor.saturatingInteger(value), count: total)
        }
    }

    /// The elements converted to `Double`.
    public func toDoubles() -> [Double] {
        let total = count
        switch dtype {
        case .float32:
            let source = pointer(as: Float.self)
            return (0..<total).map { Double(source[$0]) }
        case .float64:
            return Array(UnsafeBufferPointer(start: pointer(as: Double.self), count: total))
        case .int64:
            let source = pointer(as: Int64.self)
            return (0..<total).map { Double(source[$0]) }
        }
    }

    /// The elements converted to `Float`.
    public func toFloats() -> [Float] {
        if dtype == .float32 { return Array(UnsafeBufferPointer(start: pointer(as: Float.self), count: count)) }
        return toDoubles().map(Float.init)
    }

    /// The elements converted to `Int` (truncating floats).
    public func toIntegers() -> [Int] {
        if dtype == .int64 {
            let source = pointer(as: Int64.self)
            return (0..<count).map { Int(source[$0]) }
        }
        return toDoubles().map { Int(Tensor.saturatingInteger($0)) }
    }

    /// `value` truncated toward zero and clamped to the Int64 range; NaN becomes 0. Used where a float
    /// must become an integer without trapping.
    static func saturatingInteger(_ value: Double) -> Int64 {
        guard !value.isNaN else { return 0 }
        if value >= 9.223_372_036_854_775e18 { return .max }
        if value <= -9.223_372_036_854_775e18 { return .min }
        return Int64(value.rounded(.towardZero))
    }

    /// The single value of a one-element tensor.
    public func item() throws -> Double {
        guard count == 1 else {
            throw TensorError("item", "tensor of shape \(describe(shape: shape)) has \(count) elements, not 1")
        }
        return toDoubles()[0]
    }

    /// The value at a multi-index (for tests and small tensors).
    public func value(at indices: [Int]) throws -> Double {
        guard indices.count == rank else {
            throw TensorError("value(at:)", "\(indices.count) indices for rank \(rank)")
        }
        var flat = 0
        for axis in 0..<rank {
            guard indices[axis] >= 0, indices[axis] < shape[axis] else {
                throw TensorError(
                    "value(at:)", "index \(indices[axis]) out of range for axis \(axis) of size \(shape[axis])")
            }
            flat = flat * shape[axis] + indices[axis]
        }
        switch dtype {
        case .float32: return Double(pointer(as: Float.self)[flat])
        case .float64: return pointer(as: Double.self)[flat]
        case .int64: return Double(pointer(as: Int64.self)[flat])
        }
    }

    // MARK: Autodiff flags

    /// Marks a leaf tensor as a parameter/input whose gradient is wanted. Returns `self`.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) throws -> Tensor {
        guard dtype.isFloatingPoint || !flag else {
            throw TensorError("requires_grad", "only floating-point tensors can require gradients, this is \(dtype)")
        }
        guard isLeaf else {
            throw TensorError("requires_grad", "can only be set on leaf tensors; use detach() first")
        }
        requiresGrad = flag
        return self
    }

    /// Keeps this non-leaf tensor's gradient in ``grad`` during backward (for CAM-style explainers).
    public func retainGrad() { retainsGrad = true }

    /// A tensor sharing storage, cut off from the graph.
    public func detach() -> Tensor { Tensor(shape: shape, dtype: dtype, storage: storage) }

    /// A deep copy, cut off from the graph.
    public func copy() -> Tensor {
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        result.storage.pointer.copyMemory(from: storage.pointer, byteCount: count * dtype.byteWidth)
        return result
    }

    /// Copies `source`'s values into this tensor in place (same shape and dtype). Used by optimizers
    /// and checkpoint loading; not recorded by autodiff.
    public func assign(_ source: Tensor) throws {
        guard source.shape == shape else {
            throw TensorError("assign", "shape \(describe(shape: source.shape)) into \(describe(shape: shape))")
        }
        let converted = try source.to(dtype)
        storage.pointer.copyMemory(from: converted.storage.pointer, byteCount: count * dtype.byteWidth)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = toDoubles()
        let shown = values.prefix(8).map {
            dtype == .int64 ? String(Int(Tensor.saturatingInteger($0))) : String(format: "%.4g", $0)
        }
        let more = values.count > 8 ? ", ..." : ""
        return "Tensor(\(dtype), \(describe(shape: shape)), [\(shown.joined(separator: ", "))\(more)])"
    }
}
