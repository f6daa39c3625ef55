import CKernels
import XCTest

@testable import LucernaCore

/// Sums of Float32 tensors against a Float64 loop: every run of adjacent axes reduced in one pass, rows of
/// every length around the sixteen-lane body (tails included), and the same bits at one and two threads.
final class ReductionTests: XCTestCase {
    /// The sum over `axes` of a row-major array of `shape`, in Float64.
    func referenceSum(_ values: [Double], shape: [Int], axes: Set<Int>) -> [Double] {
        let keptShape = shape.indices.map { axes.contains($0) ? 1 : shape[$0] }
        var sums = [Double](repeating: 0, count: keptShape.reduce(1, *))
        for flat in values.indices {
            var remainder = flat
            var target = 0
            var scale = 1
            for axis in shape.indices.reversed() {
                let coordinate = remainder % shape[axis]
                remainder /= shape[axis]
                if !axes.contains(axis) { target += coordinate * scale }
                scale *= keptShape[axis]
            }
            sums[target] += values[flat]
        }
        return sums
    }

    func testSumsMatchAFloat64Loop() throws {
        let generator = RandomGenerator(seed: 11)
        let cases: [([Int], [Int]?)] = [
            ([4, 3, 5, 7], [0, 2, 3]), ([2, 3, 4, 5], [1, 2]), ([3, 17], [1]), ([5, 33], [1]), ([2, 3, 4], [0, 2]),
            ([6, 16], [0]), ([3, 4, 5], nil), ([1, 47], nil), ([2, 3, 4, 5], [0, 1, 3]),
        ]
        for (shape, axes) in cases {
            let values = (0..<shape.reduce(1, *)).map { _ in generator.nextNormal() }
            let tensor = try Tensor(shape: shape, values: values, dtype: .float32)
            let rounded = tensor.toDoubles()  // the Float32 inputs, exactly
            let sums = try tensor.sum(axes: axes).toDoubles()
            let expected = referenceSum(rounded, shape: shape, axes: Set(axes ?? Array(shape.indices)))
            XCTAssertEqual(sums.count, expected.count, "\(shape) \(String(describing: axes))")
            for (sum, reference) in zip(sums, expected) {
                // Float64 accumulation, one rounding to Float32 at the end.
                XCTAssertEqual(
                    sum, reference, accuracy: 1e-6 * max(1, abs(reference)), "\(shape) \(String(describing: axes))")
            }
        }
    }

    func testRowSumsCoverEveryTailLength() {
        for length in 0...40 {
            let values = (0..<length).map { Float($0 % 7) * 0.25 + 1 }
            let expected = values.reduce(0.0) { $0 + Double($1) }
            let total = values.withUnsafeBufferPointer { ReductionKernels.sumRow($0.baseAddress!, length) }
            XCTAssertEqual(total, expected, "length \(length)")
        }
    }

    /// The C row sum (AVX2 here where the CPU has it) and its scalar body give the bits of the order they
    /// document, written out here with Swift's SIMD types: two accumulators over blocks of sixteen, added lane by
    /// lane, the lanes summed from lane 0 (SIMD `sum()`), then the tail.
    func testRowSumBodiesAddInTheDocumentedOrder() {
        let generator = RandomGenerator(seed: 11)
        for length in [0, 1, 15, 16, 17, 31, 32, 33, 100, 196, 784, 1001] {
            // Values of many magnitudes, so a different order would round differently.
            let values = (0..<length).map { _ in Float(generator.nextNormal()) * Float(1 << Int(generator.next() % 20))
            }
            var (first, second) = (SIMD8<Double>(repeating: 0), SIMD8<Double>(repeating: 0))
            var k = 0
            while k + 16 <= length {
                for lane in 0..<8 {
                    first[lane] += Double(values[k + lane])
                    second[lane] += Double(values[k + 8 + lane])
                }
                k += 16
            }
            var expected = (first + second).sum()
            while k < length {
                expected += Double(values[k])
                k += 1
            }
            values.withUnsafeBufferPointer { buffer in
                let row = buffer.baseAddress ?? UnsafePointer(bitPattern: 16)!
                XCTAssertEqual(lucerna_sum_row_f32(row, length).bitPattern, expected.bitPattern, "length \(length)")
                XCTAssertEqual(
                    lucerna_sum_row_f32_scalar(row, length).bitPattern, expected.bitPattern, "scalar, length \(length)")
            }
        }
    }

    func testBiasGradientSumIsTheSameAtOneAndTwoThreads() throws {
        let generator = RandomGenerator(seed: 3)
        let shape = [8, 6, 14, 14]
        let values = (0..<shape.reduce(1, *)).map { _ in generator.nextNormal() }
        let tensor = try Tensor(shape: shape, values: values, dtype: .float32)
        let previous = Parallel.threadCount
        defer { Parallel.setThreadCount(previous) }
        Parallel.setThreadCount(1)
        let single = try tensor.sum(axes: [0, 2, 3]).toDoubles()
        Parallel.setThreadCount(2)
        let double = try tensor.sum(axes: [0, 2, 3]).toDoubles()
        XCTAssertEqual(single, double)
    }
}
