import CKernels

/// Elementwise binary functions the broadcasting kernel implements.
enum BinaryFunction {
    case add, subtract, multiply, divide, maximum, minimum, power
    case greater, greaterOrEqual, less, lessOrEqual, equal

    @inline(__always)
    func apply<T: TensorFloat>(_ a: T, _ b: T) -> T {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        case .maximum: return a.isNaN || b.isNaN ? T.nan : (a >= b ? a : b)
        case .minimum: return a.isNaN || b.isNaN ? T.nan : (a <= b ? a : b)
        case .power: return T.power(a, b)
        case .greater: return a > b ? 1 : 0
        case .greaterOrEqual: return a >= b ? 1 : 0
        case .less: return a < b ? 1 : 0
        case .lessOrEqual: return a <= b ? 1 : 0
        case .equal: return a == b ? 1 : 0
        }
    }
}

/// Elementwise unary functions.
enum UnaryFunction {
    case negate, exponential, logarithm, logarithmOnePlus, squareRoot, absolute, sign, relu, sigmoid
    case hyperbolicTangent, errorFunction, softplus, square, reciprocal
    /// x·σ(x) (SiLU) and its derivative σ(x)·(1 + x·(1 − σ(x))).
    case sigmoidLinearUnit, sigmoidLinearUnitDerivative
    /// x for x > 0, slope * x elsewhere.
    case leakyRelu(slope: Double)
    /// 1 where lower <= x <= upper, else 0 (clamp derivative mask).
    case insideMask(lower: Double, upper: Double)
    case clamp(lower: Double, upper: Double)
    case affine(scale: Double, shift: Double)
}

/// How two shapes broadcast: the output shape, and the coalesced loop dimensions with each operand's
/// element strides (0 along broadcast dimensions).
struct BroadcastPlan {
    let outputShape: [Int]
    let sizes: [Int]
    let stridesA: [Int]
    let stridesB: [Int]

    init?(_ shapeA: [Int], _ shapeB: [Int]) {
        let rank = max(shapeA.count, shapeB.count)
        let paddedA = Array(repeating: 1, count: rank - shapeA.count) + shapeA
        let paddedB = Array(repeating: 1, count: rank - shapeB.count) + shapeB
        var output = [Int](repeating: 1, count: rank)
        for axis in 0..<rank {
            let a = paddedA[axis]
            let b = paddedB[axis]
            if a == b || b == 1 { output[axis] = a } else if a == 1 { output[axis] = b } else { return nil }
        }
        outputShape = output
        var stridesA = [Int](repeating: 0, count: rank)
        var stridesB = [Int](repeating: 0, count: rank)
        var runningA = 1
        var runningB = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            stridesA[axis] = paddedA[axis] == 1 ? 0 : runningA
            stridesB[axis] = paddedB[axis] == 1 ? 0 : runningB
            runningA *= paddedA[axis]
            runningB *= paddedB[axis]
        }
        // Coalesce neighbouring dimensions that are contiguous for both operands, and drop size-1 ones.
        var sizes: [Int] = []
        var coalescedA: [Int] = []
        var coalescedB: [Int] = []
        for axis in 0..<rank where output[axis] != 1 {
            if let lastSize = sizes.last, coalescedA.last! == stridesA[axis] * output[axis],
                coalescedB.last! == stridesB[axis] * output[axis]
            {
                sizes[sizes.count - 1] = lastSize * output[axis]
                coalescedA[coalescedA.count - 1] = stridesA[axis]
                coalescedB[coalescedB.count - 1] = stridesB[axis]
            } else {
                sizes.append(output[axis])
                coalescedA.append(stridesA[axis])
                coalescedB.append(stridesB[axis])
            }
        }
        if sizes.isEmpty {
            sizes = [1]
            coalescedA = [0]
            coalescedB = [0]
        }
        self.sizes = sizes
        self.stridesA = coalescedA
        self.stridesB = coalescedB
    }
}

enum ElementwiseKernels {
    /// `output = f(a, b)` with broadcasting, over typed buffers.
    static func binary<T: TensorFloat>(
        _ function: BinaryFunction, _ plan: BroadcastPlan,
        _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>
    ) {
        let inner = plan.sizes.last!
        let innerA = plan.stridesA.last!
        let innerB = plan.stridesB.last!
        let outerSizes = Array(plan.sizes.dropLast())
        let outerCount = outerSizes.reduce(1, *)
        let outerA = Array(plan.stridesA.dropLast())
        let outerB = Array(plan.stridesB.dropLast())
        // The threads split the flat output range, not the rows: a broadcast that leaves fewer rows than
        // threads (one, for two contiguous operands of the same shape, as most gradients are) or a row count
        // that does not divide evenly still spreads the work. A chunk may start and end inside a row.
        Parallel.forEachChunk(outerCount * inner) { range in
            var position = range.lowerBound
            while position < range.upperBound {
                let (outer, start) = position.quotientAndRemainder(dividingBy: inner)
                let count = min(inner - start, range.upperBound - position)
                let (offsetA, offsetB) = offsets(of: outer, outerSizes, outerA, outerB)
                row(
                    function, a + offsetA + start * innerA, innerA, b + offsetB + start * innerB, innerB,
                    output + position, count)
                position += count
            }
        }
    }

    /// The offsets in `a` and `b` of row `outer` of a broadcast plan's outer axes.
    @inline(__always)
    private static func offsets(of outer: Int, _ sizes: [Int], _ stridesA: [Int], _ stridesB: [Int]) -> (Int, Int) {
        var remainder = outer
        var offsetA = 0
        var offsetB = 0
        for axis in stride(from: sizes.count - 1, through: 0, by: -1) {
            let index = remainder % sizes[axis]
            remainder /= sizes[axis]
            offsetA += index * stridesA[axis]
            offsetB += index * stridesB[axis]
        }
        return (offsetA, offsetB)
    }

    /// `count` outputs of `function` along one row; one specialised loop per function: the switch runs once
    /// per row, never per element.
    @inline(__always)
    private static func row<T: TensorFloat>(
        _ function: BinaryFunction, _ rowA: UnsafePointer<T>, _ innerA: Int, _ rowB: UnsafePointer<T>,
        _ innerB: Int, _ rowOut: UnsafeMutablePointer<T>, _ inner: Int
    ) {
        switch function {
        case .add: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 + $1 }
        case .subtract: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 - $1 }
        case .multiply: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 * $1 }
        case .divide: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 / $1 }
        case .maximum: loop(rowA, innerA, rowB, innerB, rowOut, inner) { BinaryFunction.maximum.apply($0, $1) }
        case .minimum: loop(rowA, innerA, rowB, innerB, rowOut, inner) { BinaryFunction.minimum.apply($0, $1) }
        case .power: loop(rowA, innerA, rowB, innerB, rowOut, inner) { T.power($0, $1) }
        case .greater: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 > $1 ? 1 : 0 }
        case .greaterOrEqual: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 >= $1 ? 1 : 0 }
        case .less: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 < $1 ? 1 : 0 }
        case .lessOrEqual: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 <= $1 ? 1 : 0 }
        case .equal: loop(rowA, innerA, rowB, innerB, rowOut, inner) { $0 == $1 ? 1 : 0 }
        }
    }

    @inline(__always)
    private static func loop<T: TensorFloat>(
        _ a: UnsafePointer<T>, _ strideA: Int, _ b: UnsafePointer<T>, _ strideB: Int,
        _ output: UnsafeMutablePointer<T>, _ count: Int, _ body: (T, T) -> T
    ) {
        if strideA == 1 && strideB == 1 {
            for index in 0..<count { output[index] = body(a[index], b[index]) }
        } else if strideA == 1 && strideB == 0 {
            let value = b[0]
            for index in 0..<count { output[index] = body(a[index], value) }
        } else if strideA == 0 && strideB == 1 {
            let value = a[0]
            for index in 0..<count { output[index] = body(value, b[index]) }
        } else {
            for index in 0..<count { output[index] = body(a[index * strideA], b[index * strideB]) }
        }
    }

    /// `output = f(input)` over `count` contiguous elements.
    static func unary<T: TensorFloat>(
        _ function: UnaryFunction, _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ count: Int
    ) {
        Parallel.forEachChunk(count, costPerItem: 4) { range in
            let source = input + range.lowerBound
            let destination = output + range.lowerBound
            let n = range.count
            switch function {
            case .negate: for i in 0..<n { destination[i] = -source[i] }
            case .exponential:
                if T.self == Float.self {
                    VectorExponential.exponentials(
                        UnsafeRawPointer(source).assumingMemoryBound(to: Float.self),
                        UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Float.self), count: n)
                } else {
                    for i in 0..<n { destination[i] = T.exponential(source[i]) }
                }
            case .logarithm: for i in 0..<n { destination[i] = T.logarithm(source[i]) }
            case .logarithmOnePlus: for i in 0..<n { destination[i] = T.logarithmOnePlus(source[i]) }
            case .squareRoot: for i in 0..<n { destination[i] = T.squareRoot(source[i]) }
            case .absolute: for i in 0..<n { destination[i] = abs(source[i]) }
            case .sign:
                for i in 0..<n {
                    let x = source[i]
                    destination[i] = x > 0 ? 1 : (x < 0 ? -1 : 0)
                }
            case .relu:
                for i in 0..<n {
                    let x = source[i]
                    destination[i] = x <= 0 ? 0 : x
                }  // NaN propagates
            case .sigmoid:
                for i in 0..<n {
                    let x = source[i]
                    if x >= 0 {
                        destination[i] = 1 / (1 + T.exponential(-x))
                    } else {
                        let e = T.exponential(x)
                        destination[i] = e / (1 + e)
                    }
                }
            case .hyperbolicTangent: for i in 0..<n { destination[i] = T.hyperbolicTangent(source[i]) }
            case .errorFunction: for i in 0..<n { destination[i] = T.errorFunction(source[i]) }
            case .softplus:
                for i in 0..<n {
                    let x = source[i]
                    destination[i] = (x > 0 ? x : 0) + T.logarithmOnePlus(T.exponential(-abs(x)))
                }
            case .sigmoidLinearUnit, .sigmoidLinearUnitDerivative:
                let derivative: Bool
                if case .sigmoidLinearUnitDerivative = function { derivative = true } else { derivative = false }
                if T.self == Float.self,
                    lucerna_silu_f32(
                        UnsafeRawPointer(source).assumingMemoryBound(to: Float.self),
                        UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Float.self), n,
                        derivative ? 1 : 0) == 0
                {
                    // done by the AVX2 kernel
                } else {
                    for i in 0..<n {
                        let x = source[i]
                        // σ(x) and 1 − σ(x) without overflow or cancellation, from e^{−|x|} (Double, and Float
                        // on CPUs without AVX2 and FMA).
                        let e = T.exponential(-abs(x))
                        let (sigmoid, complement) = x >= 0 ? (1 / (1 + e), e / (1 + e)) : (e / (1 + e), 1 / (1 + e))
                        destination[i] = derivative ? sigmoid * (1 + x * complement) : x * sigmoid
                    }
                }
            case .square: for i in 0..<n { destination[i] = source[i] * source[i] }
            case .reciprocal: for i in 0..<n { destination[i] = 1 / source[i] }
            case .leakyRelu(let slope):
                let factor = T(slope)
                for i in 0..<n {
                    let x = source[i]
                    destination[i] = x <= 0 ? factor * x : x
                }
            case .insideMask(let lower, let upper):
                let low = T(lower)
                let high = T(upper)
                for i in 0..<n {
                    let x = source[i]
                    destination[i] = (x >= low && x <= high) ? 1 : 0
                }
            case .clamp(let lower, let upper):
                let low = T(lower)
                let high = T(upper)
                for i in 0..<n {
                    let x = source[i]
                    destination[i] = x < low ? low : (x > high ? high : x)
                }
            case .affine(let scale, let shift):
                let factor = T(scale)
                let offset = T(shift)
                for i in 0..<n { destination[i] = source[i] * factor + offset }
            }
        }
    }
}
