import CBLAS

extension Float {
    /// Row-major `cblas_sgemm` (the ``TensorFloat`` GEMM requirement).
    public static func gemm(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension Double {
    /// Row-major `cblas_dgemm` (the ``TensorFloat`` GEMM requirement).
    public static func gemm(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
        _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int, _ beta: Double,
        _ c: UnsafeMutablePointer<Double>, _ ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Row-major GEMM `C = op(A) op(B) + beta·C` through OpenBLAS (kept single-threaded), split across the
/// engine's threads by blocks of rows or columns of C when large.
enum MatrixKernels {
    /// On the calling thread only, on matrices with explicit row strides (leading dimensions); empty
    /// shapes are handled here (BLAS rejects a zero leading dimension).
    static func gemmSerial<T: TensorFloat>(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int, c: UnsafeMutablePointer<T>, ldc: Int, beta: T = 0
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) } }
            return
        }
        T.gemm(transposeA, transposeB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
    }

    /// Split across threads: by rows of C when it has more rows than columns, else by columns.
    static func gemm<T: TensorFloat>(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<T>, b: UnsafePointer<T>, c: UnsafeMutablePointer<T>, beta: T = 0
    ) {
        let work = m * n * k
        let (lda, ldb) = (transposeA ? m : k, transposeB ? k : n)
        if Parallel.threadCount <= 1 || work < 1 << 18 || (m < 32 && n < 32) {
            gemmSerial(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c,
                ldc: n, beta: beta)
            return
        }
        let splitRows = m >= n
        let blocks = min(Parallel.threadCount, splitRows ? m : n)
        let blockSize = ((splitRows ? m : n) + blocks - 1) / blocks
        Parallel.forEachChunk(blocks, costPerItem: 1 << 20) { range in
            for block in range {
                let start = block * blockSize
                let end = min((block + 1) * blockSize, splitRows ? m : n)
                if start >= end { continue }
                if splitRows {
                    let aBlock = a + (transposeA ? start : start * lda)
                    gemmSerial(
                        transposeA: transposeA, transposeB: transposeB, m: end - start, n: n, k: k, a: aBlock, lda: lda,
                        b: b, ldb: ldb, c: c + start * n, ldc: n, beta: beta)
                } else {
                    let bBlock = b + (transposeB ? start * ldb : start)
                    gemmSerial(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: end - start, k: k, a: a, lda: lda,
                        b: bBlock, ldb: ldb, c: c + start, ldc: n, beta: beta)
                }
            }
        }
    }
}
