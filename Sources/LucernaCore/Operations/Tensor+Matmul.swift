extension Tensor {
    /// Matrix product with NumPy semantics: 1-D operands are promoted and the added axis removed, and
    /// leading (batch) dimensions broadcast.
    public func matmul(_ other: Tensor) throws -> Tensor {
        guard rank >= 1, other.rank >= 1 else {
            throw TensorError(
                "matmul", "\(describe(shape: shape)) x \(describe(shape: other.shape)): scalars are not matrices")
        }
        let left = rank == 1 ? try unsqueezed(axis: 0) : self
        let right = other.rank == 1 ? try other.unsqueezed(axis: -1) : other
        var result = try left.matmul(right, transposingSelf: false, transposingOther: false)
        if rank == 1 { result = try result.squeezed(axis: -2) }
        if other.rank == 1 { result = try result.squeezed(axis: -1) }
        return result
    }

    /// Batched `op(self) · op(other)` where `op` optionally swaps the last two axes, without copying.
    public func matmul(_ other: Tensor, transposingSelf: Bool, transposingOther: Bool) throws -> Tensor {
        let operation = "matmul"
        guard dtype == other.dtype, dtype.isFloatingPoint else {
            throw TensorError(
                operation,
                "\(dtype) \(describe(shape: shape)) x \(other.dtype) \(describe(shape: other.shape)): needs equal floating-point dtypes"
            )
        }
        guard rank >= 2, other.rank >= 2 else {
            throw TensorError(operation, "\(describe(shape: shape)) x \(describe(shape: other.shape)): needs rank >= 2")
        }
        let m = transposingSelf ? shape[rank - 1] : shape[rank - 2]
        let k = transposingSelf ? shape[rank - 2] : shape[rank - 1]
        let kOther = transposingOther ? other.shape[other.rank - 1] : other.shape[other.rank - 2]
        let n = transposingOther ? other.shape[other.rank - 2] : other.shape[other.rank - 1]
        guard k == kOther else {
            throw TensorError(
                operation,
                "\(describe(shape: shape))\(transposingSelf ? "ᵀ" : "") x \(describe(shape: other.shape))\(transposingOther ? "ᵀ" : ""): inner dimensions differ (\(k) vs \(kOther))"
            )
        }
        let batchA = Array(shape.dropLast(2))
        let batchB = Array(other.shape.dropLast(2))
        guard let batchPlan = BroadcastPlan(batchA, batchB) else {
            throw TensorError(
                operation,
                "\(describe(shape: shape)) x \(describe(shape: other.shape)): batch dimensions do not broadcast")
        }
        let batchShape = batchPlan.outputShape
        try Tensor.validate(shape: batchShape + [m, n], dtype: dtype, operation: operation)
        let result = Tensor(uninitializedShape: batchShape + [m, n], dtype: dtype)
        let batchCount = batchShape.reduce(1, *)
        let sizeA = m * k
        let sizeB = k * n
        let sizeC = m * n
        // Offsets of each batch's matrices (broadcast batches repeat a matrix).
        func offsets(_ batch: [Int]) -> [Int] {
            let padded = Array(repeating: 1, count: batchShape.count - batch.count) + batch
            let strides = CopyKernels.contiguousStrides(padded)
            return (0..<batchCount).map { flat in
                var remainder = flat
                var offset = 0
                for axis in stride(from: batchShape.count - 1, through: 0, by: -1) {
                    let index = remainder % batchShape[axis]
                    remainder /= batchShape[axis]
                    if padded[axis] != 1 { offset += index * strides[axis] }
                }
                return offset
            }
        }
        let foldBatchIntoRows = !transposingSelf && batchB.reduce(1, *) == 1 && batchA.count == batchShape.count
        if foldBatchIntoRows {
            // One GEMM with the batch folded into the rows of A (linear layers on 3-D inputs).
            gemm(transposingSelf, transposingOther, batchCount * m, n, k, other, result, 0, 0, 0)
        } else {
            let offsetsA = offsets(batchA)
            let offsetsB = offsets(batchB)
            // Many small products (attention, 1×1 convolutions): the threads take whole products, each on
            // one thread, instead of splitting every small product across them.
            let serial = batchCount >= Parallel.threadCount
            Parallel.forEachChunk(serial ? batchCount : 1, costPerItem: m * n * k) { range in
                for batch in serial ? range : 0..<batchCount {
                    gemm(
                        transposingSelf, transposingOther, m, n, k, other, result, offsetsA[batch] * sizeA,
                        offsetsB[batch] * sizeB, batch * sizeC, serial: serial)
                }
            }
        }
        let (shapeA, shapeB) = (shape, other.shape)
        return Tensor.record(result, operation: operation, inputs: [self, other]) { [self] gradient, _ in
            var gradientA: Tensor?
            var gradientB: Tensor?
            if self.needsGradient {
                let product =
                    transposingSelf
                    ? try other.matmul(gradient, transposingSelf: transposingOther, transposingOther: true)
                    : try gradient.matmul(other, transposingSelf: false, transposingOther: !transposingOther)
                gradientA = try product.sum(toShape: shapeA)
            }
            if other.needsGradient {
                let product =
                    transposingOther
                    ? try gradient.matmul(self, transposingSelf: true, transposingOther: transposingSelf)
                    : try self.matmul(gradient, transposingSelf: !transposingSelf, transposingOther: false)
                gradientB = try product.sum(toShape: shapeB)
            }
            return [gradientA, gradientB]
        }
    }

    /// One product; `serial` keeps it on the calling thread (the caller parallelises over products).
    private func gemm(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ other: Tensor, _ result: Tensor,
        _ offsetA: Int, _ offsetB: Int, _ offsetC: Int, serial: Bool = false
    ) {
        if dtype == .float32 {
            product(
                transposeA, transposeB, m, n, k, pointer(as: Float.self) + offsetA,
                other.pointer(as: Float.self) + offsetB, result.pointer(as: Float.self) + offsetC, serial: serial)
        } else {
            product(
                transposeA, transposeB, m, n, k, pointer(as: Double.self) + offsetA,
                other.pointer(as: Double.self) + offsetB, result.pointer(as: Double.self) + offsetC, serial: serial)
        }
    }

    private func product<T: TensorFloat>(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<T>,
        _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>, serial: Bool
    ) {
        if serial {
            MatrixKernels.gemmSerial(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: transposeA ? m : k, b: b,
                ldb: transposeB ? k : n, c: c, ldc: n)
        } else {
            MatrixKernels.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, b: b, c: c)
        }
    }
}
