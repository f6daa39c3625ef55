import XCTest

@testable import LucernaCore

/// First- and second-order finite-difference checks, one table row per differentiable operation.
final class GradientCheckTests: XCTestCase {
    struct Case {
        let name: String
        let shapes: [[Int]]
        /// Inputs are drawn from N(0,1); `positive` maps them to (0.5, 1.5) for log, sqrt, pow, div.
        var positive = false
        let function: ([Tensor]) throws -> Tensor
    }

    nonisolated(unsafe) static let cases: [Case] = [
        Case(name: "add broadcast", shapes: [[2, 3], [3]]) { try $0[0] + $0[1] },
        Case(name: "sub broadcast", shapes: [[2, 1, 3], [4, 1]]) { try $0[0] - $0[1] },
        Case(name: "mul broadcast", shapes: [[2, 3], [2, 1]]) { try $0[0] * $0[1] },
        Case(name: "div", shapes: [[2, 3], [2, 3]], positive: true) { try $0[0] / $0[1] },
        Case(name: "pow tensor", shapes: [[2, 3], [2, 3]], positive: true) { try $0[0].pow($0[1]) },
        Case(name: "pow scalar", shapes: [[5]], positive: true) { try $0[0].pow(2.5) },
        Case(name: "affine", shapes: [[4]]) { try $0[0] * 3 - 1 },
        Case(name: "neg", shapes: [[4]]) { try $0[0].negated() },
        Case(name: "sqrt", shapes: [[4]], positive: true) { try $0[0].sqrt() },
        Case(name: "exp", shapes: [[4]]) { try $0[0].exp() },
        Case(name: "log", shapes: [[4]], positive: true) { try $0[0].log() },
        Case(name: "log1p", shapes: [[4]], positive: true) { try $0[0].log1p() },
        Case(name: "reciprocal", shapes: [[4]], positive: true) { try $0[0].reciprocal() },
        Case(name: "abs", shapes: [[6]]) { try $0[0].abs() },
        Case(name: "clamp", shapes: [[8]]) { try $0[0].clamp(min: -0.5, max: 0.7) },
        Case(name: "where", shapes: [[6], [6]]) {
            try Tensor.where($0[0].greater($0[1].zerosLike()), $0[0] * $0[1], $0[1].exp())
        },
        Case(name: "maximum", shapes: [[6], [6]]) { try $0[0].maximum($0[1]) },
        Case(name: "minimum", shapes: [[2, 3], [3]]) { try $0[0].minimum($0[1]) },
        Case(name: "relu", shapes: [[8]]) { try $0[0].relu() * $0[0] },
        Case(name: "leaky_relu", shapes: [[8]]) { try $0[0].leakyRelu(slope: 0.2) * $0[0] },
        Case(name: "gelu", shapes: [[8]]) { try $0[0].gelu() },
        Case(name: "gelu tanh", shapes: [[8]]) { try $0[0].gelu(approximate: true) },
        Case(name: "silu", shapes: [[8]]) { try $0[0].silu() },
        Case(name: "silu wide", shapes: [[8]]) { try ($0[0] * 6).silu() },
        Case(name: "sigmoid", shapes: [[8]]) { try $0[0].sigmoid() },
        Case(name: "tanh", shapes: [[8]]) { try $0[0].tanh() },
        Case(name: "softplus", shapes: [[8]]) { try $0[0].softplus() },
        Case(name: "erf", shapes: [[8]]) { try $0[0].erf() },
        Case(name: "sum axes", shapes: [[2, 3, 4]]) { try $0[0].sum(axes: [0, 2]).square() },
        Case(name: "sum all", shapes: [[2, 3]]) { try $0[0].sum().square() },
        Case(name: "sum adjacent axes", shapes: [[2, 3, 2, 3]]) { try $0[0].sum(axes: [0, 2, 3]).square() },
        Case(name: "mean keepdim", shapes: [[2, 3, 4]]) { try $0[0].mean(axes: [1], keepingDimensions: true) * $0[0] },
        Case(name: "variance", shapes: [[3, 5]]) { try $0[0].variance(axes: [1]) },
        Case(name: "max axis", shapes: [[3, 5]]) { try $0[0].max(axis: 1).square() },
        Case(name: "min all", shapes: [[3, 5]]) { try $0[0].min().square() },
        Case(name: "logsumexp", shapes: [[3, 5]]) { try $0[0].logSumExp(axis: 1) },
        Case(name: "softmax", shapes: [[3, 5]]) { try $0[0].softmax(axis: -1) },
        Case(name: "log_softmax", shapes: [[3, 5]]) { try $0[0].logSoftmax(axis: 0) },
        Case(name: "softmax middle axis", shapes: [[2, 4, 3]]) { try $0[0].softmax(axis: 1) },
        Case(name: "log_softmax last axis", shapes: [[2, 3, 4]]) { try $0[0].logSoftmax(axis: -1) },
        Case(name: "matmul", shapes: [[3, 4], [4, 2]]) { try $0[0].matmul($0[1]).square() },
        Case(name: "matmul batched broadcast", shapes: [[2, 3, 4], [4, 2]]) { try $0[0].matmul($0[1]).square() },
        Case(name: "matmul transposes", shapes: [[4, 3], [2, 4]]) {
            try $0[0].matmul($0[1], transposingSelf: true, transposingOther: true).square()
        },
        Case(name: "matmul vector", shapes: [[3, 4], [4]]) { try $0[0].matmul($0[1]).exp() },
        Case(name: "reshape", shapes: [[2, 6]]) { try $0[0].reshaped([3, -1]).square() },
        Case(name: "permute", shapes: [[2, 3, 4]]) { try $0[0].permuted([2, 0, 1]).square() },
        Case(name: "transpose", shapes: [[2, 3]]) { try $0[0].transposed().square() },
        Case(name: "expand", shapes: [[3, 1]]) { try $0[0].expanded(to: [2, 3, 4]).square() },
        Case(name: "slice step", shapes: [[7, 2]]) { try $0[0].sliced(axis: 0, start: 1, end: -1, step: 2).square() },
        Case(name: "pad", shapes: [[2, 3]]) { try $0[0].padded([(1, 2), (0, 1)], value: 0.5).square() },
        Case(name: "concat", shapes: [[2, 3], [2, 2]]) { try Tensor.concatenate([$0[0], $0[1]], axis: 1).square() },
        Case(name: "stack", shapes: [[2, 3], [2, 3]]) { try Tensor.stack([$0[0], $0[1]], axis: 1).square() },
        Case(name: "gather", shapes: [[3, 4]]) {
            try $0[0].gathering(axis: 1, indices: Tensor(shape: [3, 2], integers: [0, 3, 1, 1, 2, 0])).square()
        },
        Case(name: "scatter_add", shapes: [[3, 2]]) {
            try $0[0].scatterAdding(axis: 1, indices: Tensor(shape: [3, 2], integers: [0, 3, 1, 1, 2, 0]), size: 4)
                .square()
        },
        Case(name: "group_means", shapes: [[5]]) {
            try $0[0].groupMeans(groups: [2, 0, 2, 2, 0], groupCount: 4).means.square()
        },
        Case(name: "index_add", shapes: [[3, 2]]) {
            try $0[0].indexAdding(axis: 0, indices: [2, 0, 2], size: 4).square()
        },
        Case(name: "unsqueeze squeeze flatten", shapes: [[2, 3, 2]]) {
            try $0[0].unsqueezed(axis: -1).squeezed(axis: 3).flattened(from: 1).square()
        },
        Case(name: "dropout (fixed mask)", shapes: [[4, 5]]) {
            try $0[0].dropout(probability: 0.3, training: true, generator: RandomGenerator(seed: 1)).square()
        },
        Case(name: "index_select", shapes: [[4, 3]]) { try $0[0].indexSelect(axis: 0, indices: [3, 0, 3]).square() },
        Case(name: "embedding", shapes: [[5, 3]]) {
            try $0[0].embedding(Tensor(shape: [2, 2], integers: [4, 0, 2, 4])).square()
        },
        Case(name: "conv2d", shapes: [[2, 2, 5, 5], [3, 2, 3, 3], [3]]) {
            try $0[0].conv2d(weight: $0[1], bias: $0[2], padding: (1, 1)).square()
        },
        Case(name: "conv2d 1x1", shapes: [[2, 3, 3, 4], [2, 3, 1, 1], [2]]) {
            try $0[0].conv2d(weight: $0[1], bias: $0[2]).square()
        },
        Case(name: "conv2d stride dilation", shapes: [[1, 2, 7, 6], [2, 2, 2, 3]]) {
            try $0[0].conv2d(weight: $0[1], stride: (2, 1), padding: (1, 0), dilation: (2, 1)).square()
        },
        Case(name: "conv_transpose2d", shapes: [[2, 3, 3, 3], [3, 2, 4, 4], [2]]) {
            try $0[0].convTranspose2d(weight: $0[1], bias: $0[2], stride: (2, 2), padding: (1, 1)).square()
        },
        Case(name: "conv_transpose2d output padding", shapes: [[1, 2, 3, 2], [2, 1, 3, 3]]) {
            try $0[0].convTranspose2d(weight: $0[1], stride: (2, 2), padding: (1, 0), outputPadding: (1, 1)).square()
        },
        Case(name: "max_pool2d", shapes: [[2, 2, 4, 4]]) { try $0[0].maxPool2d(kernel: (2, 2)).square() },
        Case(name: "max_pool2d tiled, odd sides", shapes: [[1, 2, 7, 8]]) {
            try $0[0].maxPool2d(kernel: (3, 3)).square()
        },
        Case(name: "max_pool2d padded", shapes: [[1, 2, 5, 5]]) {
            try $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)).square()
        },
        Case(name: "avg_pool2d", shapes: [[1, 2, 5, 5]]) {
            try $0[0].avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)).square()
        },
        Case(name: "adaptive_avg_pool2d", shapes: [[2, 2, 5, 7]]) { try $0[0].adaptiveAvgPool2d((3, 2)).square() },
        Case(name: "upsample nearest", shapes: [[1, 2, 2, 3]]) { try $0[0].upsample(size: (4, 5)).square() },
        Case(name: "upsample bilinear", shapes: [[1, 2, 3, 3]]) {
            try $0[0].upsample(size: (5, 6), mode: .bilinear).square()
        },
        Case(name: "batch_norm train", shapes: [[4, 3, 2, 2], [3], [3]]) {
            try $0[0].batchNorm(runningMean: nil, runningVariance: nil, weight: $0[1], bias: $0[2], training: true)
        },
        Case(name: "batch_norm eval", shapes: [[4, 3], [3], [3]]) {
            try $0[0].batchNorm(
                runningMean: Tensor(shape: [3], doubles: [0.1, -0.2, 0.3]),
                runningVariance: Tensor(shape: [3], doubles: [1.5, 0.5, 2]),
                weight: $0[1], bias: $0[2], training: false
            ).square()
        },
        Case(name: "layer_norm", shapes: [[3, 4], [4], [4]]) {
            try $0[0].layerNorm(normalizedShape: [4], weight: $0[1], bias: $0[2])
        },
        Case(name: "attention", shapes: [[2, 3, 4], [2, 5, 4], [2, 5, 2]]) {
            try Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2])
        },
        Case(name: "attention mask", shapes: [[1, 2, 3], [1, 3, 3], [1, 3, 2]]) {
            let mask = try Tensor(shape: [2, 3], doubles: [0, -1e9, 0.5, 0, 0, -1e9])
            return try Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: mask)
        },
        Case(name: "attention causal", shapes: [[1, 4, 3], [1, 4, 3], [1, 4, 3]]) {
            try Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: true)
        },
    ]

    func testFirstAndSecondOrderGradients() throws {
        let generator = RandomGenerator(seed: 42)
        var failures: [String] = []
        for testCase in Self.cases {
            let inputs = try testCase.shapes.map { shape -> Tensor in
                let values = try Tensor.normal(shape, dtype: .float64, generator: generator)
                return testCase.positive ? try values.tanh() * 0.5 + 1 : values
            }
            let reports: [GradientCheck.Report]
            do {
                reports = try GradientCheck.check(inputs: inputs, testCase.function)
            } catch {
                failures.append("\(testCase.name): threw \(error)")
                continue
            }
            XCTAssertEqual(reports.count, 2, testCase.name)
            for report in reports where !report.passed { failures.append("\(testCase.name): \(report)") }
        }
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
    }

    func testDtypeConversionPassesGradientsThrough() throws {
        let input = try Tensor(shape: [3], doubles: [1, -2, 3]).requiringGrad()
        let output = try (input.to(.float32) * 2).sum()
        try output.backward()
        XCTAssertEqual(input.grad?.dtype, .float64)
        XCTAssertEqual(input.grad?.toDoubles(), [2, 2, 2])
    }

    func testCheckDetectsAWrongGradient() throws {
        // A deliberately wrong backward must be caught, so the checker itself cannot silently pass.
        let input = try Tensor.normal([5], dtype: .float64, generator: RandomGenerator(seed: 1))
        let reports = try GradientCheck.check(inputs: [input]) { values in
            let forward = try values[0].computeUnary(.square, "square")
            return Tensor.record(forward, operation: "bad_square", inputs: [values[0]]) { gradient, _ in
                [try gradient * 3]  // should be 2x
            }
        }
        XCTAssertFalse(reports[0].passed)
    }

    /// `groupMeans`: each group's mean, 0 for an empty group, and the sizes; groups out of range are errors.
    func testGroupMeansAveragePerGroup() throws {
        let values = try Tensor(shape: [5], doubles: [1, 2, 3, 4, 6])
        let (means, sizes) = try values.groupMeans(groups: [2, 0, 2, 2, 0], groupCount: 4)
        for (value, expected) in zip(means.toDoubles(), [4, 0, 8.0 / 3.0, 0]) {
            XCTAssertEqual(value, expected, accuracy: 1e-12)
        }
        XCTAssertEqual(sizes, [2, 0, 3, 0])
        XCTAssertThrowsError(try values.groupMeans(groups: [0, 1, 4, 0, 0], groupCount: 4)) {
            XCTAssertTrue("\($0)".contains("group_means"), "\($0)")
        }
    }
}
