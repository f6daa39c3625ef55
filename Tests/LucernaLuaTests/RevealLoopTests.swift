import Foundation
import LucernaCore
import LucernaRun
import XCTest

@testable import LucernaLua

/// `reveal_to_revise{...}` on a planted shortcut: 8 × 8 images of three classes (a bar at row 1, 4 or 7),
/// a 2 × 2 patch on half of class 0's training images and on every poisoned test image.
final class RevealLoopTests: XCTestCase {
    func images(count: Int, patched: (Int, Int) -> Bool, seed: UInt64) throws -> (Tensor, Tensor, Tensor, Tensor) {
        let generator = RandomGenerator(seed: seed)
        var pixels: [Double] = []
        var labels: [Int] = []
        var groups: [Int] = []
        var masks: [Double] = []
        for sample in 0..<count {
            let label = sample % 3
            let marked = patched(sample, label)
            for y in 0..<8 {
                for x in 0..<8 {
                    let bar = y == 1 + 3 * label ? 0.8 : 0
                    let patch = marked && x >= 6 && y >= 6
                    pixels.append(patch ? 1 : bar + 0.2 * generator.nextUniform())
                    masks.append(patch ? 1 : 0)
                }
            }
            labels.append(label)
            groups.append(marked ? 1 : 0)
        }
        return (
            try Tensor(shape: [count, 1, 8, 8], doubles: pixels).to(.float32),
            try Tensor(shape: [count], integers: labels), try Tensor(shape: [count], integers: groups),
            try Tensor(shape: [count, 1, 8, 8], doubles: masks).to(.float32)
        )
    }

    /// A Lua state with a run folder, the data sets as globals, a global `set(name)` that returns
    /// `{images, labels, groups, artifact_masks}` of one of them and `trained_model(epochs)`, a small CNN
    /// trained on `set("train")`.
    func state(folder: String, recipe: String, sets: [(String, (Tensor, Tensor, Tensor, Tensor))]) throws -> LuaState {
        let lua = try LuaState(run: RunContext(directory: folder, recipe: recipe, seed: 1, threads: 1))
        for (name, set) in sets {
            lua.set(global: "\(name)_images", to: set.0)
            lua.set(global: "\(name)_labels", to: set.1)
            lua.set(global: "\(name)_groups", to: set.2)
            lua.set(global: "\(name)_masks", to: set.3)
        }
        try lua.run(
            source: """
                function set(name)
                   return {images = _G[name .. "_images"], labels = _G[name .. "_labels"], groups = _G[name .. "_groups"],
                           artifact_masks = _G[name .. "_masks"]}
                end
                function trained_model(epochs)
                   lucerna.manual_seed(4)
                   local model = models.cnn{image_size = 8, channels = {4, 8}, hidden = 16, classes = 3}
                   train{name = "plain", model = model, data = set("train"), validation = 0.2, epochs = epochs,
                         batch = 16, optimizer = {type = "adamw", lr = 3e-3}}
                   return model
                end
                """, name: "sets.lua")
        return lua
    }

    func testTheLoopAnnotatesLocalisesCorrectsAndReports() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lua-r2r-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let train = try images(count: 300, patched: { sample, label in label == 0 && sample % 2 == 0 }, seed: 1)
        let test = try images(count: 90, patched: { _, _ in false }, seed: 2)
        let poisoned = try images(count: 90, patched: { _, _ in true }, seed: 2)
        let lua = try state(
            folder: folder, recipe: "r2r.lua", sets: [("train", train), ("test", test), ("poisoned", poisoned)])
        try lua.run(
            source: """
                local model = trained_model(6)
                local result = reveal_to_revise{model = model, data = set("train"), test = set("test"),
                   poisoned = set("poisoned"), class = 0, annotate = "ground_truth", rounds = 2,
                   stop = {artifact_relevance = 0}, masks = {kernel = 3, sigma = 1}, examples = 4}
                rounds = #result.rounds
                first, last = result.rounds[1], result.rounds[2]
                -- a function annotates too: here, the first ten patched samples
                local calls = 0
                local custom = reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1,
                   annotate = function(context)
                      calls = calls + 1
                      local found = {}
                      for index, group in ipairs(context.groups) do
                         if group == 1 and #found < 10 then found[#found + 1] = index end
                      end
                      return found
                   end, corrector = "a_clarc", name = "custom", others = "all"}
                custom_annotated, custom_calls = custom.final.annotated, calls
                local ok
                ok, message = pcall(function() local r = reveal_to_revise{model = model, data = set("train"), class = 0, corector = "rrr"}; return r end)
                ok, message2 = pcall(reveal_to_revise, {model = model, data = set("train")})
                ok, message3 = pcall(reveal_to_revise, {model = model, data = set("train"), class = 0, corrector = "nope"})
                ok, message4 = pcall(reveal_to_revise, {model = model, data = {images = train_images}, class = 0})
                ok, message5 = pcall(reveal_to_revise, {model = model, data = set("train"), class = "zero"})
                ok, message6 = pcall(reveal_to_revise, {model = model, data = set("train"), class = 0, others = "some"})
                ok, message7 = pcall(reveal_to_revise, {model = model, data = set("train"), class = 0, annotated_clusters = 0})
                ok, message8 = pcall(reveal_to_revise, {model = model, data = set("train"), class = 0, stop = {min_cut = "5%"}})
                -- SpRAy's annotation: the clusters before the ranking's largest gap, or a given number of them
                local gap = reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1, name = "gap",
                   annotated_clusters = "gap", stop = {revert = false}, expand = false, examples = 0}
                gap_clusters, gap_precision, gap_recall = gap.final.spray_clusters, gap.final.spray_precision, gap.final.spray_recall
                local two = reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1, name = "two",
                   annotated_clusters = 2, stop = {revert = false}, expand = false, examples = 0}
                two_clusters, two_annotated, gap_annotated = two.final.spray_clusters, two.final.annotated, gap.final.annotated
                local one = reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1, name = "one",
                   annotated_clusters = 1, stop = {revert = false}, expand = false, examples = 0}
                one_clusters, one_recall = one.final.spray_clusters, one.final.spray_recall
                -- The default: the top cluster and those whose extra relevance lies on the same spot; with the
                -- least similarity at -1, every cluster (the whole class).
                local similar = reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1,
                   name = "similar", stop = {revert = false}, expand = false, examples = 0}
                similar_clusters, similar_recall = similar.final.spray_clusters, similar.final.spray_recall
                local every = reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1,
                   name = "every", similar = -1, others = "all", stop = {revert = false}, expand = false, examples = 0}
                local strict = reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1,
                   name = "strict", similar = 1, stop = {revert = false}, expand = false, examples = 0}
                strict_clusters = strict.final.spray_clusters
                every_annotated, class_size = every.final.spray_annotated, 0
                for _, label in ipairs(set("train").labels:totable()) do
                   if label == 0 then class_size = class_size + 1 end
                end
                ok, message9 = pcall(reveal_to_revise, {model = model, data = set("train"), class = 0, similar = 2})
                -- A contrast set: the CAV tells the annotated samples from the unpatched test images; the same
                -- CAV fitted by hand (a corrector that leaves the model as it is).
                local contrasted = reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1,
                   name = "contrast", annotate = "ground_truth", contrast = set("test"), stop = {revert = false},
                   examples = 0, corrector = function() end}
                local saved = lucerna.load_tensors(run.dir .. "/checkpoints/contrast-round1-cav.safetensors")
                local positions = (saved.annotated + 1):totable()
                local train = set("train")
                local marks = {}
                for index = 1, #positions + set("test").labels:numel() do marks[index] = index <= #positions and 1 or 0 end
                local by_hand = reveal.cav{model = model, layer = "relu1", method = "svm", pooling = "flat", seed = 1,
                   inputs = tensor.cat({train.images:index_select(1, tensor(positions)), set("test").images}, 1),
                   labels = tensor(marks)}
                contrast_difference = (saved.cav - by_hand.vector):abs():max():item()
                contrast_annotated = contrasted.final.annotated
                -- Against the other classes: their samples (0) and the annotated ones (1), by hand likewise.
                reveal_to_revise{model = model, data = set("train"), class = 0, rounds = 1, name = "other_classes",
                   annotate = "ground_truth", others = "other_classes", stop = {revert = false}, examples = 0,
                   corrector = function() end}
                saved = lucerna.load_tensors(run.dir .. "/checkpoints/other_classes-round1-cav.safetensors")
                local picked, labels = {}, {}
                for index, label in ipairs(train.labels:totable()) do
                   if label ~= 0 then picked[#picked + 1] = index; labels[#labels + 1] = 0 end
                end
                for _, position in ipairs((saved.annotated + 1):totable()) do
                   picked[#picked + 1] = position; labels[#labels + 1] = 1
                end
                by_hand = reveal.cav{model = model, layer = "relu1", method = "svm", pooling = "flat", seed = 1,
                   inputs = train.images:index_select(1, tensor(picked)), labels = tensor(labels)}
                other_classes_difference = (saved.cav - by_hand.vector):abs():max():item()
                ok, message10 = pcall(reveal_to_revise, {model = model, data = set("train"), class = 0,
                   contrast = {images = tensor.zeros{4, 1, 6, 6}, labels = tensor.zeros{4}}})
                """, name: "r2r.lua")
        XCTAssertEqual(lua.number(global: "rounds"), 3, "round 0 (the model as trained) and two rounds")
        XCTAssertEqual(lua.number(global: "custom_calls"), 1)
        XCTAssertEqual(lua.number(global: "custom_annotated"), 10)
        let records = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n").filter { $0.contains("\"reveal_to_revise\"") }
        XCTAssertEqual(records.count, 3 + 2 + 2 + 2 + 2 + 2 + 2 + 2 + 2 + 2, "round 0 and the rounds of each loop")
        let first = String(records[1])
        for field in [
            "\"annotated\": 50", "\"annotation_precision\": 1", "\"annotation_recall\": 1", "\"mask_iou\"",
            "\"clean_accuracy\"", "\"poisoned_accuracy\"", "\"artifact_relevance\"", "\"tcav_before\"", "\"tcav\"",
            "\"worst_group_accuracy\"",
        ] {
            XCTAssert(first.contains(field), "\(field) in \(first)")
        }
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/checkpoints")
        for name in ["r2r-round1.safetensors", "r2r-round1-cav.safetensors", "r2r-round2.safetensors"] {
            XCTAssert(checkpoints.contains(name), "\(name) in \(checkpoints)")
        }
        let images = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/images")
        for name in ["r2r_round0.png", "r2r_round1.png", "r2r_round1_spray.png", "r2r_round1_masks.png"] {
            XCTAssert(images.contains(name), "\(name) in \(images)")
        }
        XCTAssert(lua.string(global: "message")?.contains("unknown option 'corector'") ?? false)
        XCTAssert(lua.string(global: "message")?.contains("r2r.lua:") ?? false, lua.string(global: "message") ?? "")
        XCTAssert(lua.string(global: "message2")?.contains("option class is required") ?? false)
        XCTAssert(lua.string(global: "message3")?.contains("unknown corrector 'nope'") ?? false)
        XCTAssert(lua.string(global: "message4")?.contains("data must be a data set with images and labels") ?? false)
        XCTAssert(lua.string(global: "message5")?.contains("class must be a class index") ?? false)
        XCTAssert(
            lua.string(global: "message6")?.contains("others must be \"class\", \"all\" or \"other_classes\"") ?? false)
        XCTAssert(lua.string(global: "message7")?.contains("annotated_clusters must be") ?? false)
        XCTAssert(lua.string(global: "message8")?.contains("stop.min_cut must be a number from 0 to 1") ?? false)
        let gapClusters = try XCTUnwrap(lua.number(global: "gap_clusters"))
        XCTAssert((1...4).contains(gapClusters), "the gap is sought among the top half of 8 clusters: \(gapClusters)")
        XCTAssertEqual(lua.number(global: "two_clusters"), 2)
        XCTAssertEqual(lua.number(global: "one_clusters"), 1, "R2R's choice: the top-ranked cluster")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(lua.number(global: "similar_clusters")), 1)
        XCTAssertGreaterThanOrEqual(
            try XCTUnwrap(lua.number(global: "similar_recall")), try XCTUnwrap(lua.number(global: "one_recall")))
        XCTAssertEqual(lua.number(global: "every_annotated"), lua.number(global: "class_size"))
        XCTAssertEqual(lua.number(global: "strict_clusters"), 1, "at least cosine 1: the top cluster alone")
        XCTAssert(lua.string(global: "message9")?.contains("similar must be a number from -1 to 1") ?? false)
        XCTAssertEqual(lua.number(global: "contrast_annotated"), 50, "class 0's patched training images")
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "contrast_difference")), 0, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "other_classes_difference")), 0, accuracy: 1e-12)
        XCTAssert(
            lua.string(global: "message10")?.contains("contrast images are [4, 1, 6, 6], the data's [300, 1, 8, 8]")
                ?? false, lua.string(global: "message10") ?? "")
        if gapClusters == 1 {
            XCTAssertGreaterThan(
                try XCTUnwrap(lua.number(global: "two_annotated")), try XCTUnwrap(lua.number(global: "gap_annotated")))
        }
    }

    func testTheLoopRunsOnOneModalityOfAMultimodalClassifier() throws {
        // The same planted shortcut on the image of image + recording pairs (the recordings are noise): the
        // loop explains, localises and corrects the image encoder, holding each sample's own recording.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lua-r2r-modal-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let train = try images(count: 300, patched: { sample, label in label == 0 && sample % 2 == 0 }, seed: 1)
        let test = try images(count: 90, patched: { _, _ in false }, seed: 2)
        let poisoned = try images(count: 90, patched: { _, _ in true }, seed: 2)
        let lua = try state(
            folder: folder, recipe: "modal.lua", sets: [("train", train), ("test", test), ("poisoned", poisoned)])
        let generator = RandomGenerator(seed: 9)
        lua.set(global: "train_audio", to: try Tensor.normal([300, 1, 6, 8], generator: generator))
        lua.set(global: "test_audio", to: try Tensor.normal([90, 1, 6, 8], generator: generator))
        try lua.run(
            source: """
                local function pairs_set(name, audio)
                   local set = set(name)
                   set.spectrograms = audio
                   return set
                end
                local train_set = pairs_set("train", train_audio)
                local test_set, poisoned_set = pairs_set("test", test_audio), pairs_set("poisoned", test_audio)
                lucerna.manual_seed(4)
                local model = models.multimodal_classifier{
                   encoders = {image = {type = "conv_encoder", input_size = {8, 8}, channels = {4, 8}, dim = 8},
                               audio = {type = "temporal_encoder", mels = 6, channels = {4, 4}, dim = 4}},
                   fusion = "concat", classes = 3}
                local function forward(batch) return model{image = batch.images, audio = batch.spectrograms} end
                train{name = "plain", model = model, forward = forward, data = train_set, validation = 0.2, epochs = 6,
                      batch = 16, optimizer = {type = "adamw", lr = 3e-3}}
                local result = reveal_to_revise{model = model, modality = "image", layer = "encoders.image.relu1",
                   data = train_set, test = test_set, poisoned = poisoned_set, class = 0, annotate = "ground_truth",
                   rounds = 1, corrector = "rrr", stop = {revert = false}, masks = {kernel = 3, sigma = 1},
                   examples = 4, tune = {epochs = 1}}
                rounds = #result.rounds
                first = result.rounds[2]
                annotated, precision, mask_iou = first.annotated, first.annotation_precision, first.mask_iou
                relevance_before, relevance_after = result.rounds[1].artifact_relevance, first.artifact_relevance
                tcav = first.tcav
                -- SpRAy's own annotation and a ClArC correction through the same view.
                local spray = reveal_to_revise{model = model, modality = "image", layer = "encoders.image.relu1",
                   data = train_set, poisoned = poisoned_set, class = 0, rounds = 1, corrector = "p_clarc",
                   stop = {revert = false}, masks = {kernel = 3, sigma = 1}, examples = 0, name = "spray"}
                spray_annotated = spray.final.annotated
                local ok
                ok, missing = pcall(reveal_to_revise, {model = model, modality = "image", data = set("train"), class = 0})
                ok, stray = pcall(reveal_to_revise, {model = model, inputs = {image = "images"}, data = train_set, class = 0})
                """, name: "modal.lua")
        XCTAssertEqual(lua.number(global: "rounds"), 2)
        XCTAssertEqual(lua.number(global: "annotated"), 50, "class 0's patched training images")
        XCTAssertEqual(lua.number(global: "precision"), 1)
        XCTAssertGreaterThan(try XCTUnwrap(lua.number(global: "mask_iou")), 0)
        XCTAssertNotNil(lua.number(global: "relevance_before"))
        XCTAssertNotNil(lua.number(global: "relevance_after"))
        XCTAssertNotNil(lua.number(global: "tcav"))
        XCTAssertGreaterThan(try XCTUnwrap(lua.number(global: "spray_annotated")), 0)
        XCTAssert(
            lua.string(global: "missing")?.contains("data must be a data set with images, spectrograms and labels")
                ?? false, lua.string(global: "missing") ?? "")
        XCTAssert(
            lua.string(global: "stray")?.contains("inputs applies with modality") ?? false,
            lua.string(global: "stray") ?? "")
        let images = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/images")
        for name in ["r2r_round0.png", "r2r_round1_masks.png"] {
            XCTAssert(images.contains(name), "\(name) in \(images)")
        }
    }

    func testARoundThatDoesNotCutTheRelevanceIsUndone() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lua-r2r-undo-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let train = try images(count: 150, patched: { sample, label in label == 0 && sample % 2 == 0 }, seed: 1)
        let poisoned = try images(count: 30, patched: { _, _ in true }, seed: 2)
        let lua = try state(folder: folder, recipe: "undo.lua", sets: [("train", train), ("poisoned", poisoned)])
        try lua.run(
            source: """
                local model = trained_model(3)
                local trained = model:state_dict()
                -- A corrector that changes a weight a little and installs a "transform": neither cuts the
                -- artifact relevance by 5 %, so the round is undone.
                removed = "no"
                local function nudge(context)
                   local state = context.model:state_dict()
                   state["fc2.bias"] = state["fc2.bias"] + 1e-4
                   context.model:load_state_dict(state)
                   return {remove = function() removed = "yes" end}
                end
                local result = reveal_to_revise{model = model, data = set("train"), poisoned = set("poisoned"), class = 0,
                   annotate = "ground_truth", rounds = 3, corrector = nudge, masks = {kernel = 3, sigma = 1}, examples = 0}
                rounds, reverted, final_round = #result.rounds, tostring(result.rounds[2].reverted), result.final.round
                changed = (model:state_dict()["fc2.bias"] - trained["fc2.bias"]):abs():max():item()
                snapshot_kept = (trained["fc2.bias"] - model:named_parameters()["fc2.bias"]):abs():max():item()
                -- revert = false keeps the round
                local kept = reveal_to_revise{model = model, data = set("train"), poisoned = set("poisoned"), class = 0,
                   annotate = "ground_truth", rounds = 1, corrector = nudge, masks = {kernel = 3, sigma = 1},
                   examples = 0, stop = {revert = false}, name = "kept"}
                kept_reverted, kept_round = tostring(kept.rounds[2].reverted), kept.final.round
                kept_changed = (model:state_dict()["fc2.bias"] - trained["fc2.bias"]):abs():max():item()
                local ok
                ok, message = pcall(model.load_state_dict, model, {["fc2.bias"] = trained["fc2.bias"]})
                ok, message_entry = pcall(model.load_state_dict, model, {["fc2.bias"] = 3})
                """, name: "undo.lua")
        XCTAssertEqual(lua.number(global: "rounds"), 2, "round 0 and the undone round 1")
        XCTAssertEqual(lua.string(global: "reverted"), "true")
        XCTAssertEqual(lua.number(global: "final_round"), 0, "the final record is the model before the undone round")
        XCTAssertEqual(lua.string(global: "removed"), "yes", "the corrector's transform was removed")
        XCTAssertEqual(lua.number(global: "changed"), 0, "the weights are back to the trained ones")
        XCTAssertEqual(lua.number(global: "snapshot_kept"), 0)
        XCTAssertEqual(lua.string(global: "kept_reverted"), "nil")
        XCTAssertEqual(lua.number(global: "kept_round"), 1)
        XCTAssertEqual(lua.number(global: "kept_changed") ?? 0, 1e-4, accuracy: 1e-6)
        XCTAssert(lua.string(global: "message")?.contains("missing keys") ?? false, lua.string(global: "message") ?? "")
        XCTAssert(
            lua.string(global: "message_entry")?.contains("state fc2.bias must be a tensor, got number") ?? false,
            lua.string(global: "message_entry") ?? "")
        let records = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n").filter { $0.contains("\"reveal_to_revise\"") }
        XCTAssertEqual(records.count, 2 + 2)
        XCTAssert(records[1].contains("\"reverted\": true"), String(records[1]))
        XCTAssertFalse(records[3].contains("reverted"), String(records[3]))
    }
}
