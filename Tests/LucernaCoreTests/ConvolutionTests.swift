import XCTest

@testable import LucernaCore

/// The Float32 convolution (vectorized im2col over phase-split padded planes) must agree with the
/// Float64 path (the plain im2col loop, itself gradient-checked and matched to PyTorch) for every
/// geometry: strides, paddings, dilations, odd sizes and widths that are not multiples of 8.
final class ConvolutionTests: XCTestCase {
    func testFloat32ConvolutionMatchesFloat64AcrossGeometries() throws {
        let generator = RandomGenerator(seed: 11)
        func values(_ count: Int) -> [Double] { (0..<count).map { _ in Double(generator.next() % 2001) / 1000 - 1 } }
        let cases:
            [(
                input: [Int], out: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                dilation: (Int, Int)
            )] = [
                ([2, 3, 28, 28], 4, (3, 3), (1, 1), (1, 1), (1, 1)),
                ([2, 2, 28, 28], 3, (4, 4), (2, 2), (1, 1), (1, 1)),
                ([1, 4, 14, 14], 2, (4, 4), (2, 2), (1, 1), (1, 1)),
                ([1, 2, 13, 11], 3, (3, 5), (3, 2), (2, 1), (1, 1)),
                ([2, 1, 9, 17], 2, (3, 3), (1, 2), (0, 2), (2, 2)),
                ([1, 3, 5, 5], 2, (5, 5), (1, 1), (0, 0), (1, 1)),
                ([1, 2, 7, 30], 5, (1, 1), (1, 3), (0, 0), (1, 1)),
            ]
        for item in cases {
            let inputValues = values(item.input.reduce(1, *))
            let weightShape = [item.out, item.input[1], item.kernel.0, item.kernel.1]
            let weightValues = values(weightShape.reduce(1, *))
            func run(_ dtype: DType) throws -> ([Double], [Double], [Double]) {
                let input = try Tensor(shape: item.input, values: inputValues, dtype: dtype).requiringGrad()
                let weight = try Tensor(shape: weightShape, values: weightValues, dtype: dtype).requiringGrad()
                let output = try input.conv2d(
                    weight: weight, stride: item.stride, padding: item.padding, dilation: item.dilation)
                try (output * output).sum().backward()
                return (output.toDoubles(), input.grad?.toDoubles() ?? [], weight.grad?.toDoubles() ?? [])
            }
            let (single, singleInput, singleWeight) = try run(.float32)
            let (double, doubleInput, doubleWeight) = try run(.float64)
            for (name, a, b) in [
                ("output", single, double), ("input grad", singleInput, doubleInput),
                ("weight grad", singleWeight, doubleWeight),
            ] {
                XCTAssertEqual(a.count, b.count, "\(name) \(item)")
                let scale = b.map(abs).max() ?? 1
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(
                    worst, 1e-4 * max(scale, 1),
                    "\(name) \(item.input) k\(item.kernel) s\(item.stride) p\(item.padding) d\(item.dilation)")
            }
        }
    }

    /// Several samples share one GEMM (a group has about `groupColumns` columns): output, bias, input and
    /// weight gradients of batches split into full and partial groups, at one and two threads, equal a
    /// direct loop-nest convolution.
    /// The 1×1 fast path (one product per sample) against the general path: the same kernel zero-padded to
    /// 3×3 with padding 1, in values and in the gradients of both inputs.
    func testPointwiseConvolutionMatchesTheGeneralPath() throws {
        let generator = RandomGenerator(seed: 12)
        for dtype in [DType.float32, .float64] {
            let x = try Tensor.normal([3, 5, 4, 6], dtype: dtype, generator: generator).requiringGrad()
            let weight = try Tensor.normal([7, 5, 1, 1], dtype: dtype, generator: generator).requiringGrad()
            let bias = try Tensor.normal([7], dtype: dtype, generator: generator)
            let padded = try weight.detach().padded([(0, 0), (0, 0), (1, 1), (1, 1)]).requiringGrad()
            let fast = try x.conv2d(weight: weight, bias: bias)
            let general = try x.conv2d(weight: padded, bias: bias, padding: (1, 1))
            let tolerance = dtype == .float32 ? 1e-5 : 1e-12
            for (a, b) in zip(fast.toDoubles(), general.toDoubles()) { XCTAssertEqual(a, b, accuracy: tolerance) }
            let seed = try Tensor.normal(fast.shape, dtype: dtype, generator: generator)
            let fastGradients = try Tensor.gradients(of: [fast], withRespectTo: [x, weight], seeds: [seed])
            let generalGradients = try Tensor.gradients(of: [general], withRespectTo: [x, padded], seeds: [seed])
            for (a, b) in zip(
                try XCTUnwrap(fastGradients[0]).toDoubles(), try XCTUnwrap(generalGradients[0]).toDoubles())
            {
                XCTAssertEqual(a, b, accuracy: tolerance)
            }
            let centre = try XCTUnwrap(generalGradients[1]).sliced(axis: 2, start: 1, end: 2).sliced(
                axis: 3, start: 1, end: 2)
            for (a, b) in zip(try XCTUnwrap(fastGradients[1]).toDoubles(), centre.toDoubles()) {
                XCTAssertEqual(a, b, accuracy: 10 * tolerance)
            }
        }
    }

    func testGroupedSamplesMatchADirectConvolution() throws {
        let generator = RandomGenerator(seed: 5)
        func values(_ count: Int) -> [Double] { (0..<count).map { _ in Double(generator.next() % 2001) / 1000 - 1 } }
        let cases: [(input: [Int], out: Int, kernel: Int, stride: Int, padding: Int)] = [
            ([11, 3, 7, 7], 4, 3, 1, 1),  // 49 positions: groups of 8 and 3 (one thread), 6 and 5 (two)
            ([9, 2, 14, 14], 5, 4, 2, 1),  // the WGAN critic's geometry
            ([5, 2, 5, 6], 3, 3, 1, 0),  // 12 positions, not a multiple of the vector width
            ([3, 2, 28, 28], 2, 3, 1, 1),  // 784 positions: one sample per GEMM
        ]
        let previous = Parallel.threadCount
        defer { Parallel.setThreadCount(previous) }
        for item in cases {
            let (n, c, h, w) = (item.input[0], item.input[1], item.input[2], item.input[3])
            let (k, s, p, o) = (item.kernel, item.stride, item.padding, item.out)
            let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1)
            let (x, weight, bias, r) = (
                values(n * c * h * w), values(o * c * k * k), values(o), values(n * o * oh * ow)
            )
            var output = [Double](repeating: 0, count: n * o * oh * ow)
            var inputGradient = [Double](repeating: 0, count: x.count)
            var weightGradient = [Double](repeating: 0, count: weight.count)
            for sample in 0..<n {
                for channel in 0..<o {
                    for row in 0..<oh {
                        for column in 0..<ow {
                            let index = ((sample * o + channel) * oh + row) * ow + column
                            var sum = bias[channel]
                            for input in 0..<c {
                                for ki in 0..<k {
                                    for kj in 0..<k {
                                        let (ih, iw) = (row * s - p + ki, column * s - p + kj)
                                        guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                                        let xIndex = ((sample * c + input) * h + ih) * w + iw
                                        let wIndex = ((channel * c + input) * k + ki) * k + kj
                                        sum += x[xIndex] * weight[wIndex]
                                        inputGradient[xIndex] += r[index] * weight[wIndex]
                                        weightGradient[wIndex] += r[index] * x[xIndex]
                                    }
                                }
                            }
                            output[index] = sum
                        }
                    }
                }
            }
            for threads in [1, 2] {
                Parallel.setThreadCount(threads)
                for dtype in [DType.float32, .float64] {
                    let input = try Tensor(shape: item.input, values: x, dtype: dtype).requiringGrad()
                    let kernel = try Tensor(shape: [o, c, k, k], values: weight, dtype: dtype).requiringGrad()
                    let offset = try Tensor(shape: [o], values: bias, dtype: dtype)
                    let result = try input.conv2d(weight: kernel, bias: offset, stride: (s, s), padding: (p, p))
                    try (result * Tensor(shape: [n, o, oh, ow], values: r, dtype: dtype)).sum().backward()
                    let tolerance = dtype == .float32 ? 1e-4 : 1e-10
                    for (name, actual, expected) in [
                        ("output", result.toDoubles(), output),
                        ("input gradient", input.grad?.toDoubles() ?? [], inputGradient),
                        ("weight gradient", kernel.grad?.toDoubles() ?? [], weightGradient),
                    ] {
                        XCTAssertEqual(actual.count, expected.count, "\(name) \(item)")
                        let worst = zip(actual, expected).map { abs($0 - $1) / max(abs($1), 1) }.max() ?? 0
                        XCTAssertLessThan(worst, tolerance, "\(name) \(item.input) \(dtype) at \(threads) threads")
                    }
                }
            }
        }
    }
}
