import Foundation
import XCTest

@testable import LucernaCore

final class AutogradTests: XCTestCase {
    func testBackwardAccumulatesIntoLeavesAndRetainedTensors() throws {
        let x = try Tensor(shape: [3], scalars: [1, 2, 3]).requiringGrad()
        let y = try x * x
        y.retainGrad()
        try y.sum().backward()
        XCTAssertEqual(x.grad?.toFloats(), [2, 4, 6])
        XCTAssertEqual(y.grad?.toFloats(), [1, 1, 1])
        try (x * 3).sum().backward()
        XCTAssertEqual(x.grad?.toFloats(), [5, 7, 9], "gradients accumulate until cleared")
    }

    func testSharedSubexpressionsSumTheirContributions() throws {
        let x = try Tensor(1.5, dtype: .float64).requiringGrad()
        let y = try x.exp()
        let z = try y * y + y  // d/dx = (2e^{2x} + e^x)
        let gradient = try Tensor.gradients(of: [z], withRespectTo: [x])[0]
        XCTAssertEqual(try gradient?.item() ?? 0, 2 * Foundation.exp(3.0) + Foundation.exp(1.5), accuracy: 1e-9)
    }

    func testThirdOrderDerivative() throws {
        // d³/dx³ x⁴ = 24x.
        let x = try Tensor(2, dtype: .float64).requiringGrad()
        var value = try x.pow(4)
        for _ in 0..<3 {
            guard let next = try Tensor.gradients(of: [value], withRespectTo: [x], createGraph: true)[0] else {
                return XCTFail("missing gradient")
            }
            value = next
        }
        XCTAssertEqual(try value.item(), 48, accuracy: 1e-9)
    }

    func testNoGradAndDetachStopRecording() throws {
        let x = try Tensor(shape: [2], scalars: [1, 2]).requiringGrad()
        let inside = try noGrad { try x * 2 }
        XCTAssertFalse(inside.requiresGrad)
        XCTAssertTrue(try (x * 2).requiresGrad)
        XCTAssertFalse(x.detach().requiresGrad)
        XCTAssertThrowsError(try inside.sum().backward()) { error in
            XCTAssert("\(error)".contains("does not require a gradient"), "\(error)")
        }
    }

    func testUnusedInputGivesNilGradient() throws {
        let (a, b) = (try Tensor(1).requiringGrad(), try Tensor(2).requiringGrad())
        let gradients = try Tensor.gradients(of: [a * 3], withRespectTo: [a, b])
        XCTAssertEqual(try gradients[0]?.item(), 3)
        XCTAssertNil(gradients[1])
    }

    func testDeepGraphDoesNotOverflowTheStack() throws {
        let x = try Tensor(1, dtype: .float64).requiringGrad()
        var value = x
        for _ in 0..<20_000 { value = try value * 1.0001 }
        try value.backward()
        XCTAssertEqual(try x.grad?.item() ?? 0, Foundation.pow(1.0001, 20_000), accuracy: 1e-6)
    }

    func testFloat32ReLUBackwardMatchesTheDefinition() throws {
        // 37 elements: vector blocks and a scalar tail; zeros count as non-positive, as in PyTorch.
        let generator = RandomGenerator(seed: 12)
        var values = try Tensor.normal([37], generator: generator).toFloats()
        values[3] = 0
        let upstream = try Tensor.normal([37], generator: generator)
        for slope in [0.0, 0.2] {
            let input = try Tensor(shape: [37], scalars: values).requiringGrad()
            try (input.leakyRelu(slope: slope) * upstream).sum().backward()
            let expected = zip(values, upstream.toFloats()).map { $0 > 0 ? $1 : Float(slope) * $1 }
            XCTAssertEqual(input.grad?.toFloats(), expected, "slope \(slope)")
        }
    }

    func testShapeErrorsNameTheOperationAndShapes() throws {
        XCTAssertThrowsError(try Tensor.zeros([64, 784]).matmul(Tensor.zeros([100, 10]))) { error in
            XCTAssertEqual("\(error)", "matmul: [64, 784] x [100, 10]: inner dimensions differ (784 vs 100)")
        }
        XCTAssertThrowsError(try Tensor.zeros([2, 3]) + Tensor.zeros([4])) { error in
            XCTAssertEqual("\(error)", "add: shapes [2, 3] and [4] do not broadcast")
        }
        XCTAssertThrowsError(try Tensor.zeros([2, 3]).reshaped([4, 2]))
        XCTAssertThrowsError(try Tensor.zeros([2, 3]).sliced(axis: 5))
        XCTAssertThrowsError(try Tensor.zeros([1, 1, 2, 2]).conv2d(weight: Tensor.zeros([1, 1, 3, 3])))
        XCTAssertThrowsError(try Tensor(shape: [2], scalars: [1]))
        XCTAssertThrowsError(try Tensor.zeros([3]).indexSelect(axis: 0, indices: [3]))
        XCTAssertThrowsError(try Tensor.zeros([2], dtype: .float64) + Tensor.zeros([2]))
        // Absurd sizes are errors, not allocator traps.
        XCTAssertThrowsError(try Tensor.zeros([1 << 40, 1 << 40])) { error in
            XCTAssert("\(error)".contains("too many elements"), "\(error)")
        }
        XCTAssertThrowsError(try Tensor.zeros([1 << 20, 1 << 20]))
        XCTAssertThrowsError(try Tensor.zeros([1 << 20, 1]) + Tensor.zeros([1, 1 << 20]))
        XCTAssertThrowsError(try Tensor.zeros([-1, 2]))
        XCTAssertEqual(try Tensor(shape: [0], scalars: []).count, 0)
        XCTAssertEqual(Tensor(.nan, dtype: .int64).toIntegers(), [0])
        XCTAssertEqual(try Tensor(shape: [2], scalars: [1e30, -.infinity]).toIntegers(), [Int.max, Int.min])
    }

    func testBroadcastingMatchesNumPyRules() throws {
        let a = try Tensor(shape: [2, 1], scalars: [1, 2])
        let b = try Tensor(shape: [3], scalars: [10, 20, 30])
        let sum = try a + b
        XCTAssertEqual(sum.shape, [2, 3])
        XCTAssertEqual(sum.toFloats(), [11, 21, 31, 12, 22, 32])
    }

    /// Elementwise operations split their work over the threads however few rows the broadcast leaves (one,
    /// for two contiguous operands of the same shape): the same values, element by element, at 1, 2 and 3
    /// threads, for one long row, two rows (fewer than three threads), broadcast rows and a broadcast column.
    func testBinaryOperationsSplitAcrossThreadsGiveTheSameValues() throws {
        let previous = Parallel.threadCount
        defer { Parallel.setThreadCount(previous) }
        let generator = RandomGenerator(seed: 5)
        let cases: [([Int], [Int])] = [
            ([100_003], [100_003]), ([2, 50_001], [2, 50_001]), ([2, 50_001], [1, 50_001]),
            ([40_000, 3], [40_000, 1]), ([100_003], [1]),
        ]
        for (shapeA, shapeB) in cases {
            let a = try Tensor.normal(shapeA, generator: generator)
            let b = try Tensor.uniform(shapeB, low: 0.5, high: 2, generator: generator)
            let (valuesA, valuesB) = (a.toFloats(), b.toFloats())
            let columns = shapeA.last!
            // The expected value at each output index, broadcasting b by hand.
            func expected(_ body: (Float, Float) -> Float) -> [Float] {
                valuesA.indices.map { index in
                    let (row, column) = (index / columns, index % columns)
                    let indexB =
                        (shapeB.count == 2 && shapeB[0] == 1 ? 0 : row) * shapeB.last!
                        + (shapeB.last! == 1 ? 0 : column)
                    return body(valuesA[index], valuesB[shapeB == [1] ? 0 : indexB])
                }
            }
            for threads in [1, 2, 3] {
                Parallel.setThreadCount(threads)
                XCTAssertEqual(try (a + b).toFloats(), expected(+), "\(shapeA) + \(shapeB), \(threads) threads")
                XCTAssertEqual(try (a * b).toFloats(), expected(*), "\(shapeA) * \(shapeB), \(threads) threads")
                XCTAssertEqual(try (a / b).toFloats(), expected(/), "\(shapeA) / \(shapeB), \(threads) threads")
            }
        }
    }

    func testRandomGeneratorIsReproducible() throws {
        let first = try Tensor.normal([100], generator: RandomGenerator(seed: 3)).toFloats()
        let second = try Tensor.normal([100], generator: RandomGenerator(seed: 3)).toFloats()
        let other = try Tensor.normal([100], generator: RandomGenerator(seed: 4)).toFloats()
        XCTAssertEqual(first, second)
        XCTAssertNotEqual(first, other)
        let generator = RandomGenerator(seed: 1)
        XCTAssertEqual(generator.permutation(50).sorted(), Array(0..<50))
        var counts = [0, 0, 0]
        for _ in 0..<30_000 { counts[try generator.categorical([1, 0, 3])] += 1 }
        XCTAssertEqual(counts[1], 0)
        XCTAssertEqual(Double(counts[2]) / 30_000, 0.75, accuracy: 0.02)
        XCTAssertThrowsError(try generator.categorical([0, 0]))
        let draws = try Tensor.bernoulli([10_000], probability: 0.3, generator: generator).toDoubles()
        XCTAssertEqual(draws.reduce(0, +) / 10_000, 0.3, accuracy: 0.02)
        let values = (0..<20_000).map { _ in generator.nextNormal() }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }

    /// A custom backward replaces the gradient of the values it wraps, and only reaches the inputs it names.
    func testReplacingGradientRoutesThroughTheCustomBackward() throws {
        let x = try Tensor(shape: [3], doubles: [1, -2, 3]).requiringGrad()
        let y = try x * x  // true gradient 2x
        let wrapped = y.replacingGradient(operation: "custom", inputs: [x]) { gradient in [try gradient * 10] }
        XCTAssertEqual(wrapped.toDoubles(), [1, 4, 9])
        let gradient = try XCTUnwrap(try Tensor.gradients(of: [wrapped.sum()], withRespectTo: [x]).first ?? nil)
        XCTAssertEqual(gradient.toDoubles(), [10, 10, 10])
        // Under noGrad the result is a plain view.
        XCTAssertFalse(noGrad { y.replacingGradient(operation: "custom", inputs: [x]) { [$0] } }.requiresGrad)
        // A backward returning the wrong number of gradients is an error, not a trap.
        let broken = y.replacingGradient(operation: "custom", inputs: [x]) { _ in [] }
        XCTAssertThrowsError(try Tensor.gradients(of: [broken.sum()], withRespectTo: [x]))
    }

    /// Labels and groups compare as PyTorch's integer tensors do (here int64 0/1), exactly below 2^53.
    /// The fused softmax and log-softmax kernels against their definitions exp(x − logsumexp x), along the
    /// last and a middle axis, with masked (−∞) entries and a fully masked row (NaN, as PyTorch).
    func testFusedSoftmaxMatchesItsDefinition() throws {
        let generator = RandomGenerator(seed: 3)
        for (shape, axis) in [([4, 7], 1), ([3, 5, 2], 1), ([2, 3, 4], 0)] {
            let x = try Tensor.normal(shape, dtype: .float64, generator: generator) * 4
            let logNormalizer = try x.logSumExp(axis: axis, keepingDimensions: true)
            let expected = try (x - logNormalizer).toDoubles()
            let softmax = try x.softmax(axis: axis).toDoubles()
            let logSoftmax = try x.logSoftmax(axis: axis).toDoubles()
            for index in expected.indices {
                XCTAssertEqual(logSoftmax[index], expected[index], accuracy: 1e-12)
                XCTAssertEqual(softmax[index], Foundation.exp(expected[index]), accuracy: 1e-12)
            }
        }
        let masked = try Tensor(
            shape: [2, 3], scalars: [1, -Float.infinity, 2, -Float.infinity, -Float.infinity, -Float.infinity])
        let rows = try masked.softmax(axis: 1).toDoubles()
        let total = Foundation.exp(1.0) + Foundation.exp(2.0)
        XCTAssertEqual(rows[0], Foundation.exp(1.0) / total, accuracy: 1e-6)
        XCTAssertEqual(rows[1], 0)
        XCTAssertEqual(rows[2], Foundation.exp(2.0) / total, accuracy: 1e-6)
        XCTAssertTrue(rows[3...].allSatisfy(\.isNaN))
        let logRows = try masked.logSoftmax(axis: 1).toDoubles()
        XCTAssertEqual(logRows[1], -Double.infinity)
    }

    func testIntegerTensorsCompareExactly() throws {
        let labels = try Tensor(shape: [4], integers: [0, 1, 2, 9_007_199_254_740_991])
        let groups = try Tensor(shape: [4], integers: [0, 2, 2, 9_007_199_254_740_990])
        XCTAssertEqual(try labels.equal(groups).toIntegers(), [1, 0, 1, 0])
        XCTAssertEqual(try labels.greater(groups).toIntegers(), [0, 0, 0, 1])
        XCTAssertEqual(try labels.lessOrEqual(Tensor(shape: [], integers: [1])).toIntegers(), [1, 1, 0, 0])
        XCTAssertEqual(try labels.equal(groups).dtype, .int64)
        let huge = try Tensor(shape: [1], integers: [9_007_199_254_740_993])
        XCTAssertThrowsError(try huge.equal(huge)) { error in XCTAssertTrue("\(error)".contains("2^53"), "\(error)") }
        XCTAssertThrowsError(try labels.equal(labels.to(.float32)), "mixed dtypes stay an error")
    }
}
