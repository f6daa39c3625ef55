import CLua
import LucernaComponents
import LucernaCore
import LucernaRun

/// Text generated from the registry and the live Lua state, so it cannot drift from the code: the
/// `lucerna list` listing, Lua language-server annotations (`lucerna stubs`) and the Markdown API
/// reference (`docs/lua-api.md`).
public enum LuaDocumentation {
    /// The Lua classes of engine objects and their metatables.
    static let classes: [(name: String, metatable: String, summary: String)] = [
        (
            "Tensor", LuaTensorAPI.metatableName,
            "an n-dimensional array with autograd; dimensions and indices count from 1"
        ),
        ("Module", LuaNNAPI.moduleMetatable, "a layer, model or fusion; call it: `model(x)`, `fusion{x1, x2}`"),
        ("Optimizer", LuaNNAPI.optimizerMetatable, "updates parameters from their gradients"),
        ("Schedule", LuaNNAPI.scheduleMetatable, "sets an optimizer's learning rate per step"),
        (
            "Regularizer", LuaObjects.regularizerMetatable,
            "a differentiable penalty: `reg:penalty{parameters = model, logits = ...}`"
        ),
        (
            "Metric", LuaObjects.metricMetatable,
            "streaming evaluation: `update(predictions, targets[, groups])`, `compute()`, `reset()`"
        ),
        ("Loss", LuaObjects.lossMetatable, "a criterion: `loss(prediction, target)`"),
        (
            "Attack", LuaObjects.attackMetatable,
            "`attack:perturb(model, inputs, targets)` returns adversarial inputs. For a multimodal classifier, `inputs` is a table of modalities and a fourth argument names the attacked modality or a list of them (default: all, perturbed jointly under the attack's budget and range), or gives each attacked modality its own budget and range (`{image = {eps = 0.1}, audio = {eps = 1, clamp_min = -math.huge, clamp_max = math.huge}}`): `attack:perturb(model, {image = x, audio = a}, y, \"audio\")` returns the table with the audio replaced. Inputs outside the attack's valid range are an error. `attack:adversarial_logits(model, inputs, targets)` gives the logits under attack (of the perturbed embeddings for `embedding_pgd`)"
        ),
        (
            "Explainer", LuaObjects.explainerMetatable,
            "`explainer:explain(model, inputs[, targets])` (or `:attribute`) returns attribution maps; no targets: the predicted classes"
        ),
        (
            "Rule", LuaObjects.ruleMetatable,
            "an LRP rule: `rule:relevance(layer, input, relevance)` is one propagation step"
        ),
        (
            "Composite", LuaObjects.compositeMetatable,
            "assigns LRP rules to layers: `composite:rules(model)` lists them; pass it to `explainers.lrp{composite = ...}`"
        ),
        (
            "Clustering", LuaObjects.clusteringMetatable,
            "`clustering:fit(points)` returns a label per row of `points` `[N, features]` (-1 for noise)"
        ),
        (
            "Augmentation", LuaObjects.augmentationMetatable,
            "`augmentation:augment(images)` returns a randomly transformed copy of `images` `[N, ..., H, W]`, each sample drawn from the run's generator; `train{augment = {...}}` applies a list of them to every training batch (or `augment = {image = {...}}` per tensor)"
        ),
    ]

    /// An option list as Markdown bullets (the reference page).
    static func bullets(_ options: [OptionSpec]) -> [String] { options.map { "- `\($0.name)`: \($0.summary)" } }

    static func bullets(_ options: [(name: String, summary: String)]) -> [String] {
        options.map { "- `\($0.name)`: \($0.summary)" }
    }

    /// An option list as LuaCATS `---@field` lines (the stubs).
    static func fields(_ options: [OptionSpec]) -> [String] {
        options.map { "---@field \($0.name)? \($0.type.luaType) \($0.summary)" }
    }

    static func className(_ entry: ComponentEntry) -> String {
        let words = (entry.kind.luaGlobal + "_" + entry.name + "_options").split(separator: "_")
        return words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// A plugin's file from `Plugins/` on (so generated text does not depend on where the repository is).
    static func displayOrigin(_ origin: String) -> String {
        guard let range = origin.range(of: "Plugins/", options: .backwards) else { return origin }
        return String(origin[range.lowerBound...])
    }

    static func resultType(_ kind: ComponentKind) -> String { kind.className }

    /// `lucerna list`: every component of `kinds` with its options, defaults and description.
    public static func listing(_ registry: Registry, kinds: [ComponentKind]) -> String {
        var lines: [String] = []
        for kind in kinds {
            lines.append("\(kind.name) (Lua: \(kind.luaGlobal))")
            let names = registry.names(kind)
            if names.isEmpty { lines.append("  (none yet)") }
            for name in names {
                guard let entry = try? registry.entry(kind, name) else { continue }
                lines.append(
                    "  \(name) — \(entry.summary)\(entry.origin == "built-in" ? "" : " [plugin \(entry.origin)]")")
                for option in entry.options {
                    lines.append(
                        "      \(option.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(option.type.luaType.padding(toLength: 18, withPad: " ", startingAt: 0)) \(option.required ? "required" : "default \(option.defaultDescription)")\(option.summary.isEmpty ? "" : "  \(option.summary)")"
                    )
                }
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    /// Names of the functions in the `__index` table of `metatable` (sorted).
    static func methods(of metatable: String, in lua: LuaState) -> [String] {
        let state = lua.state
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lua_getfield(state, lucerna_registryindex(), metatable)
        guard lua_type(state, -1) == LUA_TTABLE else { return [] }
        lua_getfield(state, -1, "__index")
        return functionNames(at: lua_gettop(state), in: state)
    }

    /// Names of the functions in the global table `name` (sorted).
    static func globalFunctions(_ name: String, in lua: LuaState) -> [String] {
        let state = lua.state
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lua_getglobal(state, name)
        return functionNames(at: lua_gettop(state), in: state)
    }

    private static func functionNames(at index: Int32, in state: OpaquePointer) -> [String] {
        guard lua_type(state, index) == LUA_TTABLE else { return [] }
        var names: [String] = []
        lua_pushnil(state)
        while lua_next(state, index) != 0 {
            if lua_type(state, -2) == LUA_TSTRING, lua_type(state, -1) == LUA_TFUNCTION,
                let key = lucerna_tostring(state, -2).map({ String(cString: $0) })
            {
                names.append(key)
            }
            lucerna_pop(state, 1)
        }
        return names.sorted()
    }

    /// Lua language-server annotations (`---@class`, `---@param`) for the API and every component.
    public static func stubs(_ lua: LuaState) -> String {
        var out = [
            "---@meta lucerna", "-- Generated by `lucerna stubs`: Lua language-server annotations for Lucerna.", "",
        ]
        for item in classes {
            out.append("---\(item.summary)")
            out.append("---@class \(item.name)")
            if item.name == "Tensor" {
                for operation in ["add", "sub", "mul", "div", "pow"] {
                    out.append("---@operator \(operation)(Tensor|number): Tensor")
                }
                out.append("---@operator unm: Tensor")
            }
            if item.name == "Module" { out.append("---@overload fun(input: Tensor|Tensor[]): Tensor") }
            if item.name == "Loss" { out.append("---@overload fun(prediction: Tensor, target: Tensor): Tensor") }
            for method in methods(of: item.metatable, in: lua) {
                out.append("---@field \(method) fun(self: \(item.name), ...: any): any")
            }
            out.append("")
        }
        out += ["---@class tensor", "---@overload fun(values: number|table): Tensor", "tensor = {}"]
        for function in globalFunctions("tensor", in: lua) {
            out.append("---@return Tensor\nfunction tensor.\(function)(...) end")
        }
        out += ["", "---@class nn", "nn = {}"]
        for function in globalFunctions("nn", in: lua) {
            out.append("---@return Module\nfunction nn.\(function)(...) end")
        }
        out += ["", "---@class lucerna", "lucerna = {}", "lucerna.tensor = tensor"]
        for function in globalFunctions("lucerna", in: lua) {
            out.append("---@return any\nfunction lucerna.\(function)(...) end")
        }
        out += [
            "", "---The current run: its folder and records.", "---@class run", "---@field dir string|nil", "run = {}",
        ]
        for function in globalFunctions("run", in: lua) {
            out.append("---@return any\nfunction run.\(function)(...) end")
        }
        out +=
            [
                "", "---Gradients of outputs with respect to inputs.",
                "---@param outputs Tensor|Tensor[]", "---@param inputs Tensor|Tensor[]",
                "---@param options? {create_graph?: boolean}",
                "---@return Tensor|Tensor[]", "function grad(outputs, inputs, options) end", "",
                "---Runs fn without recording operations for autograd.", "---@param fn function",
                "function no_grad(fn) end", "",
                "---@class TrainOptions",
            ] + fields(Experiment.trainOptions) + [
                "",
                "---Trains with the paper's protocol (validation split, AdamW + cosine, early stopping, checkpoints, resume).",
                "---@param options TrainOptions",
                "---@return {epochs_run: integer, best_epoch: integer?, test: table, history: table, reports: table}",
                "function train(options) end", "",
                "---@class TrainGANOptions",
            ] + fields(Experiment.trainGANOptions) + [
                "",
                "---Trains a conditional GAN (WGAN-GP or hinge) with checkpoints, resume and image grids.",
                "---@param options TrainGANOptions",
                "---@return {steps: integer, history: table}",
                "function train_gan(options) end", "",
                "---@class GenerateOptions",
            ] + fields(Experiment.generateOptions) + [
                "",
                "---Draws a data set {images in [0, 1], labels} from a conditional generator (evaluation mode, no gradients).",
                "---@param options GenerateOptions",
                "---@return {images: Tensor, labels: Tensor?}",
                "function generate(options) end", "",
            ]
        for kind in ComponentKind.allCases {
            out.append("---@class \(kind.luaGlobal)")
            out.append("---@overload fun(spec: {type: string}|table): \(resultType(kind))")
            out.append("\(kind.luaGlobal) = {}")
            out.append("---@return string[]")
            out.append("function \(kind.luaGlobal).list() end")
            for name in lua.registry.names(kind) {
                guard let entry = try? lua.registry.entry(kind, name) else { continue }
                let optionsClass = className(entry)
                out.append("---@class \(optionsClass)")
                for option in entry.options {
                    let detail = option.required ? "(required)" : "(default \(option.defaultDescription))"
                    out.append(
                        "---@field \(option.name)\(option.required ? "" : "?") \(option.type.luaType) \(option.summary) \(detail)"
                    )
                }
                out.append("---\(entry.summary)")
                if !entry.reference.isEmpty { out.append("---Reference: \(entry.reference)") }
                if entry.origin != "built-in" { out.append("---Plugin: \(displayOrigin(entry.origin))") }
                let anyRequired = entry.options.contains(where: \.required)
                out.append("---@param options\(anyRequired ? "" : "?") \(optionsClass)")
                if kind == .loss {
                    out.append(
                        "---@overload fun(prediction: Tensor, target: Tensor, options?: \(optionsClass)): Tensor")
                }
                out.append("---@return \(resultType(kind))")
                out.append("function \(kind.luaGlobal).\(name)(options) end")
            }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// The Markdown API reference (`docs/lua-api.md`).
    public static func reference(_ lua: LuaState) -> String {
        var out = [
            "# Lucerna Lua API reference", "",
            "Generated by `lucerna docs > docs/lua-api.md` from the registry and the live Lua state; a test fails",
            "when this file differs from the code. Editors: `lucerna stubs > lucerna.d.lua` gives the same API as",
            "Lua language-server annotations.", "",
            "## Conventions", "",
            "- Dimensions and indices count from 1, as in Torch7 and Lua tables; negative ones count from the end",
            "  (`x:sum(-1)` sums the last dimension). Class labels stay 0-based, as PyTorch stores them;",
            "  `argmax` returns 1-based positions. Errors speak the same numbering (`dimension 7 is out of range",
            "  for a tensor of rank 1`).",
            "- Arguments are checked, never ignored: a wrong type, an out-of-range value or an argument a function",
            "  does not take is an error at the caller's line. Class targets are int64 (`tensor{0, 2}:long()`);",
            "  `losses.cross_entropy` also takes class probabilities of the logits' shape, as PyTorch.",
            "  `tensor.arange(stop)`, `arange(start, stop[, step])` and `y:backward([gradient])` follow PyTorch.",
            "  Tables passed to Lucerna are read raw: their metamethods are not called.",
            "- Every component kind has one global table of factories: `fusions.concat{dim = 128}` builds one,",
            "  `fusions.list()` lists the names, and a spec table works wherever a component is expected:",
            "  `schedules{type = \"cosine\", optimizer = opt, t_max = 50}` or `lucerna.build(\"schedule\", spec)`.",
            "  Unknown names and options are errors naming the closest valid ones.",
            "- `lucerna.config{...}` declares a recipe's settings; `lucerna run --set key=value` overrides them",
            "  (dotted paths, typed by the value they replace) and the resolved table is written to `config.json`.",
            "- `lucerna.sweep{grid = {key = {values}, ...}, seeds = {...}}`, before `lucerna.config{...}`, declares",
            "  the recipe's own sweep: `lucerna sweep RECIPE` without `--grid` runs its grid (keys in alphabetical",
            "  order; `grid = {{key, {values}}, ...}` keeps an order); a plain `lucerna run` ignores it.",
            "- `run.log{...}` appends a JSON line to `metrics.jsonl`, `run.save(name, model)` writes",
            "  `checkpoints/<name>.safetensors`, `run.note(text)` adds to `report.md`; `run.dir` is the folder.",
            "  Every component a recipe builds is recorded with its resolved options in `components.jsonl`.",
            "- A data set is a table of tensors sharing their first axis (plus facts such as `vocabulary_size`);",
            "  tensors of different lengths, or no samples, are an error.",
            "  `data.split{set, test = 0.2, validation = 0.1, stratify = \"labels\" or {\"labels\", \"groups\"}, seed = 1}`",
            "  returns train, test (and validation) sets, stratified and seeded, each with `indices` into the",
            "  original; the run folder's `splits.jsonl` records sizes and an index digest.",
            "  `for batch in data.loader{set, batch = 64, shuffle = true, seed = 1, drop_last = false} do ... end`",
            "  iterates mini-batches (shuffled by `seed`, else by the run's generator).", "",
        ]
        out += ["## Engine objects", ""]
        for item in classes {
            out.append("### \(item.name)")
            out.append("")
            out.append("\(item.summary.prefix(1).uppercased() + item.summary.dropFirst()).")
            out.append("")
            out.append(
                "Methods: " + methods(of: item.metatable, in: lua).map { "`\($0)`" }.joined(separator: ", ") + ".")
            out.append("")
        }
        out += ["## Global functions", ""]
        for global in ["tensor", "nn", "lucerna", "run", "reveal"] {
            out.append("- `\(global)`: " + globalFunctions(global, in: lua).map { "`\($0)`" }.joined(separator: ", "))
        }
        out += [
            "- `nn.init` (in place, as `torch.nn.init`, from the seeded generator): `xavier_uniform_(t, gain)`, `xavier_normal_(t, gain)`, `kaiming_uniform_(t, a)`, `uniform_(t, a, b)`, `normal_(t, mean, std)`, `constant_(t, value)`, `zeros_(t)`, `ones_(t)`",
            "- `grad(outputs, inputs, {create_graph = true})`, `no_grad(fn)`", "",
        ]
        out += [
            "## Training: `train{...}`", "",
            "`train{model = m, data = set, test = test_set, epochs = 15, early_stopping = {metric = \"val_f1\", patience = 4}}`",
            "runs the paper's protocol and returns `{epochs_run, best_epoch, best_value, stopped_early, history, test, reports}`.",
            "Each epoch appends a record (`epoch`, `lr`, `train_loss`, `train_<term>`, `val_loss`, `val_<metric>`,",
            "`samples_per_second`, `epoch_seconds`) to `metrics.jsonl`, then the test record (`test_<metric>`,",
            "`best_epoch`); `checkpoints/<name>-last.safetensors` (model, optimizer, schedule, random generator,",
            "history) is written atomically every epoch and `<name>-best.safetensors` at every improvement;",
            "`lucerna run --resume RUN_DIR` continues from the last one to the same final metrics. A non-finite",
            "loss stops the run naming the epoch and step, leaving the last good checkpoint. Options:", "",
        ]
        out += bullets(Experiment.trainOptions)
        out += [
            "",
            "`evaluate{model = m, data = set, metrics = {...}, name = \"madlibs\"}` evaluates once (evaluation mode, the",
            "model's mode restored afterwards; no recording) and returns `{<metric> = value, ..., reports = {<metric> =",
            "report}}`; with `name` it logs `<name>_<metric>` and adds the reports to `evaluation.json` (shown in",
            "`report.html`). Options:", "",
        ]
        out += bullets(Experiment.evaluateOptions)
        out += [
            "",
            "`train_gan{generator = g, critic = d, data = set, steps = 20000}` trains a conditional GAN (WGAN-GP or hinge,",
            "n_critic critic steps per generator step, a moving average of the generator) and returns `{steps, seconds, history}`",
            "(`seconds`: the training time summed over the log records, so a resumed run counts its earlier processes);",
            "every `every.log` steps a record (`critic_loss`, `generator_loss`, `wasserstein`, `gradient_penalty`) and a",
            "checkpoint that `--resume` continues from, every `every.images` steps a grid per class (docs/guide/generation.md).",
            "Options:", "",
        ]
        out += bullets(Experiment.trainGANOptions)
        out += [
            "",
            "After training the generator holds the weight average (the EMA generator). `generate{generator = g,",
            "per_class = 100}` draws a data set `{images, labels}` from it, images in [0, 1], for `train{}` (GAN-train",
            "accuracy) and the generation metrics. Options:", "",
        ]
        out += bullets(Experiment.generateOptions)
        out += [
            "",
            "`run.image(name, images, {columns = 8, range = {0, 1}})` saves a PNG grid to `images/` for `report.html`.",
            "",
            "`reveal.spray{heatmaps = maps, clusterings = {kmeans = clusterings.kmeans{clusters = 8}}}` runs Spectral",
            "Relevance Analysis on one class's explanations and returns `eigenvalues`, `embedding`, `coordinates`,",
            "`maps`, `cluster_components`, `labels` and `ranking` (per clustering, the clusters most shortcut-like",
            "first; see docs/guide/reveal.md). Options:", "",
        ]
        out += bullets(LuaRevealAPI.sprayOptions)
        out += [""]
        out += [
            "`reveal_to_revise{model = m, data = train_set, test = test_set, poisoned = poisoned_set, class = 0}` runs the",
            "Reveal-to-Revise loop (docs/guide/reveal.md) and returns `{rounds, final, artifact_relevance_cut}`; a record",
            "per round goes to `metrics.jsonl` (`phase = \"reveal_to_revise\"`), each round's model and CAV to",
            "`checkpoints/`, heatmaps to `images/`, a table to `report.md`. Options:", "",
        ]
        out += bullets(LuaRevealLoop.options)
        out += [""]
        for function in LuaRevealAPI.localisationDocumentation {
            out += ["`\(function.call)`: \(function.summary). Options:", ""]
            out += bullets(function.options)
            out += [""]
        }
        out += ["## Components", ""]
        for kind in ComponentKind.allCases {
            out.append("### \(kind.name): `\(kind.luaGlobal)`")
            out.append("")
            let names = lua.registry.names(kind)
            if names.isEmpty { out += ["None registered yet.", ""] }
            for name in names {
                guard let entry = try? lua.registry.entry(kind, name) else { continue }
                out.append(
                    "#### `\(kind.luaGlobal).\(name)`\(entry.origin == "built-in" ? "" : " (plugin `\(displayOrigin(entry.origin))`)")"
                )
                out.append("")
                out.append(
                    "\(entry.summary.prefix(1).uppercased() + entry.summary.dropFirst()).\(entry.reference.isEmpty ? "" : " Reference: \(entry.reference).")"
                )
                out.append("")
                if !entry.options.isEmpty {
                    out += ["| option | type | default | meaning |", "|---|---|---|---|"]
                    for option in entry.options {
                        out.append(
                            "| `\(option.name)` | `\(option.type.luaType.replacingOccurrences(of: "|", with: "\\|"))` | \(option.required ? "required" : "`\(option.defaultDescription)`") | \(option.summary) |"
                        )
                    }
                    out.append("")
                }
            }
        }
        out += [
            "## Plugins", "",
            "A file `Plugins/<kind>/<name>.lua` (also `~/.lucerna/plugins`, and each folder of `LUCERNA_PLUGIN_PATH`)",
            "returns a table with `kind`, `name`, `description`, `defaults` (its options and their defaults), an",
            "optional `options` table of one-line option descriptions, an optional `init(self, opts)`, and the",
            "methods of its kind. `self.options` holds the resolved options; `self:parameter(name, tensor)`,",
            "`self:buffer(name, tensor)` and `self:module(name, module)` register state that optimizers train and",
            "checkpoints save. `lucerna check FILE` runs the conformance checks. A plugin replaces a component of",
            "the same kind and name only with `override = true`.", "",
            "| kind | contract |", "|---|---|",
        ]
        for kind in ComponentKind.allCases {
            out.append(
                "| \(kind.name) | \(LuaKindBinding.of(kind)?.contract ?? "not available as a Lua plugin (Swift only)") |"
            )
        }
        out.append("")
        return out.joined(separator: "\n")
    }
}

extension LuaState {
    /// Runs ``Conformance/check(_:registry:example:)`` for `entry`, with the example inputs a plugin's
    /// `example(self)` gives or the built-in ones.
    public func checkConformance(_ entry: ComponentEntry) throws -> [String] {
        var example = Conformance.builtinExample(entry)
        if entry.origin != "built-in", let instance = try? entry.instance(registry.config(for: entry, options: [:])) {
            let module = (instance as? LuaPluginModule) ?? (instance as? LuaPluginBacked)?.module
            if let module, (try? callMethodExists(reference: module.reference, method: "example")) == true {
                example = { _ in
                    switch try module.call("example", []).first ?? .null {
                    case .tensor(let tensor): return [tensor]
                    case .list(let items):
                        return try items.map {
                            guard case .tensor(let tensor) = $0 else {
                                throw TensorError(module.label, "example must return tensors")
                            }
                            return tensor
                        }
                    case let other:
                        throw TensorError(
                            module.label, "example must return a tensor or a list of tensors, got \(other.kindName)")
                    }
                }
            }
        }
        return try Conformance.check(entry, registry: registry, example: example)
    }

    func callMethodExists(reference: Int32, method: String) throws -> Bool {
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(reference))
        lua_getfield(state, -1, method)
        return lua_type(state, -1) == LUA_TFUNCTION
    }
}
