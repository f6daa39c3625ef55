import XCTest
@testable import LucernaCore

/// The Float32 convolution (vectorized im2col over phase-split padded planes) must agree with the
/// Float64 path (the plain im2col loop, itself gradient-checked and matched to PyTorch) for every
/// geometry: strides, paddings, dilations, odd sizes and widths that are not multiples of 8.
final class ConvolutionTests: XCTestCase {
    func testFloat32ConvolutionMatchesFloat64AcrossGeometries() throws {
        let generator = RandomGenerator(seed: 11)
        func values(_ count: Int) -> [Double] { (0..<count).map { _ in Double(generator.next() % 2001) / 1000 - 1 } }
        let cases: [(input: [Int], out: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int))] = [
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
                let output = try input.conv2d(weight: weight, stride: item.stride, padding: item.padding, dilation: item.dilation)
                try (output * output).sum().backward()
                return (output.toDoubles(), input.grad?.toDoubles() ?? [], weight.grad?.toDoubles() ?? [])
            }
            let (single, singleInput, singleWeight) = try run(.float32)
            let (double, doubleInput, doubleWeight) = try run(.float64)
            for (name, a, b) in [("output", single, double), ("input grad", singleInput, doubleInput), ("weight grad", singleWeight, doubleWeight)] {
                XCTAssertEqual(a.count, b.count, "\(name) \(item)")
                let scale = b.map(abs).max() ?? 1
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4 * max(scale, 1), "\(name) \(item.input) k\(item.kernel) s\(item.stride) p\(item.padding) d\(item.dilation)")
            }
        }
    }
}
