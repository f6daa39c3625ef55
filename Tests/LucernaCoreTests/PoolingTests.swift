import CKernels
import XCTest

@testable import LucernaCore

/// The vectorized Float32 2×2 max pool must pick exactly the elements the exact (Float64) loop picks,
/// including ties (first in row-major order, as PyTorch) and NaNs.
final class PoolingTests: XCTestCase {
    func poolBothWays(_ values: [Double], shape: [Int]) throws -> (
        single: [Double], double: [Double], singleGradient: [Double], doubleGradient: [Double]
    ) {
        let weights = (0..<(values.count / 4)).map { Double($0 % 7) + 1 }
        func run(_ dtype: DType) throws -> ([Double], [Double]) {
            let input = try Tensor(shape: shape, values: values, dtype: dtype).requiringGrad()
            let output = try input.maxPool2d(kernel: (2, 2))
            let weighted = try (output * Tensor(shape: output.shape, values: weights, dtype: dtype)).sum()
            try weighted.backward()
            return (output.toDoubles(), input.grad?.toDoubles() ?? [])
        }
        let (single, singleGradient) = try run(.float32)
        let (double, doubleGradient) = try run(.float64)
        return (single, double, singleGradient, doubleGradient)
    }

    func testVectorizedPoolMatchesTheExactLoopWithTies() throws {
        let generator = RandomGenerator(seed: 7)
        // Outputs 5, 14, 7, 4, 8, 9, 16, 6 and 2 wide: vectors of four outputs (with an overlapping last vector
        // unless the width is a multiple of four), the exact loop below 4.
        for shape in [
            [2, 3, 8, 10], [1, 2, 28, 28], [3, 1, 14, 14], [1, 1, 4, 8], [2, 2, 6, 16], [1, 3, 4, 18], [1, 2, 6, 32],
            [5, 7, 12, 12], [1, 2, 6, 6], [2, 1, 4, 4],
        ] {
            // Small integers make many ties.
            let values = (0..<shape.reduce(1, *)).map { _ in Double(generator.next() % 4) }
            let result = try poolBothWays(values, shape: shape)
            XCTAssertEqual(result.single, result.double, "values \(shape)")
            XCTAssertEqual(result.singleGradient, result.doubleGradient, "gradient routing \(shape)")
        }
    }

    func testNaNsPropagateThroughTheVectorizedPool() throws {
        var values = (0..<(2 * 8 * 8)).map { Double($0 % 5) }
        values[9] = .nan  // plane 0, row 1, column 1: output (0, 0)
        let result = try poolBothWays(values, shape: [1, 2, 8, 8])
        XCTAssert(result.single[0].isNaN && result.double[0].isNaN)
        XCTAssertEqual(Array(result.single.dropFirst()), Array(result.double.dropFirst()))
        XCTAssertEqual(result.singleGradient, result.doubleGradient)
        // Outputs 9 wide: a NaN in the overlapping last vector.
        var wide = (0..<(2 * 4 * 18)).map { Double($0 % 5) }
        wide[18 + 17] = .nan  // plane 0, row 1, column 17: output (0, 8)
        let wideResult = try poolBothWays(wide, shape: [1, 2, 4, 18])
        XCTAssert(wideResult.single[8].isNaN && wideResult.double[8].isNaN)
        XCTAssertEqual(
            wideResult.single.enumerated().filter { $0.offset != 8 }.map(\.element),
            wideResult.double.enumerated().filter { $0.offset != 8 }.map(\.element))
        XCTAssertEqual(wideResult.singleGradient, wideResult.doubleGradient)
    }
    /// Tiled windows (stride equal to the kernel) take the one-pass backward: against a loop that sends each
    /// window's gradient to its first maximum, with rows and columns left over by the windows (odd sides)
    /// getting zero, ties included.
    func testTiledBackwardSendsEachGradientToTheFirstMaximum() throws {
        let generator = RandomGenerator(seed: 5)
        for (shape, kernel) in [
            ([2, 3, 7, 9], 2), ([1, 2, 8, 8], 2), ([2, 1, 10, 11], 3), ([1, 2, 28, 28], 2), ([3, 5, 14, 14], 2),
            ([2, 2, 6, 18], 2), ([1, 1, 4, 6], 2),
        ] {
            let (height, width) = (shape[2], shape[3])
            let (outputHeight, outputWidth) = (height / kernel, width / kernel)
            let values = (0..<shape.reduce(1, *)).map { _ in Double(generator.next() % 3) }
            let weights = (0..<(shape[0] * shape[1] * outputHeight * outputWidth)).map { Double($0 % 5) + 1 }
            var expected = [Double](repeating: 0, count: values.count)
            for plane in 0..<(shape[0] * shape[1]) {
                for row in 0..<outputHeight {
                    for column in 0..<outputWidth {
                        var best = -Double.infinity
                        var chosen = 0
                        for i in 0..<kernel {
                            for j in 0..<kernel {
                                let position = plane * height * width + (row * kernel + i) * width + column * kernel + j
                                if values[position] > best { (best, chosen) = (values[position], position) }
                            }
                        }
                        expected[chosen] = weights[(plane * outputHeight + row) * outputWidth + column]
                    }
                }
            }
            for dtype in [DType.float32, .float64] {
                let input = try Tensor(shape: shape, values: values, dtype: dtype).requiringGrad()
                let output = try input.maxPool2d(kernel: (kernel, kernel))
                try (output * Tensor(shape: output.shape, values: weights, dtype: dtype)).sum().backward()
                XCTAssertEqual(input.grad?.toDoubles(), expected, "\(shape) kernel \(kernel) \(dtype)")
            }
        }
    }

    /// `maxPool2dThenReLU` against `maxPool2d` then `relu`, bit for bit: values, the input gradient, and the
    /// gradient of a penalty on that input gradient in an earlier convolution's weight (second order), over
    /// shapes the kernel takes (where it applies the ReLU itself: outputs 4 wide and more) and shapes it does not
    /// (2 wide, odd sides, 3×3 windows, Float64), with ties, negative windows, zeros and −0.
    func testMaxPoolingThenReLUEqualsTheTwoOperationsBitForBit() throws {
        let generator = RandomGenerator(seed: 9)
        for (shape, kernel, dtype) in [
            ([2, 3, 8, 8], 2, DType.float32), ([1, 2, 28, 28], 2, .float32), ([2, 2, 14, 14], 2, .float32),
            ([1, 2, 4, 4], 2, .float32), ([1, 2, 7, 9], 2, .float32), ([1, 2, 9, 9], 3, .float32),
            ([1, 2, 8, 8], 2, .float64),
        ] {
            let channels = shape[1]
            let count = shape[0] * 2 * shape[2] * shape[3]
            // Small signed integers and halves: many ties, whole windows ≤ 0, exact zeros and −0.
            let image = (0..<count).map { _ in Double(Int(generator.next() % 7) - 4) / 2 }.map { $0 == 0 ? -0.0 : $0 }
            let weight = (0..<(channels * 2 * 9)).map { _ in Double(Int(generator.next() % 5) - 2) / 4 }
            func run(fused: Bool) throws -> (name: String, bits: [[UInt64]]) {
                let x = try Tensor(shape: [shape[0], 2, shape[2], shape[3]], values: image, dtype: dtype)
                    .requiringGrad()
                let w = try Tensor(shape: [channels, 2, 3, 3], values: weight, dtype: dtype).requiringGrad()
                let hidden = try x.conv2d(weight: w, padding: (1, 1))
                let output =
                    fused
                    ? try hidden.maxPool2dThenReLU(kernel: (kernel, kernel))
                    : try hidden.maxPool2d(kernel: (kernel, kernel)).relu()
                let scale = try Tensor(
                    shape: output.shape, values: (0..<output.count).map { Double($0 % 5) - 1.5 }, dtype: dtype)
                let inputGradient = try XCTUnwrap(
                    Tensor.gradients(of: [(output * scale).sum()], withRespectTo: [x], createGraph: true)[0])
                let weightGradient = try XCTUnwrap(
                    Tensor.gradients(of: [(inputGradient * inputGradient).sum()], withRespectTo: [w])[0])
                let bits = [output, inputGradient, weightGradient].map { tensor in
                    tensor.toDoubles().map(\.bitPattern)
                }
                return (output.operationName ?? "", bits)
            }
            let (fused, separate) = (try run(fused: true), try run(fused: false))
            XCTAssertEqual(fused.bits, separate.bits, "\(shape) kernel \(kernel) \(dtype)")
            XCTAssertTrue(separate.bits[2].contains { $0 != 0 }, "a second-order gradient that is not all zero")
            let kernelTakesIt =
                dtype == .float32 && kernel == 2 && shape[3] >= 8 && shape[2] % 2 == 0
                && shape[3] % 2 == 0 && lucerna_max_pool_2x2_available() == 1
            XCTAssertEqual(fused.name, kernelTakesIt ? "max_pool2d_relu" : "relu", "\(shape) kernel \(kernel) \(dtype)")
        }
    }

    /// A second-order gradient through the Float32 kernel (whose backward keeps one byte per window and makes
    /// positions from it only for the gather) equals the Float64 exact loop's (Int64 positions throughout): the
    /// gradient of ⟨∂⟨pool(x), w⟩/∂x, v⟩ in w is v gathered at each window's maximum. Small integers: exact in
    /// both, with ties.
    func testSecondOrderGradientsThroughTheKernelMatchTheExactLoop() throws {
        let generator = RandomGenerator(seed: 13)
        for shape in [[2, 3, 8, 10], [1, 2, 28, 28], [2, 2, 14, 14]] {
            let values = (0..<shape.reduce(1, *)).map { _ in Double(generator.next() % 5) }
            let outputCount = shape[0] * shape[1] * shape[2] / 2 * shape[3] / 2
            let weights = (0..<outputCount).map { Double($0 % 7) - 3 }
            let probe = (0..<values.count).map { Double($0 % 5) - 2 }
            func run(_ dtype: DType) throws -> [Double] {
                let x = try Tensor(shape: shape, values: values, dtype: dtype).requiringGrad()
                let output = try x.maxPool2d(kernel: (2, 2))
                let w = try Tensor(shape: output.shape, values: weights, dtype: dtype).requiringGrad()
                let inputGradient = try XCTUnwrap(
                    Tensor.gradients(of: [(output * w).sum()], withRespectTo: [x], createGraph: true)[0])
                let v = try Tensor(shape: shape, values: probe, dtype: dtype)
                return try XCTUnwrap(Tensor.gradients(of: [(inputGradient * v).sum()], withRespectTo: [w])[0])
                    .toDoubles()
            }
            let single = try run(.float32)
            XCTAssertEqual(single, try run(.float64), "\(shape)")
            XCTAssertTrue(single.contains { $0 != 0 }, "\(shape)")
        }
    }
}
