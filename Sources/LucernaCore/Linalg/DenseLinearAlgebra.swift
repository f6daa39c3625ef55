import CBLAS

/// Dense symmetric eigendecomposition and thin QR in Float64 through OpenBLAS's LAPACK (`dsyevr`,
/// `dgeqrf`/`dorgqr`), for the small projected problems of the iterative solvers and for small matrices.
///
/// Vectors are stored one after another (vector `i` at `i * length ..< (i + 1) * length`), which is LAPACK's
/// column-major layout of the matrix whose columns they are.
public enum DenseLinearAlgebra {
    /// The `count` largest eigenvalues (descending) of the symmetric `size`×`size` matrix `matrix` (row- or
    /// column-major: it is symmetric; only its lower triangle is read) and their unit eigenvectors, one after
    /// another. All of them when `count` is nil.
    public static func symmetricEigen(_ matrix: [Double], size: Int, largest count: Int? = nil) throws -> (
        values: [Double], vectors: [Double]
    ) {
        let operation = "symmetric_eigen"
        guard size > 0, matrix.count == size * size else {
            throw TensorError(operation, "needs a square matrix of \(size)×\(size), got \(matrix.count) values")
        }
        guard Int32(exactly: size) != nil else { throw TensorError(operation, "matrix of size \(size) is too large") }
        let wanted = count ?? size
        guard wanted >= 1, wanted <= size else {
            throw TensorError(operation, "asks for \(wanted) eigenvalues of a \(size)×\(size) matrix")
        }
        guard matrix.allSatisfy(\.isFinite) else {
            throw TensorError(operation, "the matrix has NaN or infinite values")
        }
        var a = matrix
        var n = Int32(size)
        var lda = n
        var lowerBound = 0.0
        var upperBound = 0.0
        var lowIndex = Int32(size - wanted + 1)
        var highIndex = n
        var tolerance = 0.0
        var found: Int32 = 0
        var values = [Double](repeating: 0, count: size)
        var vectors = [Double](repeating: 0, count: size * wanted)
        var ldz = n
        var support = [Int32](repeating: 0, count: 2 * max(1, wanted))
        var info: Int32 = 0
        var workQuery = 0.0
        var integerWorkQuery: Int32 = 0
        var lwork: Int32 = -1
        var liwork: Int32 = -1
        let range: UInt8 = wanted == size ? UInt8(ascii: "A") : UInt8(ascii: "I")
        func call(_ work: UnsafeMutablePointer<Double>, _ integerWork: UnsafeMutablePointer<Int32>) {
            var jobz = CChar(UInt8(ascii: "V"))
            var rangeCharacter = CChar(range)
            var uplo = CChar(UInt8(ascii: "L"))
            dsyevr_(
                &jobz, &rangeCharacter, &uplo, &n, &a, &lda, &lowerBound, &upperBound, &lowIndex, &highIndex,
                &tolerance, &found, &values, &vectors, &ldz, &support, work, &lwork, integerWork, &liwork, &info, 1,
                1, 1)
        }
        call(&workQuery, &integerWorkQuery)
        guard info == 0 else { throw TensorError(operation, "LAPACK dsyevr workspace query failed (info \(info))") }
        lwork = Int32(workQuery.rounded(.up))
        liwork = integerWorkQuery
        var work = [Double](repeating: 0, count: Int(lwork))
        var integerWork = [Int32](repeating: 0, count: Int(liwork))
        call(&work, &integerWork)
        guard info == 0, Int(found) == wanted else {
            throw TensorError(operation, "LAPACK dsyevr failed (info \(info), \(found) of \(wanted) eigenvalues)")
        }
        // LAPACK returns ascending order; largest first here.
        var descendingValues = [Double](repeating: 0, count: wanted)
        var descendingVectors = [Double](repeating: 0, count: size * wanted)
        for index in 0..<wanted {
            let source = wanted - 1 - index
            descendingValues[index] = values[source]
            for element in 0..<size { descendingVectors[index * size + element] = vectors[source * size + element] }
        }
        return (descendingValues, descendingVectors)
    }

    /// Replaces the `count` vectors of `length` stored one after another in `vectors` by the orthonormal
    /// Q of their Householder QR and returns R (`count`×`count`, row-major, upper triangular), so that the
    /// original vector j is Σ_i R[i, j] Q_i. Small diagonal entries of R mark vectors (nearly) dependent on
    /// the ones before them.
    @discardableResult
    public static func orthonormalize(_ vectors: inout [Double], count: Int, length: Int) throws -> [Double] {
        let operation = "orthonormalize"
        guard count >= 1, count <= length, vectors.count == count * length else {
            throw TensorError(
                operation, "needs 1 to \(length) vectors of length \(length), got \(vectors.count) values")
        }
        var m = Int32(length)
        var n = Int32(count)
        var k = n
        var lda = m
        var tau = [Double](repeating: 0, count: count)
        var info: Int32 = 0
        var query = 0.0
        var lwork: Int32 = -1
        dgeqrf_(&m, &n, &vectors, &lda, &tau, &query, &lwork, &info)
        guard info == 0 else { throw TensorError(operation, "LAPACK dgeqrf workspace query failed (info \(info))") }
        lwork = max(1, Int32(query.rounded(.up)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dgeqrf_(&m, &n, &vectors, &lda, &tau, &work, &lwork, &info)
        guard info == 0 else { throw TensorError(operation, "LAPACK dgeqrf failed (info \(info))") }
        var triangle = [Double](repeating: 0, count: count * count)
        for column in 0..<count {
            for row in 0...column { triangle[row * count + column] = vectors[column * length + row] }
        }
        lwork = -1
        dorgqr_(&m, &n, &k, &vectors, &lda, &tau, &query, &lwork, &info)
        guard info == 0 else { throw TensorError(operation, "LAPACK dorgqr workspace query failed (info \(info))") }
        lwork = max(1, Int32(query.rounded(.up)))
        if work.count < Int(lwork) { work = [Double](repeating: 0, count: Int(lwork)) }
        dorgqr_(&m, &n, &k, &vectors, &lda, &tau, &work, &lwork, &info)
        guard info == 0 else { throw TensorError(operation, "LAPACK dorgqr failed (info \(info))") }
        return triangle
    }
}
