import LucernaComponents
import LucernaCore
import LucernaTestSupport
import XCTest

/// Classification and subgroup metrics against scikit-learn and Fairlearn on fixed predictions
/// (`scripts/golden/make_components_golden.py`).
final class MetricGoldenTests: XCTestCase {
    let registry = Registry.standard()

    func metric(_ name: String, _ options: [String: ConfigValue] = [:]) throws -> Metric {
        try registry.build(.metric, name, options: options)
    }

    /// Feeds the fixture in two batches (metrics accumulate) and returns the value.
    func value(_ name: String, _ options: [String: ConfigValue] = [:], prefix: String, groups: String? = nil) throws
        -> Double
    {
        let fixture = try Fixture("components.safetensors")
        let logits = try fixture["\(prefix).logits"]
        let targets = try fixture["\(prefix).targets"]
        let grouping = try groups.map { try fixture[$0] }
        let instance = try metric(name, options)
        let half = logits.shape[0] / 2
        for (start, end) in [(0, half), (half, logits.shape[0])] {
            try instance.update(
                predictions: logits.sliced(axis: 0, start: start, end: end),
                targets: targets.sliced(axis: 0, start: start, end: end),
                groups: grouping.map { try $0.sliced(axis: 0, start: start, end: end) })
        }
        return try instance.compute()
    }

    func expected(_ key: String) throws -> Double { try Fixture("components.safetensors")[key].item() }

    func testClassificationMetricsMatchScikitLearn() throws {
        for average in ["macro", "weighted", "micro"] {
            for name in ["f1", "precision", "recall"] {
                XCTAssertEqual(
                    try value(name, ["average": .string(average)], prefix: "mc"), try expected("mc.\(name)_\(average)"),
                    accuracy: 1e-12, "\(name) \(average)")
            }
        }
        XCTAssertEqual(
            try value("f1", ["average": .string("binary")], prefix: "bin"), try expected("bin.f1"), accuracy: 1e-12)
        XCTAssertEqual(try value("roc_auc", prefix: "mc"), try expected("mc.roc_auc_ovr"), accuracy: 1e-12)
        XCTAssertEqual(try value("roc_auc", prefix: "bin"), try expected("bin.roc_auc"), accuracy: 1e-12)
        XCTAssertEqual(try value("ece", prefix: "mc"), try expected("mc.ece"), accuracy: 1e-9)
        let fixture = try Fixture("components.safetensors")
        let confusion = try metric("confusion_matrix")
        try confusion.update(predictions: fixture["mc.logits"], targets: fixture["mc.targets"], groups: nil)
        guard case .list(let rows)? = try confusion.report()["matrix"] else { return XCTFail("no matrix") }
        let flat = rows.flatMap { row -> [Double] in
            guard case .list(let cells) = row else { return [] }
            return cells.compactMap { if case .number(let value) = $0 { return value } else { return nil } }
        }
        XCTAssertEqual(flat, try fixture["mc.confusion"].toDoubles())
    }

    func testSubgroupMetricsMatchFairlearn() throws {
        for name in [
            "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
            "equal_opportunity_difference", "worst_group_accuracy",
        ] {
            XCTAssertEqual(
                try value(name, prefix: "bin", groups: "bin.groups"), try expected("bin.\(name)"), accuracy: 1e-12, name
            )
        }
        let fixture = try Fixture("components.safetensors")
        let audit = try metric("worst_group_accuracy")
        try audit.update(
            predictions: fixture["bin.logits"], targets: fixture["bin.targets"], groups: fixture["bin.groups"])
        guard case .list(let groups)? = try audit.report()["groups"] else { return XCTFail("no groups") }
        let rates = groups.compactMap { group -> Double? in
            guard case .table(let fields) = group, case .number(let rate)? = fields["selection_rate"] else {
                return nil
            }
            return rate
        }
        let expectedRates = try fixture["bin.group_selection_rates"].toDoubles()
        XCTAssertEqual(rates.count, expectedRates.count)
        for (a, e) in zip(rates, expectedRates) { XCTAssertEqual(a, e, accuracy: 1e-12) }
        XCTAssertThrowsError(
            try {
                let m = try metric("demographic_parity_difference")
                try m.update(predictions: fixture["bin.logits"], targets: fixture["bin.targets"], groups: nil)
                _ = try m.compute()
            }()
        ) { error in
            XCTAssert("\(error)".contains("needs groups"), "\(error)")
        }
    }

    func testSubgroupMetricsLeaveOutSamplesInNoSubgroup() throws {
        // Groups 0 and 1 select half their samples; the two samples of group -1 (no subgroup, as the madlibs'
        // sentences without an identity term) are both selected and both wrong: counted, they would make the
        // gap 0.5 and the worst accuracy 0.
        let logits = try Tensor(
            shape: [6, 2], values: [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1], dtype: .float64)
        let targets = try Tensor(shape: [6], integers: [1, 0, 1, 1, 0, 0])
        let groups = try Tensor(shape: [6], integers: [0, 0, 1, 1, -1, -1])
        let parity = try metric("demographic_parity_difference")
        try parity.update(predictions: logits, targets: targets, groups: groups)
        XCTAssertEqual(try parity.compute(), 0, accuracy: 1e-15)
        guard case .list(let reported)? = try parity.report()["groups"] else { return XCTFail("no groups") }
        XCTAssertEqual(reported.count, 2, "only the subgroups are reported")
        let worst = try metric("worst_group_accuracy")
        try worst.update(predictions: logits, targets: targets, groups: groups)
        XCTAssertEqual(try worst.compute(), 0.5, accuracy: 1e-15)
        let none = try metric("demographic_parity_difference")
        try none.update(
            predictions: logits, targets: targets, groups: try Tensor(shape: [6], integers: [-1, -1, -1, -1, -1, -1]))
        XCTAssertThrowsError(try none.compute()) { error in
            XCTAssert("\(error)".contains("no sample is in a subgroup"), "\(error)")
        }
    }

    func testBorkanBiasAUCsMatchTheirDefinition() throws {
        XCTAssertEqual(
            try value("bias_auc", prefix: "bin", groups: "bin.identity_groups"), try expected("bin.bias_auc"),
            accuracy: 1e-12)
        let fixture = try Fixture("components.safetensors")
        let bias = try metric("bias_auc")
        try bias.update(
            predictions: fixture["bin.logits"], targets: fixture["bin.targets"], groups: fixture["bin.identity_groups"])
        guard case .list(let groups)? = try bias.report()["groups"] else { return XCTFail("no groups") }
        func column(_ key: String) -> [Double] {
            groups.compactMap { group in
                guard case .table(let fields) = group, case .number(let value)? = fields[key] else { return nil }
                return value
            }
        }
        for (key, golden) in [
            ("subgroup_auc", "bin.subgroup_aucs"), ("bpsn_auc", "bin.bpsn_aucs"), ("bnsp_auc", "bin.bnsp_aucs"),
        ] {
            let expected = try fixture[golden].toDoubles()
            let actual = column(key)
            XCTAssertEqual(actual.count, expected.count, key)
            for (a, e) in zip(actual, expected) { XCTAssertEqual(a, e, accuracy: 1e-12, key) }
        }
    }

    func testBootstrapIntervalsBracketTheValueAndRepeat() throws {
        let fixture = try Fixture("components.safetensors")
        func interval() throws -> [String: ConfigValue] {
            let bootstrap = try metric(
                "bootstrap",
                ["metric": .table(["type": .string("f1"), "average": .string("macro")]), "samples": .number(200)])
            try bootstrap.update(predictions: fixture["mc.logits"], targets: fixture["mc.targets"], groups: nil)
            XCTAssertEqual(try bootstrap.compute(), try expected("mc.f1_macro"), accuracy: 1e-12)
            return try bootstrap.report()
        }
        let first = try interval()
        let second = try interval()
        guard case .number(let lower)? = first["lower"], case .number(let upper)? = first["upper"],
            case .number(let value)? = first["value"]
        else {
            return XCTFail("no interval")
        }
        XCTAssert(lower < value && value < upper, "\(lower) < \(value) < \(upper)")
        XCTAssertEqual(first["lower"]?.description, second["lower"]?.description, "seeded")
    }
}
