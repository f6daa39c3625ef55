import Foundation
import LucernaCore
import LucernaLua
import LucernaRun
import XCTest

/// Data sets, splits and loaders from Lua (real data: skipped without LUCERNA_DATA, except Fashion-MNIST).
final class DataRecipeTests: XCTestCase {
    func dataState() throws -> LuaState {
        let root = ProcessInfo.processInfo.environment["LUCERNA_DATA"]
        try XCTSkipIf(root == nil, "LUCERNA_DATA is not set")
        return try LuaState(dataDirectory: root)
    }

    func testSplitIsStratifiedSeededAndRecorded() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("split-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let lua = try LuaState(run: RunContext(directory: folder, recipe: "split.lua", seed: 0, threads: 1))
        try lua.run(
            source: """
                local set = data.fashion_mnist{split = "test"}
                local train, test, validation = data.split{set, test = 0.2, validation = 0.1, seed = 3}
                sizes = train.labels:numel() * 1e8 + test.labels:numel() * 1e4 + validation.labels:numel()
                local again = select(2, data.split{set, test = 0.2, validation = 0.1, seed = 3})
                same = (again.indices:float() - test.indices:float()):abs():sum():item()
                worst = 0
                for class = 0, 9 do
                   local held = test.labels:float():eq(class):sum():item()
                   worst = math.max(worst, math.abs(held - 200))
                end
                """, name: "split.lua")
        XCTAssertEqual(lua.number(global: "sizes"), 7200 * 1e8 + 2000 * 1e4 + 800)
        XCTAssertEqual(lua.number(global: "same"), 0, "the same seed gives the same split")
        XCTAssertLessThanOrEqual(lua.number(global: "worst") ?? 9, 1, "within one sample of 20 % per class")
        let records = try String(contentsOfFile: "\(folder)/splits.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(records.count, 6)
        XCTAssert(records[0].contains("\"digest\"") && records[0].contains("\"split\": \"train\""), "\(records[0])")
    }

    func testLoaderBatchesEverySampleOnceInASeededOrder() throws {
        let lua = try LuaState()
        try lua.run(
            source: """
                local set = {x = tensor.arange(10):reshape{10, 1}, y = tensor.arange(10)}
                local function collect(options)
                   local seen, batches = {}, 0
                   for batch in data.loader(options) do
                      batches = batches + 1
                      for _, v in ipairs(batch.y:totable()) do seen[#seen + 1] = math.tointeger(v) end
                   end
                   return seen, batches
                end
                local a, count = collect{set, batch = 4, shuffle = true, seed = 1}
                local b = collect{set, batch = 4, shuffle = true, seed = 1}
                local _, dropped = collect{set, batch = 4, drop_last = true}
                local ordered = collect{set, batch = 3}
                table.sort(a)
                batches, kept_all, dropped_batches = count, #a == 10 and a[1] == 0 and a[10] == 9, dropped
                repeatable = table.concat(b, ",") == table.concat(collect{set, batch = 4, shuffle = true, seed = 1}, ",")
                in_order = table.concat(ordered, ",") == "0,1,2,3,4,5,6,7,8,9"
                flags = (kept_all and 1 or 0) + (repeatable and 10 or 0) + (in_order and 100 or 0)
                """, name: "loader.lua")
        XCTAssertEqual(lua.number(global: "batches"), 3)
        XCTAssertEqual(lua.number(global: "dropped_batches"), 2)
        XCTAssertEqual(lua.number(global: "flags"), 111)
        XCTAssertThrowsError(try lua.run(source: "data.loader{{x = tensor.ones{2}}, bach = 2}", name: "bad.lua")) {
            error in
            XCTAssert("\(error)".contains("unknown option 'bach'"), "\(error)")
        }
    }

    func testAudioMultimodalAndTextSetsFromLua() throws {
        let lua = try dataState()
        try lua.run(
            source: """
                local audio = data.spoken_digits{split = "test"}
                audio_shape = table.concat(audio.spectrograms:shape(), "x")
                local theo = data.spoken_digits{split = "test", test_speaker = "theo"}
                theo_only = theo.speakers:float():eq(4):sum():item() == theo.labels:numel() and 1 or 0
                local pairs = data.multimodal_mnist{split = "train", limit = 500, seed = 7}
                local audio_all = data.spoken_digits{split = "all"}
                local paired_labels = audio_all.labels:index_select(1, pairs.audio_ids:float() + 1)
                mismatched = (paired_labels:float() - pairs.labels:float()):abs():sum():item()
                local again = data.multimodal_mnist{split = "train", limit = 500, seed = 7}
                pairing_repeats = (again.audio_ids:float() - pairs.audio_ids:float()):abs():sum():item()
                local noisy = data.multimodal_mnist{split = "train", limit = 50, seed = 7, image_noise = 0.2, occlusion = 10}
                changed = (noisy.images - pairs.images:narrow(1, 1, 50)):abs():sum():item()
                local text = data.toxic_text{split = "train"}
                local held = data.toxic_text{split = "test"}
                text_sizes = text.labels:numel() + held.labels:numel()
                vocabulary = text.vocabulary_size
                local madlibs = data.identity_madlibs{}
                madlib_groups = madlibs.groups:float():ge(0):sum():item()
                token_width = madlibs.tokens:shape()[2]
                """, name: "datasets.lua")
        XCTAssertEqual(lua.number(global: "theo_only"), 1)
        XCTAssertEqual(lua.number(global: "mismatched"), 0, "every image is paired with a recording of its digit")
        XCTAssertEqual(lua.number(global: "pairing_repeats"), 0, "the pairing is seeded")
        XCTAssertGreaterThan(lua.number(global: "changed") ?? 0, 0)
        XCTAssertEqual(lua.number(global: "text_sizes"), 24783)
        XCTAssertGreaterThan(lua.number(global: "vocabulary") ?? 0, 1000)
        XCTAssertEqual(lua.number(global: "madlib_groups"), 75700)
        XCTAssertEqual(lua.number(global: "token_width"), 32)
    }

    /// Spurious features: the share of the target class carrying the feature follows `correlation` in
    /// training, is independent (or reversed) in test, and artifact masks mark exactly the patch.
    func testBiasInjectionControlsTheCorrelation() throws {
        let lua = try LuaState()
        try lua.run(
            source: """
                local function shares(set, target)
                   local g, y = set.groups:float(), set.labels:float()
                   local in_target = y:eq(target)
                   return (g * in_target):sum():item() / in_target:sum():item(), g:mean():item()
                end
                local bias = {kind = "artifact", correlation = 0.9, fraction = 0.5, target = 3, size = 4, seed = 2}
                local train = data.fashion_mnist{split = "train", limit = 20000, bias = bias}
                train_target, train_overall = shares(train, 3)
                local test = data.fashion_mnist{split = "test", bias = bias}
                test_target, test_overall = shares(test, 3)
                local reversed = data.fashion_mnist{split = "test", bias = lucerna.merge(bias, {test = "reversed"})}
                reversed_target = shares(reversed, 3)
                -- The patch: 16 pixels of value 1 in every artifact sample, none elsewhere.
                local per_sample = train.artifact_masks:sum(4):sum(3):sum(2)
                mask_error = (per_sample - train.groups:float() * 16):abs():sum():item()
                patch_values = (train.images * train.artifact_masks):sum():item() / train.artifact_masks:sum():item()
                local colored = data.fashion_mnist{split = "test", limit = 100, bias = {kind = "color", correlation = 0.8}}
                color_shape = table.concat(colored.images:shape(), "x")
                local red = colored.images:narrow(2, 1, 1):sum(4):sum(3):sum(2):gt(0):float()
                color_error = (red - colored.groups:float()):abs():sum():item()
                """, name: "bias.lua")
        XCTAssertEqual(lua.number(global: "train_target") ?? 0, 0.9, accuracy: 0.03)
        XCTAssertEqual(lua.number(global: "train_overall") ?? 0, 0.5, accuracy: 0.03)
        XCTAssertEqual(lua.number(global: "test_target") ?? 0, 0.5, accuracy: 0.06)
        XCTAssertEqual(lua.number(global: "test_overall") ?? 0, 0.5, accuracy: 0.03)
        XCTAssertEqual(lua.number(global: "reversed_target") ?? 0, 0.1, accuracy: 0.04)
        XCTAssertEqual(lua.number(global: "mask_error"), 0)
        XCTAssertEqual(lua.number(global: "patch_values"), 1)
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "color_error")), 0, "red ink exactly in group 1")
        try lua.run(source: "ok = color_shape == '100x3x28x28' and 1 or 0", name: "shape.lua")
        XCTAssertEqual(lua.number(global: "ok"), 1)
        XCTAssertThrowsError(
            try lua.run(source: "data.mnist{bias = {kind = 'artifact', corelation = 0.9}}", name: "bad.lua")
        ) { error in
            XCTAssert("\(error)".contains("bias: unknown field 'corelation'; did you mean 'correlation'?"), "\(error)")
        }
    }
}
