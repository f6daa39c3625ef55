import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// LRP rules and composites against Zennit on fixed float64 weights and inputs
/// (`scripts/golden/make_lrp_golden.py`): a CNN with a BatchNorm after its first convolution (so
/// canonisation matters), max and average pooling.
final class RelevanceGoldenTests: XCTestCase {
    let registry = Registry.standard()

    func model(_ fixture: Fixture) throws -> Sequential {
        let model = try Sequential([
            Conv2d(1, 4, kernelSize: (3, 3), padding: (1, 1), dtype: .float64), BatchNorm(4, rank: 4, dtype: .float64),
            ReLU(),
            Pool2d(.max(kernel: (2, 2), stride: nil, padding: (0, 0))),
            Conv2d(4, 8, kernelSize: (3, 3), padding: (1, 1), dtype: .float64), ReLU(),
            Pool2d(.average(kernel: (2, 2), stride: nil, padding: (0, 0), countIncludePad: true)), Flatten(),
            Linear(128, 16, dtype: .float64), ReLU(), Linear(16, 5, dtype: .float64),
        ])
        try model.loadStateDict(fixture.state())
        model.eval()
        return model
    }

    func lrp(_ options: [String: ConfigValue]) throws -> Explainer {
        try registry.build(.explainer, "lrp", options: options)
    }

    /// Raw relevances within 1e-4 of the largest, and per-image min-max normalised maps within 1e-4. (Zennit's
    /// canonizer leaves the merged BatchNorm computing x / √(1 + ε) rather than x, which scales everything
    /// after it by 1 − 5·10⁻⁶; without a BatchNorm the two agree to 1e-12.)
    func assertMatches(
        _ actual: Tensor, _ expected: Tensor, _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(actual.shape, expected.shape, message, file: file, line: line)
        guard actual.shape == expected.shape else { return }
        let (a, e) = (actual.toDoubles(), expected.toDoubles())
        let scale = e.map(abs).max() ?? 1
        let raw = zip(a, e).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(
            raw, 1e-4 * scale, "\(message): raw relevance (largest \(scale))", file: file, line: line)
        let size = actual.count / actual.shape[0]
        var worst = 0.0
        for image in 0..<actual.shape[0] {
            func normalized(_ values: ArraySlice<Double>) -> [Double] {
                let (low, high) = (values.min() ?? 0, values.max() ?? 0)
                return values.map { ($0 - low) / max(high - low, 1e-12) }
            }
            let range = image * size..<(image + 1) * size
            worst = max(worst, zip(normalized(a[range]), normalized(e[range])).map { abs($0 - $1) }.max() ?? 0)
        }
        XCTAssertLessThanOrEqual(worst, 1e-4, "\(message): normalised maps", file: file, line: line)
    }

    func testCompositesMatchZennit() throws {
        let fixture = try Fixture("lrp.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        let targets = try fixture["targets"]
        for name in [
            "epsilon_plus", "epsilon_plus_flat", "epsilon_alpha2_beta1", "epsilon_alpha2_beta1_flat",
            "epsilon_gamma_box",
        ] {
            let relevance = try lrp(["composite": .string(name)]).attribute(
                model: model, inputs: inputs, targets: targets)
            assertMatches(relevance, try fixture["composite.\(name)"], name)
        }
        let oneHot = try lrp(["output": .string("one_hot")]).attribute(model: model, inputs: inputs, targets: targets)
        assertMatches(oneHot, try fixture["composite.epsilon_plus.one_hot"], "epsilon_plus, one-hot output")
        let uncanonized = try lrp(["canonize": .boolean(false)]).attribute(
            model: model, inputs: inputs, targets: targets)
        assertMatches(
            uncanonized, try fixture["composite.epsilon_plus.no_canonizer"], "epsilon_plus without canonisation")
        // Canonisation changes the result on this model, so the comparisons above can tell the two apart.
        let canonized = try fixture["composite.epsilon_plus"].toDoubles()
        let difference = zip(canonized, uncanonized.toDoubles()).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(difference, 1e-2 * (canonized.map(abs).max() ?? 0))
        // Without a BatchNorm in the way, the match is exact to rounding.
        let exact =
            zip(uncanonized.toDoubles(), try fixture["composite.epsilon_plus.no_canonizer"].toDoubles()).map {
                abs($0 - $1)
            }.max() ?? 1
        XCTAssertLessThan(exact, 1e-12)
    }

    func testEachRuleMatchesZennit() throws {
        let fixture = try Fixture("lrp.safetensors")
        let model = try model(fixture)
        let inputs = try fixture["inputs"]
        let targets = try fixture["targets"]
        let rules: [(String, ConfigValue)] = [
            ("epsilon", .table(["type": .string("epsilon"), "epsilon": .number(0.25)])), ("gamma", .string("gamma")),
            ("z_plus", .string("z_plus")), ("alpha_beta", .string("alpha_beta")), ("flat", .string("flat")),
            ("w_square", .string("w_square")),
            ("z_box", .table(["type": .string("z_box"), "low": .number(0), "high": .number(1)])),
        ]
        var previous: [Double] = []
        for (name, rule) in rules {
            let composite = ConfigValue.table(["type": .string("layer_map"), "dense": rule])
            let relevance = try lrp(["composite": composite]).attribute(model: model, inputs: inputs, targets: targets)
            assertMatches(relevance, try fixture["rule.\(name)"], "rule \(name)")
            XCTAssertNotEqual(relevance.toDoubles(), previous, "rule \(name) differs from the one before")
            previous = relevance.toDoubles()
        }
    }

    /// Epsilon-LRP with ε → 0 through a bias-free ReLU network conserves relevance: the input relevances
    /// sum to the target logit.
    func testConservationWithoutBiases() throws {
        let generator = RandomGenerator(seed: 5)
        let model = try Sequential([
            Linear(12, 8, bias: false, dtype: .float64, generator: generator), ReLU(),
            Linear(8, 3, bias: false, dtype: .float64, generator: generator),
        ])
        let inputs = try Tensor.uniform([4, 12], generator: generator).to(.float64)
        let composite = ConfigValue.table([
            "type": .string("layer_map"), "dense": .table(["type": .string("epsilon"), "epsilon": .number(1e-12)]),
        ])
        let relevance = try lrp(["composite": composite]).attribute(model: model, inputs: inputs, targets: nil)
        let logits = try model(inputs)
        let classes = try logits.argmax(axis: 1).toIntegers()
        let sums = try relevance.sum(axes: [1]).toDoubles()
        for (sample, (total, target)) in zip(sums, classes).enumerated() {
            XCTAssertEqual(total, try logits.toDoubles()[sample * 3 + target], accuracy: 1e-9, "sample \(sample)")
        }
    }

    func testBadOptionsAreClearErrors() throws {
        XCTAssertThrowsError(
            try registry.build(.rule, "alpha_beta", options: ["alpha": .number(2), "beta": .number(2)])
        ) { error in
            XCTAssert("\(error)".contains("alpha − beta = 1"), "\(error)")
        }
        XCTAssertThrowsError(try registry.build(.explainer, "lrp", options: ["composite": .string("epsilon_pluss")])) {
            error in
            XCTAssert("\(error)".contains("epsilon_plus"), "\(error)")
        }
        XCTAssertThrowsError(try registry.build(.explainer, "lrp", options: ["output": .string("probability")])) {
            error in XCTAssert("\(error)".contains("one_hot"), "\(error)")
        }
        // Token inputs cannot carry relevance.
        let model = try Sequential([Embedding(10, 4), Flatten(), Linear(8, 2)])
        XCTAssertThrowsError(
            try lrp([:]).attribute(model: model, inputs: Tensor(shape: [1, 2], integers: [1, 2]), targets: nil))
    }
}
