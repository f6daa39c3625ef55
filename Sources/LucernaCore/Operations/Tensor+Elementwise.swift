import Foundation

extension Tensor {
    /// Records a unary operation whose backward is `gradient * derivative(self, output)`.
    private func unary(
        _ function: UnaryFunction, _ operation: String,
        derivative: @escaping (_ input: Tensor, _ output: Tensor) throws -> Tensor
    ) throws -> Tensor {
        let result = try computeUnary(function, operation)
        return Tensor.record(result, operation: operation, inputs: [self]) { [self] gradient, output in
            [try gradient * derivative(self, output)]
        }
    }

    /// `-self`.
    public func negated() throws -> Tensor {
        try affine(scale: -1, shift: 0)
    }

    /// `self * scale + shift`, one pass.
    public func affine(scale: Double, shift: Double) throws -> Tensor {
        let result = try computeUnary(.affine(scale: scale, shift: shift), "affine")
        return Tensor.record(result, operation: "affine", inputs: [self]) { gradient, _ in
            [try gradient.affine(scale: scale, shift: 0)]
        }
    }

    /// Elementwise `e^x`.
    public func exp() throws -> Tensor { try unary(.exponential, "exp") { _, output in output } }

    /// Elementwise natural logarithm.
    public func log() throws -> Tensor { try unary(.logarithm, "log") { input, _ in try input.reciprocal() } }

    /// Elementwise `log(1 + x)`.
    public func log1p() throws -> Tensor {
        try unary(.logarithmOnePlus, "log1p") { input, _ in try (input + 1).reciprocal() }
    }

    /// Elementwise square root.
    public func sqrt() throws -> Tensor {
        try unary(.squareRoot, "sqrt") { _, output in try output.reciprocal() * 0.5 }
    }

    /// Elementwise `1 / x`.
    public func reciprocal() throws -> Tensor {
        try unary(.reciprocal, "reciprocal") { _, output in try (output * output).negated() }
    }

    /// Elementwise `x * x`.
    public func square() throws -> Tensor { try self * self }

    /// Elementwise absolute value (subgradient 0 at 0, as in PyTorch).
    public func abs() throws -> Tensor {
        try unary(.absolute, "abs") { input, _ in try input.computeUnary(.sign, "abs") }
    }

    /// Elementwise sign (-1, 0, 1); zero gradient.
    public func sign() throws -> Tensor { try computeUnary(.sign, "sign") }

    /// `max(x, 0)`.
    public func relu() throws -> Tensor { try leakyRelu(slope: 0) }

    /// `x` for positive `x`, `slope * x` elsewhere.
    public func leakyRelu(slope: Double = 0.01) throws -> Tensor {
        let name = slope == 0 ? "relu" : "leaky_relu"
        let result = try computeUnary(slope == 0 ? .relu : .leakyRelu(slope: slope), name)
        return Tensor.record(result, operation: name, inputs: [self]) { [self] gradient, _ in
            [try gradient.scaledByStep(of: self, negativeValue: slope)]
        }
    }

    /// `self · (input > 0 ? 1 : negativeValue)` in one pass: the (leaky) ReLU backward. Linear in `self`,
    /// so its own backward is the same operation; its derivative in `input` is zero almost everywhere.
    func scaledByStep(of input: Tensor, negativeValue: Double) throws -> Tensor {
        guard input.shape == shape, input.dtype == dtype else {
            throw TensorError(
                "relu_backward",
                "gradient \(dtype) \(describe(shape: shape)) does not match input \(input.dtype) \(describe(shape: input.shape))"
            )
        }
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        if dtype == .float32 {
            let (gradient, source, output) = (
                pointer(as: Float.self), input.pointer(as: Float.self), result.pointer(as: Float.self)
            )
            let total = count
            let low = Float(negativeValue)
            Parallel.forEachChunk(total, costPerItem: 2) { range in
                Tensor.scaleByStepVectorized(
                    gradient + range.lowerBound, source + range.lowerBound,
                    output + range.lowerBound, range.count, low)
            }
        } else {
            Tensor.scaleByStep(
                pointer(as: Double.self), input.pointer(as: Double.self), result.pointer(as: Double.self),
                count, negativeValue)
        }
        return Tensor.record(result, operation: "relu_backward", inputs: [self]) { gradient, _ in
            [try gradient.scaledByStep(of: input, negativeValue: negativeValue)]
        }
    }

    private static func scaleByStep<T: TensorFloat>(
        _ gradient: UnsafePointer<T>, _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ count: Int,
        _ negativeValue: T
    ) {
        Parallel.forEachChunk(count, costPerItem: 2) { range in
            for index in range {
                output[index] =
                    input[index] > 0 ? gradient[index] : (negativeValue == 0 ? 0 : negativeValue * gradient[index])
            }
        }
    }

    /// Branch-free selects, eight lanes at a time (the sign of the input is unpredictable, so a branchy
    /// loop mispredicts about half the time). Concrete `Float` so the SIMD operations fully inline.
    private static func scaleByStepVectorized(
        _ gradient: UnsafePointer<Float>, _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        _ count: Int, _ negativeValue: Float
    ) {
        typealias Vector = SIMD8<Float>
        let (rawGradient, rawInput, rawOutput) = (
            UnsafeRawPointer(gradient), UnsafeRawPointer(input), UnsafeMutableRawPointer(output)
        )
        let zero = Vector(repeating: 0)
        let low = Vector(repeating: negativeValue)
        var index = 0
        while index + Vector.scalarCount <= count {
            let offset = index * MemoryLayout<Float>.stride
            let x = rawInput.loadUnaligned(fromByteOffset: offset, as: Vector.self)
            let g = rawGradient.loadUnaligned(fromByteOffset: offset, as: Vector.self)
            let scaled = negativeValue == 0 ? zero : g * low
            rawOutput.storeBytes(of: scaled.replacing(with: g, where: x .> zero), toByteOffset: offset, as: Vector.self)
            index += Vector.scalarCount
        }
        while index < count {
            output[index] =
                input[index] > 0 ? gradient[index] : (negativeValue == 0 ? 0 : negativeValue * gradient[index])
            index += 1
        }
    }

    /// The logistic function.
    public func sigmoid() throws -> Tensor {
        try unary(.sigmoid, "sigmoid") { _, output in try output * (1 - output) }
    }

    /// Hyperbolic tangent.
    public func tanh() throws -> Tensor {
        try unary(.hyperbolicTangent, "tanh") { _, output in try 1 - output * output }
    }

    /// `log(1 + e^x)`, computed stably.
    public func softplus() throws -> Tensor {
        try unary(.softplus, "softplus") { input, _ in try input.sigmoid() }
    }

    /// SiLU (swish), `x·σ(x)`, in one pass (Elfwing et al. 2018; Ramachandran et al. 2017; PyTorch's `silu`).
    public func silu() throws -> Tensor {
        try unary(.sigmoidLinearUnit, "silu") { input, _ in try input.siluDerivative() }
    }

    /// SiLU's derivative σ(x)·(1 + x·(1 − σ(x))) in one pass; its own derivative, σ(1 − σ)·(2 + x·(1 − 2σ)), is
    /// composed (for gradients of gradients).
    func siluDerivative() throws -> Tensor {
        try unary(.sigmoidLinearUnitDerivative, "silu_backward") { input, _ in
            let sigmoid = try input.sigmoid()
            return try sigmoid * (1 - sigmoid) * (input * (1 - sigmoid * 2) + 2)
        }
    }

    /// The Gauss error function.
    public func erf() throws -> Tensor {
        try unary(.errorFunction, "erf") { input, _ in
            try (input * input).negated().exp() * (2 / Foundation.sqrt(Double.pi))
        }
    }

    /// GELU, exact form `x * Φ(x)` (PyTorch's default); `approximate: true` uses the tanh form.
    public func gelu(approximate: Bool = false) throws -> Tensor {
        if approximate {
            let inner = try (self + self * self * self * 0.044715) * Foundation.sqrt(2 / Double.pi)
            return try self * 0.5 * (inner.tanh() + 1)
        }
        return try self * 0.5 * ((self * (1 / Foundation.sqrt(2.0))).erf() + 1)
    }

    /// Clamps to `[lower, upper]`; the gradient is passed where the input is inside (PyTorch's rule).
    public func clamp(min lower: Double = -.infinity, max upper: Double = .infinity) throws -> Tensor {
        guard !(lower > upper) else { throw TensorError("clamp", "min \(lower) is greater than max \(upper)") }
        return try unary(.clamp(lower: lower, upper: upper), "clamp") { input, _ in
            try input.computeUnary(.insideMask(lower: lower, upper: upper), "clamp")
        }
    }

    /// Elementwise selection: `a` where `condition` is non-zero, `b` elsewhere, with broadcasting.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.dtype == b.dtype else {
            throw TensorError("where", "dtypes differ: \(a.dtype) and \(b.dtype)")
        }
        try a.requireFloatingPoint("where")
        guard let planAB = BroadcastPlan(a.shape, b.shape),
            let plan = BroadcastPlan(condition.shape, planAB.outputShape)
        else {
            throw TensorError(
                "where",
                "shapes \(describe(shape: condition.shape)), \(describe(shape: a.shape)) and \(describe(shape: b.shape)) do not broadcast"
            )
        }
        let shape = plan.outputShape
        try validate(shape: shape, dtype: a.dtype, operation: "where")
        let mask = try condition.to(a.dtype).expandedCopy(to: shape)
        let first = try a.expandedCopy(to: shape)
        let second = try b.expandedCopy(to: shape)
        let result = Tensor(uninitializedShape: shape, dtype: a.dtype)
        let total = result.count
        if a.dtype == .float32 {
            select(
                mask.pointer(as: Float.self), first.pointer(as: Float.self), second.pointer(as: Float.self),
                result.pointer(as: Float.self), total)
        } else {
            select(
                mask.pointer(as: Double.self), first.pointer(as: Double.self), second.pointer(as: Double.self),
                result.pointer(as: Double.self), total)
        }
        return record(result, operation: "where", inputs: [a, b]) { gradient, _ in
            let zero = gradient.scalar(0)
            return [
                a.needsGradient ? try Tensor.where(mask, gradient, zero).sum(toShape: a.shape) : nil,
                b.needsGradient ? try Tensor.where(mask, zero, gradient).sum(toShape: b.shape) : nil,
            ]
        }
    }

    private static func select<T: TensorFloat>(
        _ mask: UnsafePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>,
        _ count: Int
    ) {
        Parallel.forEachChunk(count) { range in
            for index in range { output[index] = mask[index] != 0 ? a[index] : b[index] }
        }
    }

    /// Converts to another dtype (differentiable between float types). Returns `self` when equal.
    public func to(_ target: DType) throws -> Tensor {
        if target == dtype { return self }
        let result = Tensor(uninitializedShape: shape, dtype: target)
        let total = count
        switch (dtype, target) {
        case (.float32, .float64):
            convert(pointer(as: Float.self), result.pointer(as: Double.self), total) { Double($0) }
        case (.float64, .float32):
            convert(pointer(as: Double.self), result.pointer(as: Float.self), total) { Float($0) }
        case (.int64, .float32): convert(pointer(as: Int64.self), result.pointer(as: Float.self), total) { Float($0) }
        case (.int64, .float64): convert(pointer(as: Int64.self), result.pointer(as: Double.self), total) { Double($0) }
        case (.float32, .int64):
            try convertToIntegers(pointer(as: Float.self), result.pointer(as: Int64.self), total)
        case (.float64, .int64):
            try convertToIntegers(pointer(as: Double.self), result.pointer(as: Int64.self), total)
        default: break
        }
        guard dtype.isFloatingPoint && target.isFloatingPoint else { return result }
        let source = dtype
        return Tensor.record(result, operation: "to", inputs: [self]) { gradient, _ in [try gradient.to(source)] }
    }

    private func convert<Source, Target>(
        _ source: UnsafePointer<Source>, _ target: UnsafeMutablePointer<Target>, _ count: Int,
        _ body: (Source) -> Target
    ) {
        for index in 0..<count { target[index] = body(source[index]) }
    }

    private func convertToIntegers<Source: BinaryFloatingPoint>(
        _ source: UnsafePointer<Source>, _ target: UnsafeMutablePointer<Int64>, _ count: Int
    ) throws {
        for index in 0..<count {
            let value = source[index]
            guard value.isFinite, Swift.abs(Double(value)) < 9.2e18 else {
                throw TensorError(
                    "to(int64)", "value \(value) at element \(index) is not a finite integer-sized number")
            }
            target[index] = Int64(value)
        }
    }
}
