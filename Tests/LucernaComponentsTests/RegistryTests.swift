import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
import XCTest

final class RegistryTests: XCTestCase {
    func testBuiltinsRegisterOnceEachAndCoverTheIssueKinds() throws {
        let registry = Registry.standard()
        let keys = Builtins.entries.map { "\($0.kind.name)/\($0.name)" }
        XCTAssertEqual(Set(keys).count, keys.count, "duplicate built-in keys")
        XCTAssertEqual(registry.allEntries.count, keys.count)
        for (kind, name) in [
            (ComponentKind.model, "mlp"), (.model, "cnn"), (.fusion, "concat"), (.fusion, "sum"),
            (.regularizer, "l2"), (.metric, "accuracy"), (.optimizer, "adamw"), (.schedule, "cosine"),
            (.loss, "cross_entropy"), (.dataset, "fashion_mnist"),
        ] {
            XCTAssertNoThrow(try registry.entry(kind, name), "\(kind) \(name)")
        }
        for entry in Builtins.entries {
            XCTAssertFalse(entry.summary.isEmpty, "\(entry.name) has no description")
            XCTAssertFalse(entry.reference.isEmpty, "\(entry.name) has no reference")
            XCTAssertNotNil(
                entry.name.range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression),
                "\(entry.name) is not snake_case")
        }
    }

    func testUnknownNamesAndOptionsNameTheClosestValidOnes() {
        let registry = Registry.standard()
        XCTAssertThrowsError(try registry.build(.fusion, "conact", options: [:])) { error in
            XCTAssert("\(error)".contains("unknown fusion 'conact'; did you mean 'concat'?"), "\(error)")
            XCTAssert(
                "\(error)".contains(
                    "known: concat, cross_attention, film, late, low_rank_tensor, mean, product, sum, tensor"),
                "\(error)")
        }
        XCTAssertThrowsError(try registry.build(.fusion, "concat", options: ["dimm": .number(3)])) { error in
            XCTAssert(
                "\(error)".contains(
                    "unknown option 'dimm'; did you mean 'dim'?; accepted: input_dims, missing, dtype, dim"), "\(error)"
            )
        }
        XCTAssertThrowsError(try registry.build(.schedule, "cosine", options: [:])) { error in
            XCTAssert("\(error)".contains("option optimizer is required"), "\(error)")
        }
        XCTAssertThrowsError(try registry.build(.fusion, "sum", options: ["dim": .string("wide")])) { error in
            XCTAssert("\(error)".contains("option dim must be a number, got string"), "\(error)")
        }
        XCTAssertThrowsError(try registry.build(.loss, "cross_entropy", options: ["reduction": .string("avg")])) {
            error in
            XCTAssert("\(error)".contains("reduction must be one of mean, sum, none"), "\(error)")
        }
    }

    func testSpecTablesNamesAndInstancesAllBuild() throws {
        let registry = Registry.standard()
        let parameter = try Tensor.ones([2, 2]).requiringGrad()
        let optimizer = try registry.build(
            .optimizer,
            from: .table(["type": .string("sgd"), "params": .list([.tensor(parameter)]), "lr": .number(0.5)]),
            context: "test")
        XCTAssertEqual(optimizer.groups.first?.learningRate, 0.5)
        let schedule = try registry.build(
            .schedule,
            from: .table([
                "type": .string("cosine"), "optimizer": .object(optimizer as AnyObject),
                "t_max": .number(4),
            ]), context: "test")
        XCTAssertEqual(schedule.currentRate, 0.5)
        XCTAssertNotNil(try registry.build(.metric, from: .string("accuracy"), context: "test") as? Accuracy)
        let model = try MLP()
        XCTAssert(try registry.build(.model, from: .object(model), context: "test") as AnyObject === model)
        XCTAssertThrowsError(try registry.build(.fusion, from: .table(["dim": .number(3)]), context: "test")) { error in
            XCTAssert("\(error)".contains("needs type = \"name\""), "\(error)")
        }
    }

    func testAModuleCanStandInForItsParameters() throws {
        let model = try Linear(3, 2)
        let optimizer = try Registry.standard().build(.optimizer, "adamw", options: ["params": .object(model)])
        XCTAssertEqual(optimizer.groups.first?.parameters.count, 2)
    }

    func testReregistrationNeedsAnExplicitOverride() throws {
        let registry = Registry.standard()
        let replacement = ComponentEntry(kind: .metric, name: "accuracy", summary: "replacement", origin: "test.lua") {
            config in
            try Accuracy(config: config)
        }
        XCTAssertThrowsError(try registry.register(replacement)) { error in
            XCTAssert("\(error)".contains("already registered (from built-in)"), "\(error)")
        }
        try registry.register(replacement, overriding: true)
        XCTAssertEqual(try registry.entry(.metric, "accuracy").origin, "test.lua")
        XCTAssertEqual(registry.notices.count, 1)
    }

    /// A factory known only at run time (a Lua plugin's) that builds another kind's value is an error naming
    /// the component, not a wrong instance; an instance of another kind is refused where a kind is expected.
    func testBuildsAreCheckedAgainstTheirKind() throws {
        let registry = Registry.standard()
        try registry.register(
            ComponentEntry(kind: .metric, name: "not_a_metric", summary: "builds a number", origin: "test.lua") { _ in 0
            })
        XCTAssertThrowsError(try registry.build(.metric, "not_a_metric", options: [:])) { error in
            XCTAssert("\(error)".contains("metrics.not_a_metric: built Int, which is not a metric"), "\(error)")
        }
        XCTAssertThrowsError(try registry.build(.fusion, from: .object(try MLP()), context: "test")) { error in
            XCTAssert("\(error)".contains("expected a fusion, got MLP"), "\(error)")
        }
    }

    /// Each kind is described once: namespaces and names are unique, and every entry's kind is in the table.
    func testTheTableOfKindsIsConsistent() {
        let kinds = ComponentKind.allCases
        XCTAssertEqual(Set(kinds.map(\.name)).count, kinds.count)
        XCTAssertEqual(Set(kinds.map(\.namespace)).count, kinds.count)
        for entry in Builtins.entries { XCTAssert(kinds.contains(entry.kind), entry.qualifiedName) }
        XCTAssertEqual(ComponentKind(anyName: "optim"), .optimizer)
        XCTAssertEqual(ComponentKind(anyName: "fusions"), .fusion)
        XCTAssertNil(ComponentKind(anyName: "fusionz"))
    }

    func testConfigValuesWriteValidJSON() throws {
        let value = ConfigValue.table([
            "name": .string("a \"b\"\n"), "list": .list([.number(1), .number(2.5), .boolean(true)]),
            "nested": .table(["x": .null]),
        ])
        let decoded = try JSONSerialization.jsonObject(with: Data(value.json.utf8)) as? [String: Any]
        XCTAssertEqual(decoded?["name"] as? String, "a \"b\"\n")
        XCTAssertEqual((decoded?["list"] as? [Any])?.count, 3)
    }

    /// The registry sweep over the built-ins (the Lua test sweeps built-ins and plugins together).
    /// Data sets are checked on their first 16 samples, so they need their files. In CI (`CI` set, with
    /// `LUCERNA_DATA`) a missing file fails the test; elsewhere the data sets without files are skipped, by
    /// name, after every other component has been checked.
    func testEveryBuiltinPassesTheConformanceChecks() throws {
        let registry = Registry.standard()
        let inCI = ProcessInfo.processInfo.environment["CI"] != nil
        var missing: [String] = []
        for entry in registry.allEntries {
            if entry.kind == .dataset {
                do {
                    let dataset = try registry.build(.dataset, entry.name, options: ["limit": .number(16)])
                    XCTAssertEqual(dataset.count, 16, entry.name)
                } catch let error as DataError where error.message.contains("not found") && !inCI {
                    missing.append("\(entry.name) (\(error.message))")
                }
                continue
            }
            XCTAssertNoThrow(
                try Conformance.check(entry, registry: registry, example: Conformance.builtinExample(entry)), entry.name
            )
        }
        if !missing.isEmpty {
            throw XCTSkip("data sets without their files (set LUCERNA_DATA): \(missing.joined(separator: "; "))")
        }
    }

    /// Errors by concern: tensor operations, configuration and the registry each have their type; the
    /// message reads `owner: message` for all.
    func testErrorsHaveATypePerConcern() throws {
        let registry = Registry.standard()
        XCTAssertThrowsError(try registry.build(.fusion, "conact", options: [:])) { error in
            XCTAssert(error is RegistryError, "\(type(of: error))")
            XCTAssert("\(error)".hasPrefix("fusions: unknown fusion 'conact'"), "\(error)")
        }
        XCTAssertThrowsError(try registry.build(.fusion, "concat", options: ["input_dims": .string("3")])) { error in
            XCTAssertEqual(
                error as? ConfigurationError,
                ConfigurationError("fusions.concat", "option input_dims must be a list of integers, got string"))
        }
        XCTAssertThrowsError(try Tensor.zeros([2, 3]).matmul(Tensor.zeros([2, 3]))) { error in
            XCTAssert(error is TensorError)
        }
    }
}
