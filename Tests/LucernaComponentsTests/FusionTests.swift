import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// Every fusion strategy: a reference test of its definition on a fixed example, first- and second-order
/// gradient checks (Float64) with respect to the inputs and every parameter, and missing-modality
/// placeholders.
final class FusionTests: XCTestCase {
    let registry = Registry.standard()

    func fusion(_ name: String, _ options: [String: ConfigValue] = [:]) throws -> ModalityFusion {
        var options = options
        options["dtype"] = options["dtype"] ?? .string("float64")
        return try XCTUnwrap(try registry.build(.fusion, name, options: options) as? ModalityFusion, name)
    }

    func dims(_ values: [Int]) -> ConfigValue { .list(values.map { .number(Double($0)) }) }

    func testTensorFusionIsTheOuterProductWithOnesAppended() throws {
        let tensor = try fusion("tensor", ["input_dims": dims([2, 3])])
        let x1 = try Tensor(shape: [1, 2], doubles: [2, 3])
        let x2 = try Tensor(shape: [1, 3], doubles: [5, 7, 11])
        // [2, 3, 1] ⊗ [5, 7, 11, 1]
        XCTAssertEqual(try tensor.fuse([x1, x2]).toDoubles(), [10, 14, 22, 2, 15, 21, 33, 3, 5, 7, 11, 1])
        let three = try fusion("tensor", ["input_dims": dims([1, 1, 1])])
        let out = try three.fuse([
            Tensor(shape: [1, 1], doubles: [2]), Tensor(shape: [1, 1], doubles: [3]),
            Tensor(shape: [1, 1], doubles: [5]),
        ])
        XCTAssertEqual(out.toDoubles(), [30, 6, 10, 2, 15, 3, 5, 1])
    }

    func testLowRankFusionEqualsItsFactorisedTensorContraction() throws {
        let lowRank = try XCTUnwrap(
            try fusion("low_rank_tensor", ["input_dims": dims([2, 3]), "dim": .number(4), "rank": .number(3)])
                as? LowRankTensorFusion)
        let generator = RandomGenerator(seed: 3)
        let x1 = try Tensor.normal([2, 2], dtype: .float64, generator: generator)
        let x2 = try Tensor.normal([2, 3], dtype: .float64, generator: generator)
        try lowRank.bias.assign(Tensor.normal([4], dtype: .float64, generator: generator))
        let output = try lowRank.fuse([x1, x2]).toDoubles()
        // h_k = Σ_r λ_r (Σ_i [x1;1]_i W1[r,i,k]) (Σ_j [x2;1]_j W2[r,j,k]) + b_k
        let (a, b) = (x1.toDoubles(), x2.toDoubles())
        let (w1, w2, lambda, bias) = (
            lowRank.factors[0].toDoubles(), lowRank.factors[1].toDoubles(), lowRank.rankWeights.toDoubles(),
            lowRank.bias.toDoubles()
        )
        for n in 0..<2 {
            let e1 = Array(a[n * 2..<(n + 1) * 2]) + [1]
            let e2 = Array(b[n * 3..<(n + 1) * 3]) + [1]
            for k in 0..<4 {
                var value = bias[k]
                for r in 0..<3 {
                    let p1 = (0..<3).reduce(0) { $0 + e1[$1] * w1[(r * 3 + $1) * 4 + k] }
                    let p2 = (0..<4).reduce(0) { $0 + e2[$1] * w2[(r * 4 + $1) * 4 + k] }
                    value += lambda[r] * p1 * p2
                }
                XCTAssertEqual(output[n * 4 + k], value, accuracy: 1e-12)
            }
        }
    }

    func testFiLMIsTheIdentityAtZeroParametersAndModulatesOtherwise() throws {
        let film = try XCTUnwrap(
            try fusion("film", ["input_dims": dims([3, 2]), "condition": .number(2)]) as? FiLMFusion)
        let x = try Tensor(shape: [1, 3], doubles: [1, -2, 3])
        let condition = try Tensor(shape: [1, 2], doubles: [0.5, -1])
        for parameter in film.parameters() { parameter.fill(0) }
        XCTAssertEqual(try film.fuse([x, condition]).toDoubles(), [1, -2, 3])
        // γ = 1 + Δγ, β: with Δγ weights picking c₁ and β bias 1, y = x (1 + c₁) + 1.
        let scale = try XCTUnwrap(film.module(named: "scale") as? Linear)
        let shift = try XCTUnwrap(film.module(named: "shift") as? Linear)
        try scale.weight.assign(Tensor(shape: [3, 2], doubles: [1, 0, 1, 0, 1, 0]))
        shift.bias?.fill(1)
        XCTAssertEqual(try film.fuse([x, condition]).toDoubles(), [2.5, -2, 5.5])
        XCTAssertThrowsError(
            try registry.build(.fusion, "film", options: ["input_dims": dims([3, 2]), "condition": .number(3)]))
    }

    func testProductMeanAndLateFusionFollowTheirDefinitions() throws {
        let generator = RandomGenerator(seed: 4)
        let inputs = try [
            Tensor.normal([2, 3], dtype: .float64, generator: generator),
            Tensor.normal([2, 5], dtype: .float64, generator: generator),
        ]
        let product = try fusion("product", ["input_dims": dims([3, 5]), "dim": .number(4)])
        let projections = try (0..<2).map { try XCTUnwrap(product.module(named: "projections.\($0)") as? Linear) }
        let expected = try projections[0](inputs[0]) * projections[1](inputs[1])
        assertClose(try product.fuse(inputs), expected, tolerance: 1e-15, "product")
        let mean = try fusion("mean", ["input_dims": dims([3, 5]), "dim": .number(4)])
        let meanProjections = try (0..<2).map { try XCTUnwrap(mean.module(named: "projections.\($0)") as? Linear) }
        assertClose(
            try mean.fuse(inputs), try (meanProjections[0](inputs[0]) + meanProjections[1](inputs[1])) / 2,
            tolerance: 1e-15, "mean")
        // Late fusion: the average of the logits; learned weights start at the average and stay convex.
        let logits = try [Tensor(shape: [1, 2], doubles: [1, 3]), Tensor(shape: [1, 2], doubles: [3, -1])]
        XCTAssertEqual(try fusion("late", ["input_dims": dims([2, 2])]).fuse(logits).toDoubles(), [2, 1])
        let learned = try XCTUnwrap(
            try fusion("late", ["input_dims": dims([2, 2]), "weights": .string("learned")]) as? LateFusion)
        XCTAssertEqual(try learned.fuse(logits).toDoubles(), [2, 1])
        try learned.scores?.assign(Tensor(shape: [2], doubles: [log(3), 0]))
        XCTAssertEqual(try learned.fuse(logits).toDoubles()[0], 0.75 * 1 + 0.25 * 3, accuracy: 1e-12)
        XCTAssertThrowsError(try registry.build(.fusion, "late", options: ["input_dims": dims([2, 3])]))
    }

    func testCrossModalAttentionWeightsAreDistributionsPerPair() throws {
        let cross = try XCTUnwrap(
            try fusion("cross_attention", ["input_dims": dims([3, 5, 2]), "dim": .number(8), "heads": .number(2)])
                as? CrossModalAttentionFusion)
        let generator = RandomGenerator(seed: 6)
        let sequences = try [
            Tensor.normal([2, 4, 3], dtype: .float64, generator: generator),
            Tensor.normal([2, 6, 5], dtype: .float64, generator: generator),
            Tensor.normal([2, 2], dtype: .float64, generator: generator),
        ]  // a pooled modality: one token
        let output = try cross.fuse(sequences)
        XCTAssertEqual(output.shape, [2, 6 * 8])  // m(m − 1) pairs of dim features
        XCTAssertEqual(cross.attentionWeights.count, 6)
        let lengths = [4, 6, 1]
        for (target, source, weights) in cross.attentionWeights {
            XCTAssertEqual(weights.shape, [2, lengths[target], lengths[source]])
            let sums = try weights.sum(axes: [2]).toDoubles()
            for sum in sums { XCTAssertEqual(sum, 1, accuracy: 1e-12) }
        }
        // The output depends on the cross-modal interaction: changing only modality 2 changes the pooled
        // vector of pair (1 from 2) but not of pair (1 from 3).
        var changed = sequences
        changed[1] = try sequences[1] + 1
        let other = try cross.fuse(changed).toDoubles()
        let first = output.toDoubles()
        XCTAssertGreaterThan(zip(first[0..<8], other[0..<8]).map { abs($0 - $1) }.max() ?? 0, 1e-6)
        XCTAssertEqual(Array(first[8..<16]), Array(other[8..<16]))
    }

    func testEveryFusionPassesFirstAndSecondOrderGradientChecks() throws {
        let cases: [(String, [String: ConfigValue], [[Int]])] = [
            ("concat", ["input_dims": dims([2, 3]), "dim": .number(2)], [[2, 2], [2, 3]]),
            ("sum", ["input_dims": dims([2, 3]), "dim": .number(2)], [[2, 2], [2, 3]]),
            ("mean", ["input_dims": dims([2, 3]), "dim": .number(2)], [[2, 2], [2, 3]]),
            ("product", ["input_dims": dims([2, 3]), "dim": .number(2)], [[2, 2], [2, 3]]),
            ("film", ["input_dims": dims([2, 3])], [[2, 2], [2, 3]]),
            ("tensor", ["input_dims": dims([2, 1]), "dim": .number(2)], [[2, 2], [2, 1]]),
            (
                "low_rank_tensor", ["input_dims": dims([2, 3]), "dim": .number(2), "rank": .number(2)],
                [[2, 2], [2, 3]]
            ),
            ("late", ["input_dims": dims([3, 3]), "weights": .string("learned")], [[2, 3], [2, 3]]),
            (
                "cross_attention", ["input_dims": dims([2, 3]), "dim": .number(4), "heads": .number(2)],
                [[2, 2, 2], [2, 3, 3]]
            ),
        ]
        let generator = RandomGenerator(seed: 8)
        for (name, options, shapes) in cases {
            let fusion = try fusion(name, options)
            for parameter in fusion.parameters() {
                try parameter.assign(Tensor.normal(parameter.shape, dtype: .float64, generator: generator) * 0.5)
            }
            let inputs = try shapes.map { try Tensor.normal($0, dtype: .float64, generator: generator).requiringGrad() }
            let reports = try GradientCheck.check(leaves: inputs + fusion.parameters()) { try fusion.fuse(inputs) }
            for report in reports { XCTAssert(report.passed, "\(name): \(report)") }
        }
    }

    func testMissingModalitiesUsePlaceholders() throws {
        let generator = RandomGenerator(seed: 2)
        let x = try Tensor.normal([3, 2], dtype: .float64, generator: generator)
        let y = try Tensor.normal([3, 4], dtype: .float64, generator: generator)
        for name in ["concat", "sum", "product", "film", "tensor", "low_rank_tensor", "cross_attention"] {
            let zero = try fusion(name, ["input_dims": dims([2, 4])])
            assertClose(
                try zero.fuse(available: [x, nil]), try zero.fuse([x, Tensor.zeros([3, 4], dtype: .float64)]),
                tolerance: 1e-14, "\(name), zero placeholder")
            // A learned placeholder is a trained parameter: gradients reach it.
            let learned = try fusion(name, ["input_dims": dims([2, 4]), "missing": .string("learned")])
            XCTAssertEqual(learned.placeholders.count, 2)
            try learned.fuse(available: [nil, y]).sum().backward()
            XCTAssertNotNil(learned.placeholders[0].grad, "\(name): the placeholder is trained")
            XCTAssertNil(learned.placeholders[1].grad)
        }
        XCTAssertThrowsError(try fusion("sum", ["input_dims": dims([2, 4])]).fuse(available: [nil, nil]))
        XCTAssertThrowsError(try fusion("sum", ["input_dims": dims([2, 4])]).fuse([x, x])) { error in
            XCTAssert("\(error)".contains("[N, 4]"), "\(error)")
        }
    }
}
