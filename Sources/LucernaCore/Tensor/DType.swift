import Foundation

/// The element type of a tensor.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// 32-bit IEEE float, the default for models and data.
    case float32
    /// 64-bit IEEE float, used by gradient checks and available to users.
    case float64
    /// 64-bit signed integer, for labels and indices. Not differentiable.
    case int64

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .float32: return 4
        case .float64, .int64: return 8
        }
    }

    /// Whether values of this type can carry gradients.
    public var isFloatingPoint: Bool { self != .int64 }

    public var description: String { rawValue }
}

/// A floating-point scalar type a tensor can hold, with the elementary functions kernels need.
public protocol TensorFloat: BinaryFloatingPoint, Sendable {
    static var dtype: DType { get }
    static func exponential(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
    static func logarithmOnePlus(_ x: Self) -> Self
    static func squareRoot(_ x: Self) -> Self
    static func hyperbolicTangent(_ x: Self) -> Self
    static func errorFunction(_ x: Self) -> Self
    static func power(_ x: Self, _ y: Self) -> Self
    /// Row-major BLAS GEMM `C = alpha·op(A)·op(B) + beta·C` with explicit leading dimensions.
    static func gemm(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Self,
        _ a: UnsafePointer<Self>, _ lda: Int, _ b: UnsafePointer<Self>, _ ldb: Int, _ beta: Self,
        _ c: UnsafeMutablePointer<Self>, _ ldc: Int)
}

extension Float: TensorFloat {
    public static var dtype: DType { .float32 }
    @inlinable @inline(__always) public static func exponential(_ x: Float) -> Float { expf(x) }
    @inlinable @inline(__always) public static func logarithm(_ x: Float) -> Float { logf(x) }
    @inlinable @inline(__always) public static func logarithmOnePlus(_ x: Float) -> Float { log1pf(x) }
    @inlinable @inline(__always) public static func squareRoot(_ x: Float) -> Float { x.squareRoot() }
    @inlinable @inline(__always) public static func hyperbolicTangent(_ x: Float) -> Float { tanhf(x) }
    @inlinable @inline(__always) public static func errorFunction(_ x: Float) -> Float { erff(x) }
    @inlinable @inline(__always) public static func power(_ x: Float, _ y: Float) -> Float { powf(x, y) }
}

extension Double: TensorFloat {
    public static var dtype: DType { .float64 }
    @inlinable @inline(__always) public static func exponential(_ x: Double) -> Double { exp(x) }
    @inlinable @inline(__always) public static func logarithm(_ x: Double) -> Double { log(x) }
    @inlinable @inline(__always) public static func logarithmOnePlus(_ x: Double) -> Double { log1p(x) }
    @inlinable @inline(__always) public static func squareRoot(_ x: Double) -> Double { x.squareRoot() }
    @inlinable @inline(__always) public static func hyperbolicTangent(_ x: Double) -> Double { tanh(x) }
    @inlinable @inline(__always) public static func errorFunction(_ x: Double) -> Double { erf(x) }
    @inlinable @inline(__always) public static func power(_ x: Double, _ y: Double) -> Double { pow(x, y) }
}
