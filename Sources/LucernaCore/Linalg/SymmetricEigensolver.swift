import Foundation

/// The largest eigenvalues of a large sparse symmetric matrix and their eigenvectors: block Lanczos with
/// full reorthogonalisation and Rayleigh–Ritz (Golub & Underwood's block Lanczos; the Krylov basis is
/// kept and every new block is orthogonalised twice against it, so no spurious copies appear), the block
/// at least as wide as the graph has connected components so that a repeated eigenvalue is found as often
/// as it occurs. Small matrices go to LAPACK's dense `dsyevr`.
///
/// Eigenvectors are stored one after another and signed so that each one's entry of largest magnitude is
/// positive (scikit-learn's `_deterministic_vector_sign_flip`), so the result depends on the matrix only.
public enum SymmetricEigensolver {
    /// The result: eigenvalues in descending order, their unit eigenvectors one after another, the size of
    /// the Krylov basis used (0 for the dense path) and the largest residual ‖M y − θ y‖.
    public struct Result: Sendable {
        public let values: [Double]
        public let vectors: [Double]
        public let basisSize: Int
        public let residual: Double
    }

    /// The `count` largest eigenpairs of the symmetric `matrix`.
    /// - Parameters:
    ///   - blockSize: vectors added to the Krylov basis at a time (raised to the number of connected components).
    ///   - tolerance: stop when every residual is below `tolerance` times the largest |eigenvalue|.
    ///   - maximumBasis: the largest Krylov basis before giving up with an error.
    ///   - seed: the random start block.
    public static func largest(
        _ matrix: SparseMatrix, count: Int, blockSize: Int = 8, tolerance: Double = 1e-9, maximumBasis: Int? = nil,
        seed: UInt64 = 0
    ) throws -> Result {
        let operation = "symmetric_eigensolver"
        let size = matrix.size
        guard count >= 1, count <= size else {
            throw TensorError(operation, "asks for \(count) eigenvalues of a \(size)×\(size) matrix")
        }
        let components = matrix.connectedComponents().count
        let width = min(max(blockSize, components, 1), size)
        let limit = min(size, maximumBasis ?? max(12 * count + 4 * width, 480))
        if size <= max(4 * count + 2 * width, 400) || limit >= size - width {
            return try dense(matrix, count: count)
        }
        // 1. A random orthonormal start block.
        let generator = RandomGenerator(seed: seed)
        var block = (0..<(width * size)).map { _ in generator.nextNormal() }
        try DenseLinearAlgebra.orthonormalize(&block, count: width, length: size)
        var basis: [Double] = []
        basis.reserveCapacity(limit * size)
        var projected = [Double](repeating: 0, count: limit * limit)  // H = Qᵀ M Q, row-major, limit×limit
        var product = [Double](repeating: 0, count: width * size)
        var coefficients: [Double] = []
        var residualNorm = Double.infinity
        var lastCheck = 0
        var nextCheck = 0
        var previousCheck = (basis: 0, residual: Double.infinity)
        while true {
            // 2. Append the block; W = M·block.
            let previous = basis.count / size
            basis.append(contentsOf: block)
            let current = previous + width
            block.withUnsafeBufferPointer { source in
                product.withUnsafeMutableBufferPointer { target in
                    matrix.multiply(source.baseAddress!, count: width, into: target.baseAddress!)
                }
            }
            // 3. H's new columns and rows: C = Q_localᵀ W against the last two blocks (where, by the block
            //    three-term recurrence, all of W's components lie in exact arithmetic; H is zero above them);
            //    W ← W − Q_local C; then W ← W − Q Qᵀ W against the whole basis, which removes what rounding
            //    left along every earlier vector (twice when it cancels more than a 1/√2 of a column's
            //    norm, Daniel–Gragg–Kaufman–Stewart).
            let local = max(0, previous - width)
            coefficients = projection(
                of: product, onto: basis, range: local..<current, count: width, length: size)
            for row in local..<current {
                for column in 0..<width {
                    let value = coefficients[(row - local) * width + column]
                    let at = previous + column
                    if row >= previous {
                        // Inside the new diagonal block: symmetrise.
                        let mirrored = coefficients[(previous + column - local) * width + (row - previous)]
                        projected[row * limit + at] = 0.5 * (value + mirrored)
                    } else {
                        projected[row * limit + at] = value
                        projected[at * limit + row] = value
                    }
                }
            }
            subtract(coefficients, basis: basis, range: local..<current, from: &product, count: width, length: size)
            for pass in 0..<2 {
                let before = norms(of: product, count: width, length: size)
                let again = projection(of: product, onto: basis, range: 0..<current, count: width, length: size)
                subtract(again, basis: basis, range: 0..<current, from: &product, count: width, length: size)
                let after = norms(of: product, count: width, length: size)
                if pass == 1 || zip(before, after).allSatisfy({ $1 >= 0.5.squareRoot() * $0 }) { break }
            }
            // 4. The next block and R with W = next·R; a (near) zero column of R is an invariant subspace: a
            //    fresh random direction replaces it, with no coupling to the basis.
            block = product
            var triangle = try DenseLinearAlgebra.orthonormalize(&block, count: width, length: size)
            let scale = max(1e-300, (0..<width).map { abs(triangle[$0 * width + $0]) }.max() ?? 0)
            if let lost = (0..<width).first(where: { abs(triangle[$0 * width + $0]) <= 1e-12 * max(scale, 1) }),
                current + width < size
            {
                var fresh = (0..<(width * size)).map { _ in generator.nextNormal() }
                for _ in 0..<2 {
                    let c = projection(of: fresh, onto: basis, range: 0..<current, count: width, length: size)
                    subtract(c, basis: basis, range: 0..<current, from: &fresh, count: width, length: size)
                }
                for row in lost..<width {
                    for column in 0..<width { triangle[row * width + column] = 0 }
                }
                var merged = Array(block[0..<(lost * size)]) + Array(fresh[(lost * size)..<(width * size)])
                try DenseLinearAlgebra.orthonormalize(&merged, count: width, length: size)
                block = merged
            }
            // 5. Rayleigh–Ritz once the basis can hold the wanted pairs, then each time it has grown by a fifth
            //    (the small eigenproblem costs O(basis³)), or sooner when the residual's geometric decay over
            //    the last two checks predicts convergence sooner; residual ‖R · u_last‖ per Ritz pair.
            if current >= count + width
                && (lastCheck == 0 || current >= nextCheck || current + width > limit)
            {
                previousCheck = (lastCheck, residualNorm)
                lastCheck = current
                var small = [Double](repeating: 0, count: current * current)
                for row in 0..<current {
                    for column in 0..<current { small[row * current + column] = projected[row * limit + column] }
                }
                let ritz = try DenseLinearAlgebra.symmetricEigen(small, size: current, largest: count)
                var worst = 0.0
                for pair in 0..<count {
                    var squared = 0.0
                    for row in 0..<width {
                        var sum = 0.0
                        for column in row..<width {
                            sum += triangle[row * width + column] * ritz.vectors[pair * current + previous + column]
                        }
                        squared += sum * sum
                    }
                    worst = max(worst, squared.squareRoot())
                }
                residualNorm = worst
                let magnitude = max(abs(ritz.values.first ?? 0), abs(ritz.values.last ?? 0), 1e-300)
                nextCheck = Self.nextCheck(
                    after: (current, worst), previous: previousCheck, target: tolerance * magnitude, width: width)
                if worst <= tolerance * magnitude || current + width > limit {
                    guard worst <= max(tolerance * magnitude, 1e-6 * magnitude) else {
                        throw TensorError(
                            operation,
                            "did not converge with a basis of \(current) vectors (largest residual \(worst)); raise maximumBasis"
                        )
                    }
                    // 6. Ritz vectors y = Q u.
                    var vectors = [Double](repeating: 0, count: count * size)
                    ritz.vectors.withUnsafeBufferPointer { u in
                        basis.withUnsafeBufferPointer { q in
                            vectors.withUnsafeMutableBufferPointer { y in
                                MatrixKernels.gemm(
                                    transposeA: false, transposeB: false, m: count, n: size, k: current,
                                    a: u.baseAddress!, b: q.baseAddress!, c: y.baseAddress!)
                            }
                        }
                    }
                    signFlip(&vectors, count: count, length: size)
                    return Result(values: ritz.values, vectors: vectors, basisSize: current, residual: residualNorm)
                }
            }
        }
    }

    /// The basis size of the next Rayleigh–Ritz check after one at `last`: a fifth larger, or, when the
    /// residual fell since the `previous` check, where its geometric decay per vector reaches `target`
    /// (rounded up to whole blocks, at least one block on).
    static func nextCheck(
        after last: (basis: Int, residual: Double), previous: (basis: Int, residual: Double), target: Double,
        width: Int
    ) -> Int {
        let fifth = max(width, last.basis / 5)
        guard previous.basis > 0, last.residual < previous.residual, last.residual > target, target > 0 else {
            return last.basis + fifth
        }
        let decay = log(last.residual / previous.residual) / Double(last.basis - previous.basis)
        let needed = log(target / last.residual) / decay
        guard needed.isFinite, needed < Double(fifth) else { return last.basis + fifth }
        let blocks = max(1, Int(needed.rounded(.up) + Double(width - 1)) / width)
        return last.basis + blocks * width
    }

    /// The exact dense path: the matrix written out and handed to LAPACK (`O(n³)`; the reference the
    /// iterative path is tested against).
    public static func dense(_ matrix: SparseMatrix, count: Int) throws -> Result {
        let size = matrix.size
        var full = [Double](repeating: 0, count: size * size)
        for row in 0..<size {
            for index in matrix.rowStarts[row]..<matrix.rowStarts[row + 1] {
                full[row * size + matrix.columns[index]] = matrix.values[index]
            }
        }
        let result = try DenseLinearAlgebra.symmetricEigen(full, size: size, largest: count)
        var vectors = result.vectors
        signFlip(&vectors, count: count, length: size)
        return Result(values: result.values, vectors: vectors, basisSize: 0, residual: 0)
    }

    /// C = Qᵀ W for the basis vectors in `range` and `count` vectors W (all of `length`, one after another):
    /// C[i, j] = q_(range.lowerBound + i) · w_j, row-major range.count×count.
    static func projection(of vectors: [Double], onto basis: [Double], range: Range<Int>, count: Int, length: Int)
        -> [Double]
    {
        var result = [Double](repeating: 0, count: range.count * count)
        basis.withUnsafeBufferPointer { q in
            vectors.withUnsafeBufferPointer { w in
                result.withUnsafeMutableBufferPointer { c in
                    MatrixKernels.gemm(
                        transposeA: false, transposeB: true, m: range.count, n: count, k: length,
                        a: q.baseAddress! + range.lowerBound * length, b: w.baseAddress!, c: c.baseAddress!)
                }
            }
        }
        return result
    }

    /// W ← W − Q C for the basis vectors in `range` (W_j −= Σ_i C[i, j] q_(range.lowerBound + i)).
    static func subtract(
        _ coefficients: [Double], basis: [Double], range: Range<Int>, from vectors: inout [Double], count: Int,
        length: Int
    ) {
        let basisCount = range.count
        var transposed = [Double](repeating: 0, count: count * basisCount)  // −Cᵀ, count×basisCount
        for row in 0..<basisCount {
            for column in 0..<count { transposed[column * basisCount + row] = -coefficients[row * count + column] }
        }
        transposed.withUnsafeBufferPointer { c in
            basis.withUnsafeBufferPointer { q in
                vectors.withUnsafeMutableBufferPointer { w in
                    MatrixKernels.gemm(
                        transposeA: false, transposeB: false, m: count, n: length, k: basisCount, a: c.baseAddress!,
                        b: q.baseAddress! + range.lowerBound * length, c: w.baseAddress!, beta: 1)
                }
            }
        }
    }

    /// The Euclidean norm of each of `count` vectors of `length` stored one after another.
    static func norms(of vectors: [Double], count: Int, length: Int) -> [Double] {
        (0..<count).map { vector in
            vectors[(vector * length)..<((vector + 1) * length)].reduce(0) { $0 + $1 * $1 }.squareRoot()
        }
    }

    /// Each vector's sign chosen so that its entry of largest magnitude (the first such) is positive.
    static func signFlip(_ vectors: inout [Double], count: Int, length: Int) {
        for vector in 0..<count {
            let range = (vector * length)..<((vector + 1) * length)
            var largest = range.lowerBound
            for index in range where abs(vectors[index]) > abs(vectors[largest]) { largest = index }
            if vectors[largest] < 0 { for index in range { vectors[index] = -vectors[index] } }
        }
    }
}
