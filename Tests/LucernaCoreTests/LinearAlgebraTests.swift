import XCTest

@testable import LucernaCore

/// Dense LAPACK wrappers against their definitions, and the block Lanczos solver against the dense one.
final class LinearAlgebraTests: XCTestCase {
    func randomSymmetric(_ size: Int, seed: UInt64) -> [Double] {
        let generator = RandomGenerator(seed: seed)
        var matrix = [Double](repeating: 0, count: size * size)
        for row in 0..<size {
            for column in 0...row {
                let value = generator.nextNormal()
                matrix[row * size + column] = value
                matrix[column * size + row] = value
            }
        }
        return matrix
    }

    func testSymmetricEigenSatisfiesItsDefinition() throws {
        let size = 20
        let matrix = randomSymmetric(size, seed: 3)
        let all = try DenseLinearAlgebra.symmetricEigen(matrix, size: size)
        XCTAssertEqual(all.values, all.values.sorted(by: >), "descending")
        for pair in 0..<size {
            let vector = Array(all.vectors[(pair * size)..<((pair + 1) * size)])
            for row in 0..<size {
                let product = (0..<size).reduce(0.0) { $0 + matrix[row * size + $1] * vector[$1] }
                XCTAssertEqual(product, all.values[pair] * vector[row], accuracy: 1e-10)
            }
            for other in 0..<size {
                let dot = (0..<size).reduce(0.0) { $0 + vector[$1] * all.vectors[other * size + $1] }
                XCTAssertEqual(dot, other == pair ? 1 : 0, accuracy: 1e-10)
            }
        }
        let top = try DenseLinearAlgebra.symmetricEigen(matrix, size: size, largest: 5)
        for pair in 0..<5 { XCTAssertEqual(top.values[pair], all.values[pair], accuracy: 1e-10) }
        XCTAssertThrowsError(try DenseLinearAlgebra.symmetricEigen([1, 2, 3], size: 2))
        XCTAssertThrowsError(try DenseLinearAlgebra.symmetricEigen([1, .nan, .nan, 1], size: 2))
    }

    func testOrthonormalizeReturnsTheQRFactors() throws {
        let (count, length) = (5, 30)
        let generator = RandomGenerator(seed: 4)
        let original = (0..<(count * length)).map { _ in generator.nextNormal() }
        var vectors = original
        let triangle = try DenseLinearAlgebra.orthonormalize(&vectors, count: count, length: length)
        for first in 0..<count {
            for second in 0..<count {
                let dot = (0..<length).reduce(0.0) { $0 + vectors[first * length + $1] * vectors[second * length + $1] }
                XCTAssertEqual(dot, first == second ? 1 : 0, accuracy: 1e-12)
            }
            for element in 0..<length {
                // original_j = Σ_i R[i, j] q_i
                let rebuilt = (0..<count).reduce(0.0) {
                    $0 + triangle[$1 * count + first] * vectors[$1 * length + element]
                }
                XCTAssertEqual(rebuilt, original[first * length + element], accuracy: 1e-12)
            }
        }
    }

    /// The normalised affinity D^-1/2 A D^-1/2 of a symmetric k-nearest-neighbour graph of points drawn
    /// around `clusters` centres (clusters far apart make separate components).
    func knnGraph(points: Int, clusters: Int, neighbours: Int, spread: Double, seed: UInt64) throws -> SparseMatrix {
        let generator = RandomGenerator(seed: seed)
        let dimension = 5
        var coordinates: [[Double]] = []
        for point in 0..<points {
            let centre = Double(point % clusters) * spread
            coordinates.append((0..<dimension).map { axis in (axis == 0 ? centre : 0) + generator.nextNormal() })
        }
        var entries: [(row: Int, column: Int, value: Double)] = []
        for point in 0..<points {
            let nearest = (0..<points).filter { $0 != point }.map { other -> (Double, Int) in
                (zip(coordinates[point], coordinates[other]).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }, other)
            }.sorted { $0 < $1 }.prefix(neighbours)
            for (_, other) in nearest {
                entries.append((point, other, 0.5))
                entries.append((other, point, 0.5))
            }
        }
        let affinity = try SparseMatrix(size: points, entries: entries)
        return affinity.scaled(by: affinity.rowSums.map { 1 / $0.squareRoot() })
    }

    func testBlockLanczosAgreesWithTheDenseSolver() throws {
        let matrix = try knnGraph(points: 900, clusters: 4, neighbours: 10, spread: 3, seed: 5)
        XCTAssertEqual(matrix.connectedComponents().count, 1)
        let count = 12
        let iterative = try SymmetricEigensolver.largest(matrix, count: count, seed: 1)
        XCTAssertGreaterThan(iterative.basisSize, 0, "the Krylov path ran")
        let dense = try SymmetricEigensolver.dense(matrix, count: count + 1)
        XCTAssertEqual(iterative.values[0], 1, accuracy: 1e-10, "the normalised affinity's top eigenvalue")
        for pair in 0..<count {
            XCTAssertEqual(iterative.values[pair], dense.values[pair], accuracy: 1e-9, "eigenvalue \(pair)")
            // Simple eigenvalues: the same vector, signs fixed by the largest entry.
            let gap = min(
                pair > 0 ? dense.values[pair - 1] - dense.values[pair] : 1, dense.values[pair] - dense.values[pair + 1])
            guard gap > 1e-4 else { continue }
            let size = matrix.size
            let difference = (0..<size).map {
                abs(iterative.vectors[pair * size + $0] - dense.vectors[pair * size + $0])
            }.max()!
            XCTAssertLessThan(difference, 1e-6, "eigenvector \(pair) (gap \(gap))")
        }
    }

    func testKrylovEigenvectorsAreOrthonormal() throws {
        // Many pairs of a clustered spectrum (SpRAy's case): the local-then-full orthogonalisation keeps the
        // Ritz vectors orthonormal to rounding.
        let matrix = try knnGraph(points: 1200, clusters: 10, neighbours: 8, spread: 4, seed: 7)
        let count = 24
        let result = try SymmetricEigensolver.largest(matrix, count: count, seed: 3)
        XCTAssertGreaterThan(result.basisSize, 0)
        let size = matrix.size
        var worst = 0.0
        for first in 0..<count {
            for second in first..<count {
                let dot = (0..<size).reduce(0.0) {
                    $0 + result.vectors[first * size + $1] * result.vectors[second * size + $1]
                }
                worst = max(worst, abs(dot - (first == second ? 1 : 0)))
            }
        }
        XCTAssertLessThan(worst, 1e-10, "largest |VᵀV − I| entry")
        let dense = try SymmetricEigensolver.dense(matrix, count: count)
        for pair in 0..<count { XCTAssertEqual(result.values[pair], dense.values[pair], accuracy: 1e-9) }
    }

    func testTheNextRitzCheckFollowsTheResidualsDecay() {
        let cases: [(after: (Int, Double), previous: (Int, Double), target: Double, expected: Int, why: String)] = [
            ((200, 1e-3), (0, .infinity), 1e-9, 240, "no earlier check: a fifth more"),
            ((240, 1e-2), (200, 1e-3), 1e-9, 288, "no decay: a fifth more"),
            ((300, 1e-5), (280, 1e-3), 2e-9, 340, "1e-3 to 1e-5 over 20 vectors: 2e-9 after 37 more, five blocks"),
            ((300, 0.9e-3), (280, 1e-3), 1e-9, 360, "a decay too slow for a fifth: a fifth"),
            ((300, 1.01e-9), (280, 1e-3), 1e-9, 308, "nearly there: one block on"),
        ]
        for test in cases {
            let next = SymmetricEigensolver.nextCheck(
                after: test.after, previous: test.previous, target: test.target, width: 8)
            XCTAssertEqual(next, test.expected, test.why)
        }
    }

    func testSparseProductOfManyVectorsMatchesOneAtATime() throws {
        let matrix = try knnGraph(points: 300, clusters: 3, neighbours: 6, spread: 2, seed: 8)
        let (size, count) = (matrix.size, 7)
        let generator = RandomGenerator(seed: 9)
        let vectors = (0..<(size * count)).map { _ in generator.nextNormal() }
        var together = [Double](repeating: .nan, count: size * count)
        vectors.withUnsafeBufferPointer { source in
            together.withUnsafeMutableBufferPointer { target in
                matrix.multiply(source.baseAddress!, count: count, into: target.baseAddress!)
            }
        }
        for vector in 0..<count {
            for row in 0..<size {
                var sum = 0.0
                for index in matrix.rowStarts[row]..<matrix.rowStarts[row + 1] {
                    sum += matrix.values[index] * vectors[vector * size + matrix.columns[index]]
                }
                XCTAssertEqual(together[vector * size + row], sum, "vector \(vector) row \(row)")
            }
        }
    }

    func testARepeatedEigenvalueIsFoundAsOftenAsItOccurs() throws {
        // Three clusters far apart: three components, eigenvalue 1 three times, even with blocks of one.
        let matrix = try knnGraph(points: 900, clusters: 3, neighbours: 8, spread: 1000, seed: 6)
        XCTAssertEqual(matrix.connectedComponents().count, 3)
        let result = try SymmetricEigensolver.largest(matrix, count: 6, blockSize: 1, seed: 2)
        XCTAssertGreaterThan(result.basisSize, 0)
        for pair in 0..<3 { XCTAssertEqual(result.values[pair], 1, accuracy: 1e-10) }
        XCTAssertLessThan(result.values[3], 1 - 1e-6)
        let dense = try SymmetricEigensolver.dense(matrix, count: 6)
        for pair in 0..<6 { XCTAssertEqual(result.values[pair], dense.values[pair], accuracy: 1e-9) }
    }
}
