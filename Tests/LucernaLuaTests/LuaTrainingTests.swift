import Foundation
import LucernaComponents
import LucernaCore
import LucernaRun
import XCTest

@testable import LucernaLua

final class LuaTrainingTests: XCTestCase {
    func testARecipeTrainsAnMLPWithNNAndOptim() throws {
        let lua = try LuaState()
        try lua.run(
            source: """
                lucerna.manual_seed(3)
                -- XOR of two coordinates' signs: not linearly separable.
                local x = tensor.randn{256, 2}
                local y = ((x:narrow(2, 1, 1) * x:narrow(2, 2, 1)):gt(0)):reshape{256}:long()
                local model = nn.Sequential{nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)}
                local opt = optim.adamw{params = model:parameters(), lr = 0.03, weight_decay = 0}
                local schedule = schedules.cosine{optimizer = opt, t_max = 300}
                first = losses.cross_entropy(model(x), y):item()
                for step = 1, 300 do
                   opt:zero_grad()
                   local loss = losses.cross_entropy(model(x), y)
                   loss:backward()
                   opt:step()
                   schedule:step()
                end
                last = losses.cross_entropy(model(x), y):item()
                accuracy = model(x):argmax(2):eq(y:float() + 1):mean():item()
                count = model:parameter_count()
                """, name: "xor.lua")
        XCTAssertEqual(lua.number(global: "count"), Double(2 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2))
        XCTAssertLessThan(try XCTUnwrap(lua.number(global: "last")), 0.2 * (lua.number(global: "first") ?? 0))
        XCTAssertGreaterThan(try XCTUnwrap(lua.number(global: "accuracy")), 0.95)
    }

    func testModulesSaveAndLoadSafetensors() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lua-\(UUID().uuidString).safetensors")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lua = try LuaState()
        try lua.run(
            source: """
                local a = nn.Conv2d(1, 4, 3, {padding = 1})
                a:save("\(path)")
                local b = nn.Conv2d(1, 4, 3, {padding = 1})
                b:load("\(path)")
                local x = tensor.randn{2, 1, 5, 5}
                difference = (a(x) - b(x)):abs():max():item()
                names = 0
                for name, _ in pairs(b:named_parameters()) do names = names + 1 end
                """, name: "save.lua")
        XCTAssertEqual(lua.number(global: "difference"), 0)
        XCTAssertEqual(lua.number(global: "names"), 2)
    }

    func testDataLimitKeepsTheFirstSamples() throws {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"),
            "dataset-fashion-mnist is not installed")
        let lua = try LuaState()
        try lua.run(
            source: """
                local all = data.fashion_mnist{split = "test"}
                local few = data.fashion_mnist{split = "test", limit = 5}
                count = few.labels:numel()
                same = (few.images - all.images:narrow(1, 1, 5)):abs():max():item()
                shape = few.images:shape()[1] * 1000 + few.images:shape()[3]
                """, name: "limit.lua")
        XCTAssertEqual(lua.number(global: "count"), 5)
        XCTAssertEqual(lua.number(global: "same"), 0)
        XCTAssertEqual(lua.number(global: "shape"), 5028)
    }

    func testComponentArgumentErrorsNameTheOptions() throws {
        let cases: [(String, String)] = [
            ("nn.Conv2d(1, 4, 3, {paddin = 1})", "unknown option 'paddin'; accepted: stride, padding, dilation, bias"),
            ("optim.adamw{params = {}, learning_rate = 1}", "unknown option 'learning_rate'"),
            ("optim.adamw{lr = 1}", "option params is required"),
            ("schedules.cosine{optimizer = 3, t_max = 2}", "option optimizer must be an optimizer"),
            ("schedules.cosine{optimizer = optim.sgd{params = {}}, t_max = 0}", "t_max must be positive"),
            ("local m = nn.Linear(2, 3); m.forward(tensor.ones{1, 2})", "argument 1 must be a module"),
            (
                "local m = nn.Linear(2, 3); local y = m(tensor.ones{1, 5})",
                "Linear: input [1, 5] does not end in 2 features"
            ),
            ("nn.Sequential{nn.ReLU(), 3}", "element 2 is not a module"),
            ("data.fashion_mnist{split = 'validation'}", "split must be"),
            ("losses.cross_entropy(tensor.ones{2, 3}, tensor{0, 7}:long())", "out of range"),
            (
                "train{model = nn.Linear(2, 2), data = {features = tensor.ones{20, 2}, labels = tensor.zeros{20}:long()}, adversarial = {method = 'trades', awp_warmup = 2}}",
                "awp_warmup needs awp_gamma"
            ),
            (
                "train{model = nn.Linear(2, 2), data = {features = tensor.ones{20, 2}, labels = tensor.zeros{20}:long()}, adversarial = {method = 'trades', awp_gamma = 0}}",
                "awp_gamma must be a positive number"
            ),
        ]
        for (source, expected) in cases {
            XCTAssertThrowsError(try LuaState().run(source: source, name: "bad.lua"), source) { error in
                XCTAssert("\(error)".contains(expected) && "\(error)".contains("bad.lua:1:"), "\(source) -> \(error)")
            }
        }
    }

    /// train{} on XOR points with a table of modules and a Lua forward, a Lua loss term and callbacks; then
    /// evaluate{} agrees with a hand-computed accuracy and per-group selection rates.
    /// train{adversarial = ...} and evaluate{attacks = ..., epsilons = ...} from Lua: terms logged, every robust
    /// number labelled, the curve ordered by budget, the worst case no better than any attack.
    func testAdversarialTrainingAndRobustnessEvaluationFromLua() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lua-robust-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try RunContext(directory: folder, recipe: "robust.lua", seed: 2, threads: 1)
        let lua = try LuaState(run: run)
        try lua.run(
            source: """
                lucerna.manual_seed(3)
                local x = tensor.rand{400, 2}
                local y = (x:narrow(2, 1, 1):gt(0.5)):reshape{400}:long()
                local set = {features = x, labels = y}
                local model = nn.Sequential{nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)}
                result = train{model = model, data = set, epochs = 3, batch = 32, verbose = false,
                               adversarial = {method = "pgd", attack = {type = "pgd", eps = 0.05, alpha = 0.02, steps = 3}}}
                adversarial_logged = result.history[1].train_adversarial_loss ~= nil and 1 or 0
                trades = train{model = model, data = set, epochs = 1, batch = 32, verbose = false, name = "trades",
                               adversarial = {method = "trades", beta = 6, eps = 0.05, steps = 3}}
                trades_logged = trades.history[1].train_trades_robust ~= nil and 1 or 0
                local awp = train{model = model, data = set, epochs = 2, batch = 32, verbose = false, name = "trades_awp",
                                  adversarial = {method = "trades", beta = 6, eps = 0.05, steps = 3, awp_gamma = 0.005, awp_warmup = 2}}
                awp_finite = (awp.history[2].train_loss == awp.history[2].train_loss) and 1 or 0
                local values = evaluate{model = model, data = set, name = "robust",
                                        attacks = {fgsm = "fgsm", pgd = {type = "pgd", alpha = 0.02, steps = 5}}, epsilons = {0.0, 0.05, 0.2}}
                clean = values.clean_accuracy
                none, small, large = values.robust_accuracy["pgd_eps0.0"], values.robust_accuracy["pgd_eps0.05"], values.robust_accuracy["pgd_eps0.2"]
                label = values.attack_labels["pgd_eps0.2"]
                local both = evaluate{model = model, data = set, attacks = {fgsm = {type = "fgsm", eps = 0.1}, pgd = {type = "pgd", eps = 0.1, alpha = 0.02, steps = 10}}}
                worst = both.worst_case_accuracy
                strongest = math.min(both.robust_accuracy.fgsm, both.robust_accuracy.pgd)
                """, name: "robust.lua")
        XCTAssertEqual(lua.number(global: "adversarial_logged"), 1)
        XCTAssertEqual(lua.number(global: "trades_logged"), 1)
        XCTAssertEqual(lua.number(global: "awp_finite"), 1, "TRADES with AWP from epoch 2 trains from Lua")
        let clean = try XCTUnwrap(lua.number(global: "clean"))
        let none = try XCTUnwrap(lua.number(global: "none"))
        let small = try XCTUnwrap(lua.number(global: "small"))
        let large = try XCTUnwrap(lua.number(global: "large"))
        XCTAssertEqual(none, clean, accuracy: 1e-12)
        XCTAssertLessThanOrEqual(large, small)
        XCTAssertLessThan(large, clean)
        XCTAssertEqual(lua.string(global: "label")?.contains("eps=0.2"), true)
        XCTAssertLessThanOrEqual(
            try XCTUnwrap(lua.number(global: "worst")), try XCTUnwrap(lua.number(global: "strongest")) + 1e-12)
        let metrics = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8)
        XCTAssert(metrics.contains("robust_robust_pgd_eps0.2") && metrics.contains("attack_pgd_eps0.2"), metrics)
    }

    /// A resumed attempt of a run replays a finished evaluate{} (result, records, random state afterwards)
    /// when the program, sources, model, data, options and random state are the same, and computes it again
    /// when any of them differs; calls with a Lua forward function are never memoised.
    func testAResumedRunReplaysItsFinishedEvaluations() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lua-memo-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func attempt(modelSeed: Int = 5, dataSeed: Int = 3, resuming: Bool) throws -> (
            clean: Double, robust: Double, after: Double, lua: LuaState
        ) {
            let lua = try LuaState(
                run: RunContext(directory: folder, recipe: "memo.lua", seed: 1, threads: 1, resuming: resuming))
            try lua.run(
                source: """
                    lucerna.manual_seed(\(dataSeed))
                    local x = tensor.rand{200, 2}
                    local set = {features = x, labels = (x:narrow(2, 1, 1):gt(0.5)):reshape{200}:long()}
                    lucerna.manual_seed(\(modelSeed))
                    local model = nn.Sequential{nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)}
                    local values = evaluate{model = model, data = set, name = "memo", attacks = {pgd = {type = "pgd", eps = 0.1, alpha = 0.05, steps = 3}}}
                    clean, robust = values.clean_accuracy, values.robust_accuracy.pgd
                    after = tensor.rand{3}:sum():item()   -- the random stream after the call
                    evaluate{model = model, forward = function(batch) return model(batch.features) end, data = set}
                    -- An output transform on a layer (P-ClArC here) is not in the key: such calls are computed.
                    local handle = reveal.clarc{model = model, layer = "1", cav = {vector = tensor{1, 1, 1, 1, 1, 1, 1, 1} / math.sqrt(8),
                       pooling = "flat", concept_mean = 0, other_mean = 5}}
                    transformed = evaluate{model = model, data = set, loss = "cross_entropy"}.loss
                    handle.remove()
                    untransformed = evaluate{model = model, data = set, loss = "cross_entropy"}.loss
                    """, name: "memo.lua")
            return (
                try XCTUnwrap(lua.number(global: "clean")), try XCTUnwrap(lua.number(global: "robust")),
                try XCTUnwrap(lua.number(global: "after")), lua
            )
        }
        let first = try attempt(resuming: false)
        XCTAssertNotEqual(
            try XCTUnwrap(first.lua.number(global: "transformed")),
            try XCTUnwrap(first.lua.number(global: "untransformed")))
        let stored = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/evaluations").sorted()
        XCTAssertEqual(
            stored.count, 2,
            "the call with attacks and the untransformed one: the call with a forward function and the one with a transform are not memoised"
        )
        let records = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8)
        // Replaying: the stored result is what a resumed attempt returns (a tampered value shows it is read),
        // and the random stream continues as after the computed call.
        let paths = stored.map { "\(folder)/evaluations/\($0)" }
        let path = try XCTUnwrap(
            paths.first { (try? String(contentsOfFile: $0, encoding: .utf8))?.contains("clean_accuracy") ?? false })
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssert(text.contains("\"clean_accuracy\": \(ConfigValue.number(first.clean).json)"), text)
        try text.replacingOccurrences(
            of: "\"clean_accuracy\": \(ConfigValue.number(first.clean).json)", with: "\"clean_accuracy\": 0.123"
        )
        .write(toFile: path, atomically: true, encoding: .utf8)
        let replayed = try attempt(resuming: true)
        XCTAssertEqual(replayed.clean, 0.123)
        XCTAssertEqual(replayed.robust, first.robust)
        XCTAssertEqual(replayed.after, first.after)
        let replayedRecords = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8)
        XCTAssertEqual(replayedRecords.split(separator: "\n").count, records.split(separator: "\n").count)
        XCTAssert(replayedRecords.contains("memo_robust_pgd"), replayedRecords)
        // Other weights, other data, or a damaged file: computed again, to the first attempt's numbers.
        let otherModel = try attempt(modelSeed: 6, resuming: true)
        XCTAssertNotEqual(otherModel.clean, 0.123)
        let otherData = try attempt(dataSeed: 4, resuming: true)
        XCTAssertNotEqual(otherData.clean, 0.123)
        for name in try FileManager.default.contentsOfDirectory(atPath: "\(folder)/evaluations") {
            try "{\"key\": ".write(toFile: "\(folder)/evaluations/\(name)", atomically: true, encoding: .utf8)
        }
        let damaged = try attempt(resuming: true)
        XCTAssertEqual(damaged.clean, first.clean)
        XCTAssertEqual(damaged.robust, first.robust)
        XCTAssertEqual(damaged.after, first.after)
    }

    /// evaluate{}, with and without attacks, computed or replayed by a resumed attempt, runs the model in
    /// evaluation mode and leaves it in the mode it found (PyTorch's convention): with dropout, two forwards
    /// differ only in training mode.
    func testEvaluateLeavesTheModelInTheModeItFound() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lua-mode-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for resuming in [false, true] {
            let lua = try LuaState(
                run: RunContext(directory: folder, recipe: "mode.lua", seed: 1, threads: 1, resuming: resuming))
            try lua.run(
                source: """
                    lucerna.manual_seed(3)
                    local x = tensor.rand{100, 2}
                    local set = {features = x, labels = (x:narrow(2, 1, 1):gt(0.5)):reshape{100}:long()}
                    local model = nn.Sequential{nn.Linear(2, 16), nn.Dropout(0.5), nn.Linear(16, 2)}
                    local function spread() return (model(x) - model(x)):abs():max():item() end
                    model:eval()
                    evaluate{model = model, data = set, name = "attacked", attacks = {fgsm = {type = "fgsm", eps = 0.1}}}
                    after_attacks_from_evaluation = spread()
                    model:train()
                    evaluate{model = model, data = set, name = "plain"}
                    after_plain_from_training = spread()
                    model:eval()
                    evaluate{model = model, data = set, name = "plain_again"}
                    after_plain_from_evaluation = spread()
                    """, name: "mode.lua")
            XCTAssertEqual(lua.number(global: "after_attacks_from_evaluation"), 0, "resuming \(resuming)")
            XCTAssertGreaterThan(
                try XCTUnwrap(lua.number(global: "after_plain_from_training")), 0, "resuming \(resuming)")
            XCTAssertEqual(lua.number(global: "after_plain_from_evaluation"), 0, "resuming \(resuming)")
            if !resuming {
                XCTAssertEqual(
                    try FileManager.default.contentsOfDirectory(atPath: "\(folder)/evaluations").count, 3,
                    "the resumed attempt replays all three")
            }
        }
    }

    /// The robust accuracy of evaluate{attacks} comes from evaluation-mode forward passes, the adversarial one
    /// included: under a zero budget it equals the clean accuracy even with dropout in the model, and robust
    /// validation during training measures the same way.
    func testAttackedEvaluationRunsTheAdversarialForwardInEvaluationMode() throws {
        let lua = try LuaState()
        try lua.run(
            source: """
                lucerna.manual_seed(4)
                local x = tensor.rand{300, 2}
                local set = {features = x, labels = (x:narrow(2, 1, 1):gt(0.5)):reshape{300}:long()}
                local model = nn.Sequential{nn.Linear(2, 32), nn.Dropout(0.5), nn.Linear(32, 2)}
                local values = evaluate{model = model, data = set, attacks = {fgsm = {type = "fgsm", eps = 0}, pgd = {type = "pgd", eps = 0, alpha = 0, steps = 2}}}
                clean, fgsm, pgd = values.clean_accuracy, values.robust_accuracy.fgsm, values.robust_accuracy.pgd
                """, name: "zero_budget.lua")
        let clean = try XCTUnwrap(lua.number(global: "clean"))
        XCTAssertLessThan(clean, 1, "an untrained model, so dropout in the attacked forward would show")
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "fgsm")), clean, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "pgd")), clean, accuracy: 1e-12)
    }

    func testTrainAndEvaluateFromLua() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lua-train-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try RunContext(directory: folder, recipe: "train.lua", seed: 2, threads: 1)
        let lua = try LuaState(run: run)
        try lua.run(
            source: """
                lucerna.manual_seed(3)
                local x = tensor.randn{600, 2}
                local y = ((x:narrow(2, 1, 1) * x:narrow(2, 2, 1)):gt(0)):reshape{600}:long()
                local set = {features = x, labels = y, groups = x:narrow(2, 1, 1):gt(0):reshape{600}:long()}
                local model = {body = nn.Sequential{nn.Linear(2, 16), nn.ReLU()}, head = nn.Linear(16, 2)}
                local steps, epochs, penalties = 0, 0, 0
                result = train{
                   model = model, forward = function(batch) return model.head(model.body(batch.features)) end,
                   data = set, epochs = 30, batch = 32, optimizer = {type = "adamw", lr = 0.03, weight_decay = 0},
                   terms = function(batch, logits) penalties = penalties + 1; return {small = logits:pow(2):mean() * 1e-3} end,
                   callbacks = {on_step_end = function(info) steps = steps + 1 end,
                                on_epoch_end = function(record) epochs = epochs + 1; return record.val_accuracy > 0.97 end},
                   verbose = false}
                steps_seen, epochs_seen, penalty_calls = steps, epochs, penalties
                local values = evaluate{model = model, forward = function(batch) return model.head(model.body(batch.features)) end,
                                        data = set, name = "all", metrics = {accuracy = "accuracy", parity = "demographic_parity_difference"}}
                evaluated = values.accuracy
                no_grad(function()
                   local predicted = model.head(model.body(x)):argmax(2) - 1
                   manual = predicted:eq(y:float()):mean():item()
                   local selected = predicted:eq(1):float()
                   local group = set.groups:float()
                   local rate1 = (selected * group):sum():item() / group:sum():item()
                   local rate0 = (selected * (1 - group)):sum():item() / (1 - group):sum():item()
                   manual_parity = math.abs(rate1 - rate0)
                end)
                parity = values.parity
                history_length = #result.history
                """, name: "train.lua")
        let epochs = try XCTUnwrap(lua.number(global: "epochs_seen"))
        XCTAssertEqual(lua.number(global: "history_length"), epochs)
        XCTAssertLessThan(epochs, 30, "the epoch callback stopped training once validation accuracy passed 0.97")
        // 480 training points (the 80 % split) in batches of 32: 15 steps per epoch, each with one penalty call.
        XCTAssertEqual(lua.number(global: "steps_seen"), epochs * 15)
        XCTAssertEqual(lua.number(global: "penalty_calls"), epochs * 15)
        XCTAssertEqual(
            try XCTUnwrap(lua.number(global: "evaluated")), try XCTUnwrap(lua.number(global: "manual")), accuracy: 1e-6)
        XCTAssertEqual(
            try XCTUnwrap(lua.number(global: "parity")), try XCTUnwrap(lua.number(global: "manual_parity")),
            accuracy: 1e-9)
        let records = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8)
        XCTAssert(records.contains("\"train_small\""), "the Lua term is logged")
        XCTAssert(records.contains("\"all_accuracy\""), "evaluate{name = ...} logs its values")
        XCTAssertNotNil(FileManager.default.contents(atPath: "\(folder)/evaluation.json"))
    }
}
