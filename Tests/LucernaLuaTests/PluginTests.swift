import Foundation
import LucernaComponents
import LucernaCore
import LucernaLua
import LucernaNN
import LucernaRun
import LucernaTestSupport
import XCTest

/// The shipped Lua plugins: the registry sweep over every component (Swift and Lua), golden values for
/// each plugin, training through plugins, and readable plugin errors.
final class PluginTests: XCTestCase {
    static let plugins = Fixture.repositoryRoot.appendingPathComponent("Plugins").path

    func pluginState() throws -> LuaState {
        let lua = try LuaState()
        try lua.loadPlugins(from: [Self.plugins])
        return lua
    }

    /// The registry sweep: every registered component, built-in or plugin, passes the conformance checks.
    func testEveryComponentPassesTheConformanceChecks() throws {
        let lua = try pluginState()
        let plugins = lua.registry.allEntries.filter { $0.origin != "built-in" }
        XCTAssertGreaterThanOrEqual(plugins.count, 11)
        for kind in ComponentKind.allCases where kind != .composite {  // composites are built in recipes (layer_map)
            XCTAssert(plugins.contains { $0.kind == kind }, "no shipped \(kind) plugin")
        }
        for entry in lua.registry.allEntries where entry.kind != .dataset || entry.origin != "built-in" {
            XCTAssertNoThrow(try lua.checkConformance(entry), "\(entry.kind.name) \(entry.name)")
        }
    }

    func testFarthestFirstPicksTheFarthestPointsAsCentres() throws {
        let lua = try pluginState()
        // Centres 0 (the first point), 20 (farthest from it), then 10 (farthest from both).
        try lua.run(
            source: """
                points = lucerna.tensor{{0}, {1}, {10}, {11}, {20}}
                labels = clusterings.farthest_first{clusters = 3}:fit(points)
                kmeans = clusterings.kmeans{clusters = 2}:fit(points)
                """, name: "farthest.lua")
        XCTAssertEqual(lua.tensor(global: "labels")?.toIntegers(), [0, 0, 2, 2, 1])
        XCTAssertEqual(Set(try XCTUnwrap(lua.tensor(global: "kmeans")).toIntegers()).count, 2)
    }

    /// Loads golden tensors into Lua globals and returns a state with the plugins.
    func goldenState() throws -> (LuaState, Fixture) {
        let lua = try pluginState()
        let fixture = try Fixture("components.safetensors")
        for (name, tensor) in fixture.tensors {
            lua.set(global: name.replacingOccurrences(of: ".", with: "_"), to: tensor)
        }
        return (lua, fixture)
    }

    func testGatedFusionMatchesPyTorch() throws {
        let (lua, fixture) = try goldenState()
        var state: [String: Tensor] = [:]
        for (key, tensor) in fixture.tensors where key.hasPrefix("fusion.gated.") {
            state[String(key.dropFirst(13))] = tensor
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gated-\(getpid()).safetensors").path
        try Safetensors.write(state.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, to: path)
        try lua.run(
            source: """
                local fusion = fusions.gated{input_dims = {3, 5}, dim = 6}
                fusion:load("\(path)", {convert = true})
                fused = fusion{fusion_x1:float(), fusion_x2:float()}
                """, name: "gated.lua")
        assertClose(lua.tensor(global: "fused"), try fixture["fusion.gated"], tolerance: 1e-5, "gated fusion")
    }

    func testRegularizerPluginsMatchPyTorch() throws {
        let (lua, fixture) = try goldenState()
        for name in ["l1", "orthogonality"] {
            try lua.run(
                source: """
                    local weight, bias = reg_weight:clone():requires_grad(), reg_bias:clone():requires_grad()
                    local penalty = regularizers.\(name){weight = 0.01}:penalty{parameters = {weight = weight, bias = bias}}
                    penalty:backward()
                    value, weight_grad = penalty:reshape{1}, weight:grad()
                    bias_untouched = bias:grad() == nil and 1 or 0
                    """, name: "\(name).lua")
            assertClose(lua.tensor(global: "value"), try fixture["reg.\(name)"], tolerance: 1e-12, name)
            assertClose(
                lua.tensor(global: "weight_grad"), try fixture["reg.\(name).weight_grad"], tolerance: 1e-12,
                "\(name) gradient")
            XCTAssertEqual(lua.number(global: "bias_untouched"), 1, "\(name) skips biases")
        }
    }

    func testBalancedAccuracyMatchesScikitLearn() throws {
        let (lua, fixture) = try goldenState()
        try lua.run(
            source: """
                local metric = metrics.balanced_accuracy{}
                metric:update(metric_scores:narrow(1, 1, 17), metric_targets:narrow(1, 1, 17))
                metric:update(metric_scores:narrow(1, 18, 23), metric_targets:narrow(1, 18, 23))
                value = metric:compute()
                """, name: "balanced.lua")
        XCTAssertEqual(
            lua.number(global: "value") ?? -1, try fixture["metric.balanced_accuracy"].item(), accuracy: 1e-12)
    }

    func testFocalLossMatchesItsDefinition() throws {
        let (lua, fixture) = try goldenState()
        try lua.run(
            source: """
                local logits = focal_logits:clone():requires_grad()
                local loss = losses.focal{gamma = 2, alpha = 0.5}(logits, focal_labels)
                loss:backward()
                value, gradient = loss:reshape{1}, logits:grad()
                """, name: "focal.lua")
        assertClose(lua.tensor(global: "value"), try fixture["focal.loss"], tolerance: 1e-12, "focal loss")
        assertClose(lua.tensor(global: "gradient"), try fixture["focal.grad"], tolerance: 1e-12, "focal gradient")
    }

    func testGaussianNoiseFollowsItsDefinitionAndTrainAppliesAugmentations() throws {
        let lua = try pluginState()
        try lua.run(
            source: """
                local images = tensor.zeros{400, 2, 5, 5} + 0.5
                lucerna.manual_seed(4)
                local noise = augmentations.gaussian_noise{sigma = 0.1}
                local noisy = noise:augment(images)
                local difference = noisy - images
                mean, std = difference:mean():item(), difference:square():mean():sqrt():item()
                lucerna.manual_seed(4)
                same = (noise:augment(images) - noisy):abs():max():item()
                clipped = augmentations.gaussian_noise{sigma = 1}:augment(images):min():item()
                -- train{} with a crop, a flip by name and the plugin by spec, on 6x6 two-class images.
                lucerna.manual_seed(1)
                local labels = tensor.rand{64}:gt(0.5):long()
                local set = {images = tensor.rand{64, 1, 6, 6}, labels = labels}
                result = train{model = nn.Sequential{nn.Flatten(), nn.Linear(36, 2)}, data = set, validation = 0.25,
                               epochs = 2, batch = 16, verbose = false,
                               augment = {augmentations.random_crop{padding = 1}, "horizontal_flip",
                                          {type = "gaussian_noise", sigma = 0.05}}}
                epochs = result.epochs_run
                -- Keyed by tensor name (the modalities of a multimodal batch).
                keyed = train{model = nn.Sequential{nn.Flatten(), nn.Linear(36, 2)}, data = set, validation = 0.25, epochs = 1,
                              verbose = false, name = "keyed", augment = {images = {"horizontal_flip", {type = "random_crop", padding = 1}}}}
                ok, absent = pcall(train, {model = nn.Sequential{nn.Flatten(), nn.Linear(36, 2)}, data = set, epochs = 1, verbose = false,
                                           name = "absent", augment = {sound = "horizontal_flip"}})
                ok, unknown = pcall(train, {model = nn.Linear(36, 2), data = set, epochs = 1, augment = {"horizontal_flip", "no_such"}})
                ok, flat = pcall(train, {model = nn.Linear(2, 2), data = {features = tensor.rand{8, 2}, labels = labels:narrow(1, 1, 8)},
                                         epochs = 1, validation = 0, augment = "horizontal_flip"})
                """, name: "augment.lua")
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "mean")), 0, accuracy: 0.01)
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "std")), 0.1, accuracy: 0.005)
        XCTAssertEqual(lua.number(global: "same"), 0, "the same seed draws the same noise")
        XCTAssertEqual(lua.number(global: "clipped"), 0, "clip keeps pixels in [0, 1]")
        XCTAssertEqual(lua.number(global: "epochs"), 2)
        let absent = try XCTUnwrap(lua.string(global: "absent"))
        XCTAssertTrue(
            absent.contains("augment needs 'sound', which the training data lacks; it has images, labels"), absent)
        let unknown = try XCTUnwrap(lua.string(global: "unknown"))
        XCTAssertTrue(
            unknown.contains("unknown augmentation 'no_such'; known: gaussian_noise, horizontal_flip"), unknown)
        let flat = try XCTUnwrap(lua.string(global: "flat"))
        XCTAssertTrue(flat.contains("augmentations.horizontal_flip: needs images [N, ..., H, W], got [8, 2]"), flat)
    }

    func testAttacksMatchTorchattacksAndGradientTimesInputMatchesCaptum() throws {
        let (lua, fixture) = try goldenState()
        try lua.run(
            source: """
                local model = nn.Sequential{nn.Flatten(), nn.Linear(16, 3)}
                lucerna.save_tensors("\(NSTemporaryDirectory())classifier-\(getpid()).safetensors",
                                     {["1.weight"] = classifier_1_weight, ["1.bias"] = classifier_1_bias})
                model:load("\(NSTemporaryDirectory())classifier-\(getpid()).safetensors", {convert = true})
                adversarial = attacks.fgsm{eps = 0.1}:perturb(model, attack_images:float(), attack_labels)
                attributions = explainers.gradient_x_input{}:attribute(model, attack_images:float(), attack_labels)
                -- The L2 plugin: one step of length eps (before clamping) along the loss gradient.
                local x = attack_images:float()
                local stepped = attacks.fgm_l2{eps = 0.5, clamp_min = -100, clamp_max = 100}:perturb(model, x, attack_labels)
                local lengths = (stepped - x):reshape{x:shape()[1], -1}:square():sum(2):sqrt()
                l2_error = (lengths - 0.5):abs():max():item()
                local xg = x:requires_grad()
                local g = grad(losses.cross_entropy(model(xg), attack_labels), xg)
                local cosine = ((stepped - x) * g):reshape{x:shape()[1], -1}:sum(2) / (lengths * g:reshape{x:shape()[1], -1}:square():sum(2):sqrt())
                direction_error = (cosine - 1):abs():max():item()
                """, name: "attack.lua")
        XCTAssertLessThan(try XCTUnwrap(lua.number(global: "l2_error")), 1e-5)
        XCTAssertLessThan(try XCTUnwrap(lua.number(global: "direction_error")), 1e-5)
        assertClose(lua.tensor(global: "adversarial"), try fixture["attack.fgsm"], tolerance: 1e-6, "FGSM")
        assertClose(
            lua.tensor(global: "attributions"), try fixture["explainer.gradient_x_input"], tolerance: 1e-5,
            "gradient × input")
    }

    /// `attack:perturb(model, {image = x, audio = a}, y[, modalities])` on a multimodal classifier: one
    /// modality (the other held) or several; Swift and plugin attacks alike.
    func testAttacksOnOneModalityOrAllFromLua() throws {
        let lua = try pluginState()
        try lua.run(
            source: """
                lucerna.manual_seed(3)
                local model = models.multimodal_classifier{classes = 3, encoders = {
                   image = {type = "conv_encoder", input_size = {8, 8}, channels = {3, 4}, dim = 6},
                   audio = {type = "temporal_encoder", mels = 6, channels = {4, 4}, dim = 5}}}
                local x = {image = tensor.rand{4, 1, 8, 8}, audio = tensor.rand{4, 1, 6, 8}}
                local y = (model(x):argmax(2) - 1):long()
                local image_only = attacks.fgsm{eps = 0.1}:perturb(model, x, y, "image")
                image_change = (image_only.image - x.image):abs():max():item()
                audio_kept = (image_only.audio - x.audio):abs():max():item()
                local both = attacks.pgd{eps = 0.1, alpha = 0.05, steps = 3}:perturb(model, x, y)
                both_changes = (both.image - x.image):abs():max():item() + (both.audio - x.audio):abs():max():item()
                local plugin = attacks.fgm_l2{eps = 0.5}:perturb(model, x, y, {"audio"})
                plugin_image_kept = (plugin.image - x.image):abs():max():item()
                plugin_audio_change = (plugin.audio - x.audio):abs():max():item()
                local ok
                ok, message = pcall(function() return attacks.fgsm{eps = 0.1}:perturb(model, x, y, "video") end)
                failed = ok and 0 or 1
                -- Budgets per modality: the image within 0.05 of [0, 1], unbounded audio features within 2.
                local wide = {image = x.image, audio = x.audio * 20 - 10}
                local budgeted = attacks.fgsm{eps = 0.1}:perturb(model, wide, y, {image = {eps = 0.05}, audio = {eps = 2, clamp_min = -math.huge, clamp_max = math.huge}})
                budget_image_change = (budgeted.image - wide.image):abs():max():item()
                budget_audio_change = (budgeted.audio - wide.audio):abs():max():item()
                ok, range_message = pcall(function() return attacks.fgsm{eps = 0.1}:perturb(model, wide, y) end)
                ok, option_message = pcall(function() return attacks.fgsm{eps = 0.1}:perturb(model, wide, y, {audio = {epsilon = 2}}) end)
                """, name: "multimodal_attack.lua")
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "image_change")), 0.1, accuracy: 1e-6)
        XCTAssertEqual(lua.number(global: "audio_kept"), 0)
        XCTAssertGreaterThan(try XCTUnwrap(lua.number(global: "both_changes")), 0.15)
        XCTAssertEqual(lua.number(global: "plugin_image_kept"), 0)
        XCTAssertGreaterThan(try XCTUnwrap(lua.number(global: "plugin_audio_change")), 0)
        XCTAssertEqual(lua.number(global: "failed"), 1)
        XCTAssert(
            lua.string(global: "message")?.contains("no input for modality 'video'") == true,
            lua.string(global: "message") ?? "")
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "budget_image_change")), 0.05, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(lua.number(global: "budget_audio_change")), 2, accuracy: 1e-5)
        XCTAssert(
            lua.string(global: "range_message")?.contains("modality 'audio' spans") == true,
            lua.string(global: "range_message") ?? "")
        XCTAssert(
            lua.string(global: "option_message")?.contains("epsilon") == true,
            lua.string(global: "option_message") ?? "")
    }

    /// The LRP rule plugin epsilon_rms on every weighted layer, through a float32 model built in Lua, against
    /// Zennit's Epsilon(Stabilizer(0.25, norm_scale=True)) in float64: per-image normalised maps within 1e-4.
    func testLRPRulePluginMatchesZennit() throws {
        let lua = try pluginState()
        let fixture = try Fixture("lrp.safetensors")
        for (name, tensor) in fixture.tensors {
            lua.set(global: name.replacingOccurrences(of: ".", with: "_"), to: tensor)
        }
        let path = "\(NSTemporaryDirectory())lrp-\(getpid()).safetensors"
        try lua.run(
            source: """
                local model = nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1}), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                            nn.Conv2d(4, 8, 3, {padding = 1}), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                                            nn.Linear(128, 16), nn.ReLU(), nn.Linear(16, 5)}
                local state = {}
                for _, name in ipairs{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                      "4.weight", "4.bias", "8.weight", "8.bias", "10.weight", "10.bias"} do
                   state[name] = _G["model_" .. name:gsub("%.", "_")]:float()
                end
                state["1.num_batches_tracked"] = model_1_num_batches_tracked
                lucerna.save_tensors("\(path)", state)
                model:load("\(path)")
                model:eval()
                local composite = composites.layer_map{dense = rules.epsilon_rms{}}
                local assigned = composite:rules(model)
                assigned_summary = table.concat({assigned["0"], assigned["1"], assigned["2"], assigned["6"], assigned["8"], assigned["10"],
                                                 tostring(assigned["3"])}, ",")
                relevance = explainers.lrp{composite = composite}:explain(model, inputs:float(), targets)
                """, name: "lrp_plugin.lua")
        // The plugin rule goes on the three weighted layers; activations pass, average pooling normalises.
        XCTAssertEqual(lua.string(global: "assigned_summary"), "epsilon_rms,pass,pass,norm,epsilon_rms,epsilon_rms,nil")
        let relevance = try XCTUnwrap(lua.tensor(global: "relevance")).toDoubles()
        let expected = try fixture["rule.epsilon_rms"].toDoubles()
        XCTAssertEqual(relevance.count, expected.count)
        let size = 256
        for image in 0..<6 {
            func normalized(_ values: ArraySlice<Double>) -> [Double] {
                let (low, high) = (values.min() ?? 0, values.max() ?? 0)
                return values.map { ($0 - low) / (high - low) }
            }
            let range = image * size..<(image + 1) * size
            let worst = zip(normalized(relevance[range]), normalized(expected[range])).map { abs($0 - $1) }.max() ?? 1
            XCTAssertLessThan(worst, 1e-4, "image \(image)")
        }
    }

    /// modality_attention: each sample's modality weights are the softmax of v · tanh(W_i x_i + b_i) (checked in
    /// Lua against the definition from its parameters); with v = 0 it is the mean of the projections; a missing
    /// modality (false) becomes zeros.
    func testModalityAttentionFusionFollowsItsDefinition() throws {
        let lua = try pluginState()
        try lua.run(
            source: """
                lucerna.manual_seed(4)
                local fusion = fusions.modality_attention{input_dims = {3, 2}, dim = 4}
                local x1, x2 = tensor.randn{5, 3}, tensor.randn{5, 2}
                local p = fusion:named_parameters()
                local h1 = x1:matmul(p["project1.weight"]:t()) + p["project1.bias"]
                local h2 = x2:matmul(p["project2.weight"]:t()) + p["project2.bias"]
                local s1, s2 = h1:tanh():matmul(p.score), h2:tanh():matmul(p.score)
                local b1 = s1:exp() / (s1:exp() + s2:exp())
                fused_error = (fusion{x1, x2} - (h1 * b1 + h2 * (1 - b1))):abs():max():item()
                missing_error = (fusion{x1, false} - fusion{x1, tensor.zeros{5, 2}}):abs():max():item()
                local state = fusion:named_parameters()
                state.score = tensor.zeros{4, 1}
                lucerna.save_tensors("\(NSTemporaryDirectory())attention-\(getpid()).safetensors", state)
                fusion:load("\(NSTemporaryDirectory())attention-\(getpid()).safetensors")
                mean_error = (fusion{x1, x2} - (h1 + h2) / 2):abs():max():item()
                """, name: "modality_attention.lua")
        for name in ["fused_error", "missing_error", "mean_error"] {
            XCTAssertLessThan(try XCTUnwrap(lua.number(global: name)), 1e-6, name)
        }
    }

    func testLionMatchesItsReferenceImplementation() throws {
        let (lua, fixture) = try goldenState()
        try lua.run(
            source: """
                local weight = lion_weight0:clone():requires_grad()
                local opt = optim.lion{params = {weight}, lr = 0.01, betas = {0.9, 0.99}, weight_decay = 0.1}
                steps = {}
                for step = 1, 5 do
                   opt:zero_grad()
                   losses.mse(lion_x:matmul(weight:t()), lion_y):backward()
                   opt:step()
                   steps[step] = weight:clone()
                end
                """, name: "lion.lua")
        try lua.run(source: "for i = 1, 5 do _G['step' .. i] = steps[i] end", name: "unpack.lua")
        for step in 1...5 {
            assertClose(
                lua.tensor(global: "step\(step)"), try fixture["lion.weight\(step)"], tolerance: 1e-12,
                "Lion step \(step)")
        }
    }

    /// A Lua optimizer's per-parameter state (Lion's moment) is saved with the optimizer state and restored
    /// into a fresh instance, which then continues exactly as the original.
    func testLuaOptimizerStateRoundTripsThroughACheckpoint() throws {
        let lua = try pluginState()
        func makeLion(_ weight: Tensor) throws -> Optimizer {
            try lua.registry.build(
                .optimizer, "lion",
                options: [
                    "params": .list([.tensor(weight)]), "lr": .number(0.01),
                    "weight_decay": .number(0.1),
                ])
        }
        // Large gradients, then small ones of the other sign: the restored moment decides the update's sign.
        let gradients = try (0..<5).map { step in
            try Tensor(shape: [2, 2], doubles: step < 3 ? [10, -10, 10, 10] : [-0.5, 0.5, -0.5, 1])
        }
        let weight = try Tensor(shape: [2, 2], doubles: [0.1, 0.2, -0.3, 0.4])
        let original = try makeLion(weight)
        for step in 0..<3 {
            weight.grad = gradients[step]
            try original.step()
        }
        let saved = try original.stateTensors()
        XCTAssert(saved.contains { $0.name == "0.lua.moment" }, "\(saved.map(\.name))")
        let copy = weight.copy()
        let restored = try makeLion(copy)
        try restored.loadStateTensors(saved)
        for step in 3..<5 {
            weight.grad = gradients[step]
            try original.step()
            copy.grad = gradients[step]
            try restored.step()
        }
        XCTAssertEqual(copy.toDoubles(), weight.toDoubles())
        // Without the restored moment the same two steps go elsewhere.
        let baseline = try Tensor(shape: [2, 2], doubles: [0.1, 0.2, -0.3, 0.4])
        let plain = try makeLion(baseline)
        for step in 0..<3 {
            baseline.grad = gradients[step]
            try plain.step()
        }
        let restart = try makeLion(baseline)
        for step in 3..<5 {
            baseline.grad = gradients[step]
            try restart.step()
        }
        XCTAssertNotEqual(baseline.toDoubles(), weight.toDoubles())
        XCTAssertEqual(
            restored.stateTensor("moment", of: copy)?.toDoubles(), nil,
            "Lua state lives in Lua, not in the Swift buffers")
    }

    func testPolynomialScheduleMatchesPyTorch() throws {
        let (lua, fixture) = try goldenState()
        try lua.run(
            source: """
                local opt = optim.sgd{params = {tensor.zeros{1}:requires_grad()}, lr = 0.1}
                local schedule = schedules.polynomial{optimizer = opt, total_iters = 4, power = 2}
                local rates = {}
                for i = 1, 7 do
                   rates[i] = schedule:lr()
                   schedule:step()
                end
                observed = tensor(rates):double()
                """, name: "polynomial.lua")
        assertClose(
            lua.tensor(global: "observed"), try fixture["polynomial.rates"], tolerance: 1e-7, "polynomial rates")
    }

    func testBlobsAndSoftmaxRegressionPlugins() throws {
        let lua = try pluginState()
        try lua.run(
            source: """
                lucerna.manual_seed(5)
                local set = data.blobs{samples = 90, features = 3, centers = 3}
                count, features = set.inputs:shape()[1], set.inputs:shape()[2]
                ones = set.labels:float():eq(1):sum():item()
                local model = models.softmax_regression{in_features = 3, classes = 3}
                local linear = model:named_parameters()
                expected = set.inputs:matmul(linear["linear.weight"]:t()) + linear["linear.bias"]
                actual = model(set.inputs)
                """, name: "blobs.lua")
        XCTAssertEqual(lua.number(global: "count"), 90)
        XCTAssertEqual(lua.number(global: "features"), 3)
        XCTAssertEqual(lua.number(global: "ones"), 30, "balanced classes")
        assertClose(
            lua.tensor(global: "actual"), try XCTUnwrap(lua.tensor(global: "expected")), tolerance: 1e-6,
            "softmax regression")
    }

    /// A Lua regularizer sees what a Swift one sees in `train{}`: every batch tensor (masks too),
    /// environments, modalities, differentiable inputs it asked for, captured layers and the model; and its
    /// `requirements` are checked against the data before the first step.
    func testLuaRegularizersGetTheWholeContextAndDeclareWhatTheyNeed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plugin-context-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try RunContext(directory: folder, recipe: "context.lua", seed: 1, threads: 1)
        let lua = try LuaState(run: run)
        try lua.loadPlugins(from: [Self.plugins])
        try lua.run(
            source: """
                lucerna.register{
                   kind = "regularizer", name = "masked_saliency", description = "input-gradient mass in a mask",
                   reference = "Ross et al. 2017", defaults = {mask = "artifact_masks"},
                   requirements = function(self)
                      return {fields = {self.options.mask, "environments"}, input_gradients = true, layers = {"0"}}
                   end,
                   penalty = function(self, ctx)
                      seen = {}
                      for _, key in ipairs{"inputs", "logits", "targets", "groups", "environments", "model"} do
                         if ctx[key] ~= nil then seen[#seen + 1] = key end
                      end
                      for key in pairs(ctx.modalities) do seen[#seen + 1] = "modality:" .. key end
                      for key in pairs(ctx.activations) do seen[#seen + 1] = "activation:" .. key end
                      table.sort(seen)
                      seen = table.concat(seen, ",")
                      steps = ctx.step
                      local gradient = grad(ctx.logits:log_softmax(2):sum(), ctx.inputs, {create_graph = true})
                      return (gradient * ctx.batch[self.options.mask]):square():sum()
                   end,
                }
                local set = data.blobs{samples = 64, features = 4, centers = 2}
                local environments = {}
                for i = 1, 64 do environments[i] = i % 2 end
                set.environments = tensor(environments):long()
                set.artifact_masks = tensor.zeros{64, 4}
                local model = nn.Sequential{nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)}
                train{model = model, data = set, validation = 0, epochs = 1, batch = 32,
                      regularizers = {"masked_saliency"}, verbose = false}
                set.environments = nil
                local ok, message = pcall(train, {model = model, data = set, validation = 0, epochs = 1,
                      regularizers = {"masked_saliency"}, name = "again", verbose = false})
                missing = message
                """, name: "context.lua")
        XCTAssertEqual(
            lua.string(global: "seen"),
            "activation:0,environments,inputs,logits,modality:inputs,model,targets")
        XCTAssertEqual(lua.number(global: "steps"), 1, "the second step's context")
        XCTAssertTrue(
            lua.string(global: "missing")?.contains(
                "regularizer masked_saliency needs 'environments', which the training data lacks") == true,
            lua.string(global: "missing") ?? "no error")
    }

    /// A Lua fusion and a Lua regularizer train inside a recipe exactly like Swift ones: gradients reach
    /// their parameters, the optimizer changes them, the loss falls and checkpoints hold them.
    func testPluginFusionAndRegularizerTrainInARecipe() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plugin-run-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try RunContext(directory: folder, recipe: "train.lua", seed: 1, threads: 1)
        let lua = try LuaState(run: run)
        try lua.loadPlugins(from: [Self.plugins])
        try lua.run(
            source: """
                lucerna.manual_seed(2)
                local set = data.blobs{samples = 120, features = 6, centers = 3, std = 2}
                local a, b = set.inputs:narrow(2, 1, 3), set.inputs:narrow(2, 4, 3)
                local fusion = fusions{type = "gated", input_dims = {3, 3}, dim = 8}
                local head = nn.Linear(8, 3)
                local penalty = regularizers{type = "l1", weight = 1e-3}
                local params = fusion:parameters()
                for _, p in ipairs(head:parameters()) do params[#params + 1] = p end
                local opt = optim.adamw{params = params, lr = 0.05}
                before = fusion:named_parameters()["gate.weight"]:clone()
                local function loss()
                   return losses.cross_entropy(head(fusion{a, b}), set.labels) + penalty:penalty{parameters = fusion}
                end
                first = loss():item()
                local function count_reached()
                   local count = 0
                   for _, p in pairs(fusion:named_parameters()) do
                      if p:grad() ~= nil and p:grad():abs():sum():item() > 0 then count = count + 1 end
                   end
                   return count
                end
                -- The Lua regularizer alone reaches the fusion's weight matrices (l1 skips biases) ...
                opt:zero_grad()
                penalty:penalty{parameters = fusion}:backward()
                reached_by_penalty = count_reached()
                -- ... and the whole loss reaches every parameter of the Lua fusion.
                opt:zero_grad()
                loss():backward()
                reached = count_reached()
                for step = 1, 60 do
                   opt:zero_grad()
                   local value = loss()
                   value:backward()
                   opt:step()
                end
                last = loss():item()
                moved = (fusion:named_parameters()["gate.weight"] - before):abs():max():item()
                saved = run.save("fusion", fusion)
                local copy = fusions.gated{input_dims = {3, 3}, dim = 8}
                copy:load(saved)
                same = (copy{a, b} - fusion{a, b}):abs():max():item()
                """, name: "train.lua")
        XCTAssertEqual(lua.number(global: "reached_by_penalty"), 3, "the weights of project1, project2 and gate")
        XCTAssertEqual(lua.number(global: "reached"), 6, "weights and biases of project1, project2 and gate")
        XCTAssertLessThan(lua.number(global: "last") ?? 9, (lua.number(global: "first") ?? 0) * 0.5)
        XCTAssertGreaterThan(lua.number(global: "moved") ?? 0, 0)
        XCTAssertEqual(lua.number(global: "same"), 0)
        let saved = try Safetensors.read("\(folder)/checkpoints/fusion.safetensors").tensors.map(\.name).sorted()
        XCTAssertEqual(
            saved, ["gate.bias", "gate.weight", "project1.bias", "project1.weight", "project2.bias", "project2.weight"])
    }

    /// A Lua regularizer with a parameter of its own: gradients reach it and an optimizer trains it.
    func testARegularizerPluginsOwnParametersAreTrained() throws {
        let lua = try LuaState()
        try lua.run(
            source: """
                lucerna.register{kind = "regularizer", name = "scaled_l2", description = "a learned multiple of the L2 norm",
                   init = function(self) self:parameter("scale", tensor{0.5}) end,
                   penalty = function(self, ctx)
                      local total = ctx.parameters.weight:square():sum()
                      return (self.scale * total):sum() + (self.scale - 1):square():sum()
                   end}
                local model = nn.Linear(3, 2)
                local penalty = regularizers.scaled_l2{}
                local opt = optim.sgd{params = penalty:parameters(), lr = 0.1}
                penalty:penalty{parameters = model}:backward()
                reached = penalty:parameters()[1]:grad() ~= nil and 1 or 0
                before = penalty:parameters()[1]:item()
                opt:step()
                moved = math.abs(penalty:parameters()[1]:item() - before)
                """, name: "learned.lua")
        XCTAssertEqual(lua.number(global: "reached"), 1)
        XCTAssertGreaterThan(lua.number(global: "moved") ?? 0, 0)
    }

    /// Attack and explainer plugins see the model in evaluation mode and leave its mode as they found it,
    /// as the Swift attacks and explainers do: with dropout, two training-mode forwards differ.
    func testPluginAttacksAndExplainersRunTheModelInEvaluationMode() throws {
        let lua = try LuaState()
        try lua.run(
            source: """
                lucerna.manual_seed(3)
                local function spread(model, x) return (model(x) - model(x)):abs():max():item() end
                lucerna.register{kind = 'attack', name = 'mode_probe', description = 'd',
                   perturb = function(self, model, inputs, targets) attack_spread = spread(model, inputs); return inputs end}
                lucerna.register{kind = 'explainer', name = 'mode_probe', description = 'd',
                   attribute = function(self, model, inputs, targets) explainer_spread = spread(model, inputs); return inputs end}
                local model = nn.Sequential{nn.Linear(8, 16), nn.Dropout(0.5), nn.Linear(16, 3)}
                local x, y = tensor.randn{32, 8}, tensor.zeros{32}:long()
                before = spread(model, x)
                attacks.mode_probe{}:perturb(model, x, y)
                spread_in_attack = attack_spread
                explainers.mode_probe{}:attribute(model, x, y)
                after = spread(model, x)
                model:eval()
                attacks.mode_probe{}:perturb(model, x, y)
                kept_evaluation = spread(model, x)
                """, name: "mode.lua")
        XCTAssertGreaterThan(try XCTUnwrap(lua.number(global: "before")), 0, "dropout is active in training mode")
        XCTAssertEqual(lua.number(global: "spread_in_attack"), 0, "attack plugin in evaluation mode")
        XCTAssertEqual(lua.number(global: "explainer_spread"), 0, "explainer plugin in evaluation mode")
        XCTAssertGreaterThan(try XCTUnwrap(lua.number(global: "after")), 0, "training mode restored")
        XCTAssertEqual(lua.number(global: "kept_evaluation"), 0, "evaluation mode kept")
    }

    func testPluginProblemsAreReadableErrors() throws {
        let cases: [(String, String)] = [
            (
                "lucerna.register{kind = 'fuson', name = 'x', description = 'd', forward = function() end}",
                "kind 'fuson' cannot be a Lua plugin; did you mean 'fusion'?"
            ),
            (
                "lucerna.register{kind = 'optimizer', name = 'x', description = 'd'}",
                "an optimizer plugin needs a function update(self, ...)"
            ),
            (
                "lucerna.register{kind = 'widget', name = 'x', description = 'd'}",
                "kind 'widget' cannot be a Lua plugin"
            ),
            (
                "lucerna.register{kind = 'optimizer', name = 'z', description = 'd', update = function(self, p) return p:sum() end}\nlocal w = tensor.ones{2}:requires_grad()\nlocal o = optim.z{params = {w}}\nw:sum():backward()\no:step()",
                "update returned [] for a parameter of [2]"
            ),
            (
                "lucerna.register{kind = 'schedule', name = 's', description = 'd', rate = function() return -1 end}\nschedules.s{optimizer = optim.sgd{params = {}}}",
                "rate -1.0 at step 0 must be finite and non-negative"
            ),
            (
                "lucerna.register{kind = 'fusion', name = 'Bad Name', description = 'd', forward = function() end}",
                "field name must be a snake_case"
            ),
            (
                "lucerna.register{kind = 'fusion', name = 'x', description = 'd'}",
                "a fusion plugin needs a function forward(self, ...)"
            ),
            (
                "lucerna.register{kind = 'metric', name = 'x', description = 'd', update = function() end, compute = 3}",
                "needs a function compute(self, ...), got a number"
            ),
            ("lucerna.register{kind = 'fusion', name = 'x', forward = function() end}", "field description must be"),
            (
                "lucerna.register{kind = 'fusion', name = 'concat', description = 'd', forward = function() end}",
                "fusion 'concat' from bad.lua:1 is already registered (from built-in)"
            ),
            (
                "lucerna.register{kind = 'fusion', name = 'x', description = 'd', defaults = {dim = function() end}, forward = function() end}",
                "cannot be an option value"
            ),
            ("lucerna.register(setmetatable({}, {}))", "must not have a metatable"),
            (
                "lucerna.register{kind = 'fusion', name = 'y', description = 'd', defaults = {dim = 2}, forward = function(self, inputs) return 3 end}\nfusions.y{}{tensor.ones{1, 2}}",
                "forward must return a tensor, got number"
            ),
            (
                "lucerna.register{kind = 'fusion', name = 'z', description = 'd', forward = function(self, inputs) error('boom') end}\nfusions.z{}{tensor.ones{1, 2}}",
                "bad.lua:1: boom"
            ),
            (
                "lucerna.register{kind = 'fusion', name = 'w', description = 'd', defaults = {dim = 2}, forward = function(self, x) return x[1] end}\nfusions.w{dimm = 3}",
                "unknown option 'dimm'; did you mean 'dim'?; accepted: dim"
            ),
        ]
        for (source, expected) in cases {
            XCTAssertThrowsError(try LuaState().run(source: source, name: "bad.lua"), source) { error in
                XCTAssert("\(error)".contains(expected), "\(source)\n-> \(error)")
            }
        }
    }

    func testConformanceFailuresNameTheProblem() throws {
        let lua = try LuaState()
        try lua.run(
            source: """
                lucerna.register{kind = "fusion", name = "flat", description = "loses the batch", defaults = {input_dims = {2, 2}},
                   forward = function(self, inputs) return tensor.cat(inputs, 2):sum():reshape{1, 1} end}
                lucerna.register{kind = "fusion", name = "frozen", description = "ignores its parameter", defaults = {input_dims = {2, 2}},
                   init = function(self) self:parameter("unused", tensor.ones{2}) end,
                   forward = function(self, inputs) return tensor.cat(inputs, 2) end}
                """, name: "plugins.lua")
        XCTAssertThrowsError(try lua.checkConformance(lua.registry.entry(.fusion, "flat"))) { error in
            XCTAssert(
                "\(error)".contains("fusions.flat: output must be [3, d] for a batch of 3, got [1, 1]"), "\(error)")
        }
        XCTAssertThrowsError(try lua.checkConformance(lua.registry.entry(.fusion, "frozen"))) { error in
            XCTAssert("\(error)".contains("no gradient reaches parameter unused"), "\(error)")
        }
    }
}

/// HiResCAM, shipped as a Lua plugin on the CAM engine (`cam_map`), against its definition: on a layer with
/// the input's size and without normalisation, the map is relu(Σ_c ∂S/∂A_c · A_c) of the target scores S.
final class CAMPluginTests: XCTestCase {
    func testHiResCAMPluginMatchesItsDefinition() throws {
        let lua = try LuaState()
        try lua.loadPlugins(from: [PluginTests.plugins])
        let generator = RandomGenerator(seed: 7)
        let model = try Sequential([
            Conv2d(1, 3, kernelSize: (3, 3), padding: (1, 1), dtype: .float64, generator: generator), Tanh(), Flatten(),
            Linear(3 * 5 * 5, 4, dtype: .float64, generator: generator),
        ])
        let inputs = try Tensor.uniform([2, 1, 5, 5], dtype: .float64, generator: generator)
        let targets = try Tensor(shape: [2], integers: [1, 3])
        let explainer = try lua.registry.build(
            .explainer, "hires_cam", options: ["layer": .string("1"), "normalize": .boolean(false)])
        XCTAssert(explainer is ClassActivationMap, "a cam_map plugin runs on the CAM engine")
        let maps = try explainer.attribute(model: model, inputs: inputs, targets: targets)
        // The definition, computed directly.
        var captured: Tensor?
        guard let layer = model.module(named: "1") else { return XCTFail("no layer 1") }
        let hook = layer.addForwardHook { _, _, output in captured = output }
        let logits = try model(inputs)
        layer.removeForwardHook(hook)
        let activations = try XCTUnwrap(captured)
        let score = try logits.gathering(axis: 1, indices: Tensor(shape: [2, 1], integers: [1, 3])).sum()
        let gradient = try XCTUnwrap(try Tensor.gradients(of: [score], withRespectTo: [activations]).first ?? nil)
        let expected = try (gradient * activations).sum(axes: [1]).relu()
        assertClose(maps, expected, tolerance: 1e-12, "HiResCAM map")
        // It is not Grad-CAM (channel-averaged gradients) on this layer.
        let gradCAM = try lua.registry.build(
            .explainer, "grad_cam", options: ["layer": .string("1"), "normalize": .boolean(false)])
        let difference =
            zip(try gradCAM.attribute(model: model, inputs: inputs, targets: targets).toDoubles(), maps.toDoubles())
            .map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(difference, 1e-3)
        // A cam_weights or cam_map plugin takes the engine's layer and normalize options.
        XCTAssertEqual(
            try lua.registry.entry(.explainer, "hires_cam").options.map(\.name).sorted(), ["layer", "normalize"])
    }
}
