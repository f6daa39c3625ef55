extension Tensor {
    // MARK: Kernel dispatch (not recorded)

    /// Checks that `tensor` holds floating-point values for `operation`.
    func requireFloatingPoint(_ operation: String) throws {
        guard dtype.isFloatingPoint else {
            throw TensorError(operation, "needs a floating-point tensor, got \(dtype) \(describe(shape: shape))")
        }
    }

    /// Computes `function(a, b)` with broadcasting, without recording.
    static func computeBinary(_ function: BinaryFunction, _ a: Tensor, _ b: Tensor, _ operation: String) throws
        -> Tensor
    {
        guard a.dtype == b.dtype else {
            throw TensorError(
                operation,
                "dtypes differ: \(a.dtype) \(describe(shape: a.shape)) and \(b.dtype) \(describe(shape: b.shape))")
        }
        try a.requireFloatingPoint(operation)
        guard let plan = BroadcastPlan(a.shape, b.shape) else {
            throw TensorError(
                operation, "shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape)) do not broadcast")
        }
        try validate(shape: plan.outputShape, dtype: a.dtype, operation: operation)
        let result = Tensor(uninitializedShape: plan.outputShape, dtype: a.dtype)
        if a.dtype == .float32 {
            ElementwiseKernels.binary(
                function, plan, a.pointer(as: Float.self), b.pointer(as: Float.self),
                result.pointer(as: Float.self))
        } else {
            ElementwiseKernels.binary(
                function, plan, a.pointer(as: Double.self), b.pointer(as: Double.self),
                result.pointer(as: Double.self))
        }
        return result
    }

    /// Computes `function(self)` elementwise, without recording.
    func computeUnary(_ function: UnaryFunction, _ operation: String) throws -> Tensor {
        try requireFloatingPoint(operation)
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        if dtype == .float32 {
            ElementwiseKernels.unary(function, pointer(as: Float.self), result.pointer(as: Float.self), count)
        } else {
            ElementwiseKernels.unary(function, pointer(as: Double.self), result.pointer(as: Double.self), count)
        }
        return result
    }

    /// A scalar of this tensor's dtype.
    func scalar(_ value: Double) -> Tensor { Tensor(value, dtype: dtype) }

    // MARK: Differentiable binary operations

    /// Elementwise sum with broadcasting.
    public func adding(_ other: Tensor) throws -> Tensor {
        let result = try Tensor.computeBinary(.add, self, other, "add")
        let (shapeA, shapeB) = (shape, other.shape)
        return Tensor.record(result, operation: "add", inputs: [self, other]) { gradient, _ in
            [try gradient.sum(toShape: shapeA), try gradient.sum(toShape: shapeB)]
        }
    }

    /// Elementwise difference with broadcasting.
    public func subtracting(_ other: Tensor) throws -> Tensor {
        let result = try Tensor.computeBinary(.subtract, self, other, "sub")
        let (shapeA, shapeB) = (shape, other.shape)
        return Tensor.record(result, operation: "sub", inputs: [self, other]) { gradient, _ in
            [try gradient.sum(toShape: shapeA), try gradient.negated().sum(toShape: shapeB)]
        }
    }

    /// Elementwise product with broadcasting.
    public func multiplying(_ other: Tensor) throws -> Tensor {
        let result = try Tensor.computeBinary(.multiply, self, other, "mul")
        return Tensor.record(result, operation: "mul", inputs: [self, other]) { [self] gradient, _ in
            [
                self.needsGradient ? try (gradient * other).sum(toShape: self.shape) : nil,
                other.needsGradient ? try (gradient * self).sum(toShape: other.shape) : nil,
            ]
        }
    }

    /// Elementwise quotient with broadcasting.
    public func dividing(by other: Tensor) throws -> Tensor {
        let result = try Tensor.computeBinary(.divide, self, other, "div")
        return Tensor.record(result, operation: "div", inputs: [self, other]) { [self] gradient, _ in
            [
                self.needsGradient ? try (gradient / other).sum(toShape: self.shape) : nil,
                other.needsGradient ? try (gradient.negated() * self / (other * other)).sum(toShape: other.shape) : nil,
            ]
        }
    }

    /// Elementwise power `self ^ exponent` with broadcasting.
    public func pow(_ exponent: Tensor) throws -> Tensor {
        let result = try Tensor.computeBinary(.power, self, exponent, "pow")
        return Tensor.record(result, operation: "pow", inputs: [self, exponent]) { [self] gradient, output in
            [
                self.needsGradient
                    ? try (gradient * exponent * self.pow(exponent - 1)).sum(toShape: self.shape) : nil,
                exponent.needsGradient
                    ? try (gradient * output * self.log()).sum(toShape: exponent.shape) : nil,
            ]
        }
    }

    /// Elementwise power with a constant exponent.
    public func pow(_ exponent: Double) throws -> Tensor {
        if exponent == 2 { return try self * self }
        let result = try Tensor.computeBinary(.power, self, scalar(exponent), "pow")
        return Tensor.record(result, operation: "pow", inputs: [self]) { [self] gradient, _ in
            [try gradient * self.pow(exponent - 1) * exponent]
        }
    }

    /// Elementwise maximum; where equal, the gradient is split evenly (as in PyTorch).
    public func maximum(_ other: Tensor) throws -> Tensor {
        try extremum(other, .maximum, .greater, "maximum")
    }

    /// Elementwise minimum; where equal, the gradient is split evenly (as in PyTorch).
    public func minimum(_ other: Tensor) throws -> Tensor {
        try extremum(other, .minimum, .less, "minimum")
    }

    private func extremum(
        _ other: Tensor, _ function: BinaryFunction, _ strict: BinaryFunction,
        _ operation: String
    ) throws -> Tensor {
        let result = try Tensor.computeBinary(function, self, other, operation)
        return Tensor.record(result, operation: operation, inputs: [self, other]) { [self] gradient, _ in
            // Weight 1 where self wins, 0.5 on ties, 0 where other wins.
            let wins = try Tensor.computeBinary(strict, self, other, operation)
            let ties = try Tensor.computeBinary(.equal, self, other, operation)
            let weightSelf = try Tensor.computeBinary(.add, wins, ties * 0.5, operation)
            let weightOther = try Tensor.computeUnary(weightSelf, .affine(scale: -1, shift: 1), operation)
            return [
                try (gradient * weightSelf).sum(toShape: self.shape),
                try (gradient * weightOther).sum(toShape: other.shape),
            ]
        }
    }

    // MARK: Comparisons (not differentiable; 1 where true, 0 elsewhere)

    // Integer tensors (labels, groups) compare too, giving int64 0/1, exactly while their values are below 2^53.

    public func greater(_ other: Tensor) throws -> Tensor { try compare(.greater, other, "gt") }
    public func greaterOrEqual(_ other: Tensor) throws -> Tensor { try compare(.greaterOrEqual, other, "ge") }
    public func less(_ other: Tensor) throws -> Tensor { try compare(.less, other, "lt") }
    public func lessOrEqual(_ other: Tensor) throws -> Tensor { try compare(.lessOrEqual, other, "le") }
    public func equal(_ other: Tensor) throws -> Tensor { try compare(.equal, other, "eq") }

    private func compare(_ function: BinaryFunction, _ other: Tensor, _ operation: String) throws -> Tensor {
        guard dtype == .int64, other.dtype == .int64 else {
            return try Tensor.computeBinary(function, self, other, operation)
        }
        let limit = 9_007_199_254_740_992.0  // 2^53: every int64 below it is exact in float64
        for tensor in [self, other] where tensor.toDoubles().contains(where: { Swift.abs($0) >= limit }) {
            throw TensorError(operation, "int64 values of magnitude 2^53 or more cannot be compared exactly")
        }
        return try Tensor.computeBinary(function, try to(.float64), try other.to(.float64), operation).to(.int64)
    }

    // MARK: Operators

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.adding(b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.subtracting(b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.multiplying(b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.dividing(by: b) }
    public static func + (a: Tensor, b: Double) throws -> Tensor { try a.affine(scale: 1, shift: b) }
    public static func - (a: Tensor, b: Double) throws -> Tensor { try a.affine(scale: 1, shift: -b) }
    public static func * (a: Tensor, b: Double) throws -> Tensor { try a.affine(scale: b, shift: 0) }
    public static func / (a: Tensor, b: Double) throws -> Tensor { try a.affine(scale: 1 / b, shift: 0) }
    public static func + (a: Double, b: Tensor) throws -> Tensor { try b.affine(scale: 1, shift: a) }
    public static func - (a: Double, b: Tensor) throws -> Tensor { try b.affine(scale: -1, shift: a) }
    public static func * (a: Double, b: Tensor) throws -> Tensor { try b.affine(scale: a, shift: 0) }
    public static func / (a: Double, b: Tensor) throws -> Tensor { try b.scalar(a).dividing(by: b) }
    public static prefix func - (a: Tensor) throws -> Tensor { try a.negated() }
}

extension Tensor {
    /// A non-recording helper for internal masks: `function(tensor)`.
    static func computeUnary(_ tensor: Tensor, _ function: UnaryFunction, _ operation: String) throws -> Tensor {
        try tensor.computeUnary(function, operation)
    }
}
