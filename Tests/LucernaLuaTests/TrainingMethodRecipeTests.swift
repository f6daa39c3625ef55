import Foundation
import LucernaComponents
import LucernaCore
import LucernaRun
import LucernaTestSupport
import XCTest

@testable import LucernaLua

/// `train{method = ...}` from a recipe: each method trains, logs its values every epoch, JTT runs its two
/// stages, a method needing a field the data lacks stops before the first step, and a Lua method plugin
/// trains like a Swift one.
final class TrainingMethodRecipeTests: XCTestCase {
    /// A shortcut data set: the label is the sign of feature 1 (with 10 % noise); feature 2 is the group,
    /// which agrees with the label for 90 % of the samples.
    static let data = """
        lucerna.manual_seed(4)
        local count = 400
        local core = tensor.randn{count, 1}
        local flips = tensor.rand{count}:lt(0.1):float()
        local labels = (core:gt(0):reshape{count}:float() - flips):abs()   -- XOR on 0/1
        local disagree = tensor.rand{count}:gt(0.9):float()
        local groups = (labels - disagree):abs():long()
        labels = labels:long()
        set = {features = tensor.cat({core, groups:reshape{count, 1}:float() * 2 - 1}, 2), labels = labels, groups = groups}
        function model_() lucerna.manual_seed(7); return nn.Sequential{nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)} end

        """

    func records(_ folder: String) throws -> [[String: ConfigValue]] {
        try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            guard case .table(let fields) = try ConfigValue(parsingJSON: String($0)) else { return [:] }
            return fields
        }
    }

    func testEveryMethodTrainsAndLogsItsValues() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("methods-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let lua = try LuaState(run: RunContext(directory: folder, recipe: "methods.lua", seed: 1, threads: 1))
        try lua.run(
            source: Self.data + """
                for _, method in ipairs{"group_dro", "reweighing", "adversarial_debiasing", "jtt"} do
                   local spec = method == "jtt" and {type = "jtt", epochs = 2, upweight = 4}
                      or method == "group_dro" and {type = "group_dro", step_size = 0.5} or method
                   local result = train{model = model_(), data = set, validation = 0, epochs = 3, batch = 100,
                                        method = spec, name = method, verbose = false,
                                        metrics = {accuracy = "accuracy"}}
                   _G[method] = #result.history
                end
                """, name: "methods.lua")
        let all = try records(folder)
        func epochs(_ trainer: String) -> [[String: ConfigValue]] {
            all.filter { $0["trainer"]?.description == "\"\(trainer)\"" && $0["epoch"] != nil }
        }
        XCTAssertEqual(epochs("group_dro").count, 3)
        for record in epochs("group_dro") {
            let weights = (0..<4).compactMap { record["train_group_weight_\($0)"]?.numberValue }
            XCTAssertEqual(weights.count, 4, "(group, label) groups: \(record)")
            XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 1e-9)
            XCTAssertNotNil(record["train_group_loss_0"])
        }
        // The minority groups (group ≠ label) gain weight.
        let last = try XCTUnwrap(epochs("group_dro").last)
        XCTAssertGreaterThan(
            last["train_group_weight_1"]?.numberValue ?? 0, last["train_group_weight_0"]?.numberValue ?? 1)
        XCTAssertNotNil(epochs("reweighing").last?["train_weight_g0_y1"])
        let adversarial = try XCTUnwrap(epochs("adversarial_debiasing").last)
        XCTAssertNotNil(adversarial["train_adversary_loss"])
        XCTAssertNotNil(adversarial["train_adversary_accuracy"])
        // JTT: two identification epochs, the error set, then three epochs on the upsampled rows.
        XCTAssertEqual(epochs("jtt_identify").count, 2)
        XCTAssertEqual(epochs("jtt").count, 3)
        let phase = try XCTUnwrap(all.first { $0["phase"]?.description == "\"jtt\"" })
        let errors = try XCTUnwrap(phase["jtt_errors"]?.numberValue)
        XCTAssertGreaterThan(errors, 0)
        XCTAssertEqual(phase["jtt_rows"]?.numberValue, 400 + 3 * errors, "400 training rows, errors 4 times")
        XCTAssertEqual(epochs("jtt").last?["train_jtt_errors"]?.numberValue, errors)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(folder)/checkpoints/jtt_identify-last.safetensors"))
        // Group DRO's weights are in its checkpoint.
        let checkpoint = try Safetensors.read("\(folder)/checkpoints/group_dro-last.safetensors")
        let saved = try XCTUnwrap(checkpoint.tensors.first { $0.name == "method.group_weights" }?.tensor)
        XCTAssertEqual(saved.toDoubles()[1], last["train_group_weight_1"]?.numberValue ?? 0, accuracy: 1e-12)
    }

    func testMethodErrorsAreReadable() throws {
        let cases: [(String, String)] = [
            (
                "set.groups = nil; train{model = model_(), data = set, validation = 0, epochs = 1, method = 'group_dro', verbose = false}",
                "method group_dro needs 'groups', which the training data lacks"
            ),
            (
                "train{model = model_(), data = set, validation = 0, epochs = 1, method = 'group_dro', loss = losses.cross_entropy{}, verbose = false}",
                "give the loss by name or spec"
            ),
            (
                "train{model = model_(), data = set, validation = 0, epochs = 1, method = 'dro', verbose = false}",
                "group_dro"
            ),
            (
                "train{model = model_(), data = set, validation = 0, epochs = 1, method = 'reweighing', verbose = false, adversarial = {method = 'pgd', attack = {type = 'pgd', eps = 0.1}}}",
                "cannot be combined with adversarial training"
            ),
        ]
        for (recipe, expected) in cases {
            XCTAssertThrowsError(try LuaState().run(source: Self.data + recipe, name: "bad.lua"), recipe) {
                XCTAssertTrue("\($0)".contains(expected), "\($0)")
            }
        }
    }

    func testALuaMethodPluginTrains() throws {
        let lua = try LuaState()
        try lua.loadPlugins(from: [Fixture.repositoryRoot.appendingPathComponent("Plugins").path])
        try lua.run(
            source: Self.data + """
                local seen = {}
                local result = train{model = model_(), data = set, validation = 0, epochs = 2, batch = 100,
                                     method = "worst_group", verbose = false,
                                     callbacks = {on_epoch_end = function(record)
                                        seen[#seen + 1] = (record.train_worst_count_0 or 0) + (record.train_worst_count_1 or 0)
                                     end}}
                counts = seen[1] .. "," .. seen[2]
                """, name: "plugin.lua")
        XCTAssertEqual(lua.string(global: "counts"), "4,4", "every batch of 100 (400 rows) has a worst group")
        // Its definition on a fixed batch: the largest group mean loss.
        let method = try lua.registry.build(.method, "worst_group", options: [:])
        XCTAssertEqual(method.fields, ["groups"])
        let groups = try Tensor(shape: [5], integers: [0, 1, 2, 1, 0])
        try method.prepare(TensorDataset(name: "fixed", tensors: [("groups", groups)]), keys: TrainingKeys())
        let losses = try Tensor(shape: [5], scalars: [1, 3, 1.5, 0.5, 2]).requiringGrad()
        let loss = try method.loss(losses, RegularizerContext(groups: groups))
        XCTAssertEqual(try loss.item(), 1.75, accuracy: 1e-6, "groups 0, 1, 2 have means 1.5, 1.75, 1.5")
        try loss.backward()
        XCTAssertEqual(losses.grad?.toDoubles(), [0, 0.5, 0, 0.5, 0])
        XCTAssertEqual(try method.epochValues().map(\.name), ["worst_count_1"])
    }
}
