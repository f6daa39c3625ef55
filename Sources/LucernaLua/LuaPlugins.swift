import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// Lua component plugins: `Plugins/<kind>/<name>.lua` files returning a table with `kind`, `name`,
/// `description`, `defaults` and the methods of the kind's contract. They register into the same
/// registry as Swift components, their parameters (created with `self:parameter(name, tensor)` or
/// `self:module(name, module)`) are trained and checkpointed like any module's, and autodiff flows
/// through the ops they compose.
public enum LuaPlugins {
    /// The methods each kind's plugin must define (beyond the optional `init(self, opts)`).
    static let contracts: [ComponentKind: [String]] = [
        .model: ["forward"], .fusion: ["forward"], .regularizer: ["penalty"], .metric: ["update", "compute"],
        .loss: ["forward"], .attack: ["perturb"], .explainer: ["attribute"], .rule: ["relevance"], .dataset: ["load"],
        .optimizer: ["update"], .schedule: ["rate"],
    ]

    /// Options every plugin of a kind takes besides its `defaults` (what the framework passes in).
    static func frameworkOptions(_ kind: ComponentKind) -> [OptionSpec] {
        switch kind {
        case .optimizer: [OptionSpec("params", .tensors, required: true, "the tensors to train: model:parameters(), or a model")]
        case .schedule: [OptionSpec("optimizer", .object("Optimizer"), required: true, "the optimizer whose rate it sets")]
        default: []
        }
    }

    /// Plugin folders in load order: `Plugins/` of the working directory, `~/.lucerna/plugins`, then each
    /// folder of `LUCERNA_PLUGIN_PATH` (colon-separated).
    public static func defaultFolders() -> [String] {
        var folders = ["Plugins"]
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty { folders.append("\(home)/.lucerna/plugins") }
        if let path = ProcessInfo.processInfo.environment["LUCERNA_PLUGIN_PATH"] {
            folders += path.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        return folders
    }

    /// The `.lua` files of a plugin folder: `folder/*.lua` and `folder/<kind>/*.lua`, sorted.
    public static func files(in folder: String) -> [String] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue,
              let names = try? manager.contentsOfDirectory(atPath: folder) else { return [] }
        var result: [String] = []
        for name in names.sorted() {
            let path = "\(folder)/\(name)"
            if name.hasSuffix(".lua") {
                result.append(path)
            } else if manager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                result += ((try? manager.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".lua") }.sorted().map { "\(path)/\($0)" }
            }
        }
        return result
    }
}

extension LuaState {
    /// Loads every plugin in `folders` (by default ``LuaPlugins/defaultFolders()``) and returns their entries.
    @discardableResult
    public func loadPlugins(from folders: [String] = LuaPlugins.defaultFolders()) throws -> [ComponentEntry] {
        try folders.flatMap { LuaPlugins.files(in: $0) }.map { try loadPlugin(file: $0) }
    }

    /// Loads one plugin file, registers it (a plugin may replace a component of the same kind and name
    /// only with `override = true`) and refreshes its kind's Lua global.
    @discardableResult
    public func loadPlugin(file path: String, overriding: Bool = false) throws -> ComponentEntry {
        guard let data = FileManager.default.contents(atPath: path) else { throw LuaError(message: "\(path): cannot read the plugin") }
        guard let source = String(data: data, encoding: .utf8) else { throw LuaError(message: "\(path): not UTF-8 text") }
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        try evaluate(source: source, name: path, results: 1)
        guard lua_type(state, -1) == LUA_TTABLE else {
            throw LuaError(message: "\(path): a plugin must return a table {kind = ..., name = ..., ...}, got \(String(cString: lua_typename(state, lua_type(state, -1))))")
        }
        return try registerPlugin(at: lua_gettop(state), origin: path, overriding: overriding)
    }

    /// Registers the plugin table at stack index `table` (from a file, or `lucerna.register{...}` in a
    /// recipe) and refreshes its kind's Lua global.
    func registerPlugin(at table: Int32, origin path: String, overriding: Bool) throws -> ComponentEntry {
        // Raw reads only: a metamethod of a recipe's table must not raise through Swift frames.
        func push(_ key: String) -> Int32 {
            lua_pushstring(state, key)
            return lua_rawget(state, table)
        }
        func field(_ key: String) -> String? {
            _ = push(key)
            defer { lucerna_pop(state, 1) }
            return lua_type(state, -1) == LUA_TSTRING ? lucerna_tostring(state, -1).map { String(cString: $0) } : nil
        }
        func fail(_ message: String) -> LuaError { LuaError(message: "\(path): \(message)") }
        guard lua_getmetatable(state, table) == 0 else { throw fail("a plugin table must not have a metatable") }
        let kinds = LuaPlugins.contracts.keys.map(\.rawValue).sorted()
        guard let kindName = field("kind") else { throw fail("field kind must be a string, one of \(kinds.joined(separator: ", "))") }
        guard let kind = ComponentKind(anyName: kindName), let methods = LuaPlugins.contracts[kind] else {
            throw fail("kind '\(kindName)' cannot be a Lua plugin\(suggestion(for: kindName, in: kinds)); plugin kinds: \(kinds.joined(separator: ", "))")
        }
        guard let name = field("name"), name.range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression) != nil else {
            throw fail("field name must be a snake_case string such as \"gated\"")
        }
        guard let description = field("description"), !description.isEmpty else { throw fail("field description must be a one-line string") }
        for method in methods + ["init"] {
            _ = push(method)
            defer { lucerna_pop(state, 1) }
            let type = lua_type(state, -1)
            if type == LUA_TFUNCTION || (type == LUA_TNIL && method == "init") { continue }
            throw fail("\(kind.article) \(kind.rawValue) plugin needs a function \(method)(self, ...)\(type == LUA_TNIL ? "" : ", got a \(String(cString: lua_typename(state, type)))")")
        }
        _ = push("defaults")
        let defaults: [String: ConfigValue]
        do { defaults = try LuaConfigValue.options(-1, in: state, path: "\(path): defaults") } catch { throw fail("\(error)") }
        lucerna_pop(state, 1)
        _ = push("options")
        let documentation = (try? LuaConfigValue.options(-1, in: state, path: "options")) ?? [:]
        lucerna_pop(state, 1)
        _ = push("override")
        let overrides = overriding || lua_toboolean(state, -1) != 0
        lucerna_pop(state, 1)
        _ = push("reference")
        let reference = lua_type(state, -1) == LUA_TSTRING ? lucerna_tostring(state, -1).map { String(cString: $0) } ?? "" : ""
        lucerna_pop(state, 1)

        // Instances find the base methods (parameter, module, buffer) through the plugin table.
        lucerna_newtable(state)
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(pluginBaseReference))
        lua_setfield(state, -2, "__index")
        lua_setmetatable(state, table)
        lua_pushvalue(state, table)
        let pluginReference = luaL_ref(state, lucerna_registryindex())
        let options = LuaPlugins.frameworkOptions(kind) + defaults.keys.sorted().map { key -> OptionSpec in
            let value = defaults[key] ?? .null
            let summary: String
            if case .string(let text)? = documentation[key] { summary = text } else { summary = "" }
            return OptionSpec(key, LuaPlugins.optionType(of: value), default: value, summary)
        }
        let label = "\(kind.luaGlobal).\(name) (\(path))"
        let entry = ComponentEntry(kind, name, description, reference: reference, options: options, origin: path) { [weak self] config in
            guard let self else { throw TensorError(label, "the Lua state that loaded this plugin has been closed") }
            return try self.instantiatePlugin(kind: kind, label: label, pluginReference: pluginReference, config: config)
        }
        try registry.register(entry, overriding: overrides)
        LuaComponentsAPI.installKind(kind, in: self)
        return entry
    }

    /// Builds one plugin instance: a Lua table whose metatable leads to the plugin, with `self.options`
    /// set, a Swift module behind it for parameters, and `init(self, options)` run.
    func instantiatePlugin(kind: ComponentKind, label: String, pluginReference: Int32, config: Config) throws -> Any {
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lucerna_newtable(state)                 // the instance
        lucerna_newtable(state)                 // its metatable
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(pluginReference))
        lua_setfield(state, -2, "__index")
        lua_setmetatable(state, -2)
        LuaConfigValue.push(.table(config.values), in: state)
        lua_setfield(state, -2, "options")
        let instance = lua_topointer(state, -1)
        lua_pushvalue(state, -1)
        let reference = luaL_ref(state, lucerna_registryindex())
        let module = kind == .fusion ? LuaPluginFusion(lua: self, reference: reference, label: label)
                                     : LuaPluginModule(lua: self, reference: reference, label: label)
        if let instance { pluginModules[instance] = WeakModule(module: module) }
        if let fusion = module as? LuaPluginFusion, config.has("input_dims") { fusion.inputDimensions = try config.integers("input_dims") }
        lua_getfield(state, -1, "init")
        if lua_type(state, -1) == LUA_TFUNCTION {
            lucerna_pop(state, 1)
            _ = try module.call("init", [.table(config.values)])
        }
        switch kind {
        case .model, .fusion: return module
        case .regularizer: return LuaPluginRegularizer(module: module)
        case .metric: return LuaPluginMetric(module: module)
        case .loss: return LuaPluginLoss(module: module)
        case .attack: return LuaPluginAttack(module: module)
        case .explainer: return LuaPluginExplainer(module: module)
        case .rule: return LuaPluginRule(module: module, name: String(label.dropFirst(kind.luaGlobal.count + 1).prefix { $0 != " " }))
        case .composite: throw TensorError(label, "composites cannot be Lua plugins; build one in a recipe with composites.layer_map{...}")
        case .dataset:
            guard case .table(let fields) = try module.call("load", [.table(config.values)]).first ?? .null else {
                throw TensorError(label, "load must return a table of named tensors {images = ..., labels = ...}")
            }
            var tensors: [(name: String, tensor: Tensor)] = []
            for key in fields.keys.sorted() {
                guard case .tensor(let tensor)? = fields[key] else { throw TensorError(label, "load returned \(key), which is not a tensor") }
                tensors.append((key, tensor))
            }
            return TensorDataset(name: label, tensors: tensors)
        case .optimizer:
            let rate = config.has("lr") ? try config.number("lr") : 1e-3
            let decay = config.has("weight_decay") ? try config.number("weight_decay") : 0
            return try LuaPluginOptimizer(module: module, parameters: config.tensors("params"), learningRate: rate, weightDecay: decay)
        case .schedule:
            let optimizer = try config.object("optimizer", as: Optimizer.self, named: "an optimizer (e.g. optim.adamw{...})")
            return try LearningRateSchedule(.custom(name: label) { base, step in
                switch try module.call("rate", [.number(base), .number(Double(step))]).first ?? .null {
                case .number(let value): return value
                case let other: throw TensorError(label, "rate must return a number, got \(other.kindName)")
                }
            }, optimizer: optimizer)
        }
    }

    /// Installs the table of methods every plugin instance inherits: `self:parameter(name, tensor)`,
    /// `self:buffer(name, tensor)`, `self:module(name, module)`, `self:parameters()`, `self:is_training()`.
    func installPluginBase() {
        lucerna_newtable(state)
        func register(_ name: String, _ body: @escaping (LuaCall, LuaPluginModule) throws -> Int32) {
            setFunction(name) { [weak self] call in
                guard let self, lua_type(call.state, 1) == LUA_TTABLE, let key = lua_topointer(call.state, 1),
                      let module = self.pluginModules[key]?.module else {
                    throw TensorError(name, "call it on a plugin instance, with a colon: self:\(name)(...)")
                }
                return try body(call, module)
            }
        }
        func storeOnSelf(_ call: LuaCall, _ key: String) {
            lua_pushvalue(call.state, 3)
            lua_setfield(call.state, 1, key)
            lua_settop(call.state, 3)
        }
        register("parameter") { call, module in
            let name = try call.string(2), tensor = try call.tensor(3)
            guard tensor.dtype.isFloatingPoint else { throw TensorError("parameter", "\(name) must be a floating-point tensor") }
            module.registerParameter(name, tensor)
            storeOnSelf(call, name)
            return 1
        }
        register("buffer") { call, module in
            let name = try call.string(2)
            module.registerBuffer(name, try call.tensor(3))
            storeOnSelf(call, name)
            return 1
        }
        register("module") { call, module in
            let name = try call.string(2)
            module.registerModule(name, try LuaNNAPI.moduleArgument(call, 3))
            storeOnSelf(call, name)
            return 1
        }
        register("parameters") { call, module in
            LuaNNAPI.pushList(module.parameters(), in: call.state)
            return 1
        }
        register("is_training") { call, module in
            call.push(module.isTraining)
            return 1
        }
        pluginBaseReference = luaL_ref(state, lucerna_registryindex())
    }
}

extension LuaPlugins {
    /// The option type a default value implies.
    static func optionType(of value: ConfigValue) -> OptionType {
        switch value {
        case .number(let number): number.rounded() == number ? .integer : .number
        case .boolean: .boolean
        case .string: .string
        case .tensor: .tensor
        case .list(let items) where !items.isEmpty && items.allSatisfy({
            if case .number(let number) = $0 { return number.rounded() == number }
            return false
        }): .integers
        default: .any
        }
    }
}

/// A component whose behaviour is a Lua plugin instance.
protocol LuaPluginBacked {
    var module: LuaPluginModule { get }
}

/// Holds a plugin module weakly (the Lua instance must not keep its Swift module alive).
struct WeakModule {
    weak var module: LuaPluginModule?
}

/// The Swift module behind a Lua plugin instance: it owns the instance's parameters and calls its
/// methods. A model plugin's `forward(self, x)` is its forward.
class LuaPluginModule: Module {
    weak var lua: LuaState?
    let reference: Int32
    let label: String

    init(lua: LuaState, reference: Int32, label: String) {
        self.lua = lua
        self.reference = reference
        self.label = label
        super.init()
    }

    deinit {
        // During lua_close the state is already going away (and `lua` is nil): nothing to release.
        if let lua { luaL_unref(lua.state, lucerna_registryindex(), reference) }
    }

    override var typeName: String { label }

    override func forward(_ input: Tensor) throws -> Tensor { try tensorResult(call("forward", [.tensor(input)]), "forward") }

    /// Calls `self:method(arguments...)` in Lua; errors carry the plugin's file:line and a traceback.
    func call(_ method: String, _ arguments: [ConfigValue]) throws -> [ConfigValue] {
        guard let lua else { throw TensorError(label, "the Lua state that loaded this plugin has been closed") }
        return try lua.callMethod(reference: reference, method: method, arguments: arguments, label: label)
    }

    func tensorResult(_ results: [ConfigValue], _ method: String) throws -> Tensor {
        guard case .tensor(let tensor)? = results.first else {
            throw TensorError(label, "\(method) must return a tensor, got \(results.first?.kindName ?? "nothing")")
        }
        return tensor
    }
}

/// A fusion plugin: `forward(self, inputs)` receives a Lua array with one tensor per modality.
final class LuaPluginFusion: LuaPluginModule, Fusion {
    /// `input_dims` from the plugin's options, for zero placeholders.
    var inputDimensions: [Int] = []

    func fuse(_ inputs: [Tensor]) throws -> Tensor { try tensorResult(call("forward", [.list(inputs.map { .tensor($0) })]), "forward") }

    /// Missing modalities become zeros `[N, dᵢ]` (dᵢ from `input_dims`) before `forward`.
    func fuse(available inputs: [Tensor?]) throws -> Tensor {
        guard let reference = inputs.compactMap({ $0 }).first else { throw TensorError(label, "every modality is missing") }
        let filled = try inputs.enumerated().map { position, input -> Tensor in
            if let input { return input }
            guard inputDimensions.indices.contains(position) else {
                throw TensorError(label, "modality \(position + 1) is missing and the plugin declares no input_dims for it")
            }
            return try Tensor.zeros([reference.shape[0], inputDimensions[position]], dtype: reference.dtype)
        }
        return try fuse(filled)
    }
    override func forward(_ input: Tensor) throws -> Tensor { try fuse([input]) }
}

/// An optimizer plugin: `update(self, parameter, gradient, state, group)` returns the parameter's new
/// value; `state` is a Lua table kept per parameter across steps and `group` holds `lr`, `weight_decay`
/// and `step`. Runs under no-grad, like every optimizer step.
final class LuaPluginOptimizer: Optimizer, LuaPluginBacked {
    let module: LuaPluginModule
    private var positions: [ObjectIdentifier: Int] = [:]

    init(module: LuaPluginModule, parameters: [Tensor], learningRate: Double, weightDecay: Double) throws {
        self.module = module
        try super.init(parameters: parameters, groups: nil, learningRate: learningRate, weightDecay: weightDecay, name: module.label)
        for (position, parameter) in parameters.enumerated() { positions[ObjectIdentifier(parameter)] = position + 1 }
    }

    override func update(_ parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int,
                         state: inout [String: Tensor]) throws {
        guard let lua = module.lua else { throw TensorError(module.label, "the Lua state that loaded this plugin has been closed") }
        let hyper = ConfigValue.table(["lr": .number(group.learningRate), "weight_decay": .number(group.weightDecay),
                                       "step": .number(Double(step))])
        let result = try lua.callMethod(reference: module.reference, method: "update", arguments: [.tensor(parameter), .tensor(gradient)],
                                        stateKey: positions[ObjectIdentifier(parameter)] ?? 0, trailing: [hyper], label: module.label)
        guard case .tensor(let updated)? = result.first else {
            throw TensorError(module.label, "update must return the new parameter tensor, got \(result.first?.kindName ?? "nothing")")
        }
        guard updated.shape == parameter.shape else {
            throw TensorError(module.label, "update returned \(describe(shape: updated.shape)) for a parameter of \(describe(shape: parameter.shape))")
        }
        try parameter.assign(updated)
    }

    /// The base state plus each parameter's Lua state table: tensors as `p.lua.<field>`, numbers as
    /// scalar float64 tensors `p.lua#<field>` (other values are not checkpointed).
    override func stateTensors() throws -> [(name: String, tensor: Tensor)] {
        var result = try super.stateTensors()
        guard let lua = module.lua else { return result }
        for position in allParameters.indices {
            let fields = try lua.pluginState(reference: module.reference, key: position + 1, label: module.label)
            for key in fields.keys.sorted() {
                switch fields[key] {
                case .tensor(let tensor)?: result.append(("\(position).lua.\(key)", tensor.copy()))
                case .number(let number)?: result.append(("\(position).lua#\(key)", try Tensor(shape: [], doubles: [number])))
                default: continue
                }
            }
        }
        return result
    }

    override func loadStateTensors(_ tensors: [(name: String, tensor: Tensor)]) throws {
        var luaFields: [Int: [String: ConfigValue]] = [:]
        var rest: [(name: String, tensor: Tensor)] = []
        for (name, tensor) in tensors {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, let position = Int(parts[0]), parts[1].hasPrefix("lua") else {
                rest.append((name, tensor))
                continue
            }
            guard allParameters.indices.contains(position) else {
                throw TensorError(module.label, "optimizer state entry '\(name)' for an optimizer of \(allParameters.count) parameters")
            }
            if parts[1].hasPrefix("lua.") {
                luaFields[position, default: [:]][String(parts[1].dropFirst(4))] = .tensor(tensor.copy())
            } else if parts[1].hasPrefix("lua#") {
                luaFields[position, default: [:]][String(parts[1].dropFirst(4))] = .number(try tensor.item())
            } else {
                rest.append((name, tensor))
            }
        }
        try super.loadStateTensors(rest)
        guard let lua = module.lua else { throw TensorError(module.label, "the Lua state that loaded this plugin has been closed") }
        for (position, fields) in luaFields { lua.setPluginState(reference: module.reference, key: position + 1, fields: fields) }
    }
}

/// A regularizer plugin: `penalty(self, ctx)` with ctx fields parameters (name → tensor), inputs,
/// logits, targets, groups, attributions; returns a scalar tensor.
final class LuaPluginRegularizer: Regularizer, ParameterOwner, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func parameters() -> [Tensor] { module.parameters() }

    func penalty(_ context: RegularizerContext) throws -> Tensor {
        var fields: [String: ConfigValue] = [:]
        fields["parameters"] = .table(Dictionary(context.parameters.map { ($0.name, ConfigValue.tensor($0.tensor)) }, uniquingKeysWith: { a, _ in a }))
        for (key, value) in [("inputs", context.inputs), ("logits", context.logits), ("targets", context.targets),
                             ("groups", context.groups), ("attributions", context.attributions)] {
            if let value { fields[key] = .tensor(value) }
        }
        let result = try module.tensorResult(module.call("penalty", [.table(fields)]), "penalty")
        guard result.count == 1 else { throw TensorError(module.label, "penalty must return a scalar tensor, got \(describe(shape: result.shape))") }
        return result
    }
}

/// A metric plugin: `update(self, predictions, targets, groups)`, `compute(self)` → number, `reset(self)`.
final class LuaPluginMetric: Metric, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        _ = try module.call("update", [.tensor(predictions), .tensor(targets), groups.map { .tensor($0) } ?? .null])
    }

    func compute() throws -> Double {
        switch try module.call("compute", []).first ?? .null {
        case .number(let value): return value
        case .tensor(let tensor) where tensor.count == 1: return try tensor.item()
        case let other: throw TensorError(module.label, "compute must return a number, got \(other.kindName)")
        }
    }

    func reset() { _ = try? module.call("reset", []) }
}

/// A loss plugin: `forward(self, prediction, target)` returns a tensor.
final class LuaPluginLoss: Loss, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func loss(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
        try module.tensorResult(module.call("forward", [.tensor(prediction), .tensor(target)]), "forward")
    }
}

/// An attack plugin: `perturb(self, model, inputs, targets)` returns adversarial inputs. The model runs in
/// evaluation mode and gets its mode back afterwards, as with the built-in attacks (torchattacks' default).
final class LuaPluginAttack: Attack, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func perturb(model: Module, inputs: Tensor, targets: Tensor) throws -> Tensor {
        try model.evaluating {
            try module.tensorResult(module.call("perturb", [.object(model), .tensor(inputs), .tensor(targets)]), "perturb")
        }
    }
}

/// An explainer plugin: `attribute(self, model, inputs, targets)` returns attribution maps. The model runs in
/// evaluation mode and gets its mode back afterwards, as with the built-in explainers.
final class LuaPluginExplainer: Explainer, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        try model.evaluating {
            try module.tensorResult(module.call("attribute", [.object(model), .tensor(inputs), targets.map { .tensor($0) } ?? .null]), "attribute")
        }
    }
}

/// An LRP rule plugin: `relevance(self, layer, input, relevance)` returns the relevance at the layer's
/// input. `layer` is a table {name, kind, module, weight, bias} (weight and bias merged with a following
/// BatchNorm when canonised); `layer.module:forward_with(x, weight, bias)` evaluates the layer with other
/// parameters, and `grad` differentiates, as Zennit's rules do. Runs with gradient recording on.
final class LuaPluginRule: RelevanceRule, LuaPluginBacked {
    let module: LuaPluginModule
    let name: String
    init(module: LuaPluginModule, name: String) {
        self.module = module
        self.name = name
    }

    func inputRelevance(layer: RelevanceLayer, input: Tensor, outputRelevance: Tensor) throws -> Tensor {
        let description: [String: ConfigValue] = [
            "name": .string(layer.name), "kind": .string(layer.module.typeName), "module": .object(layer.module),
            "weight": layer.weight.map { .tensor($0.detach()) } ?? .null, "bias": layer.bias.map { .tensor($0.detach()) } ?? .null,
        ]
        let relevance = try GradientMode.with(enabled: true) {
            try module.tensorResult(module.call("relevance", [.table(description), .tensor(input.detach()), .tensor(outputRelevance.detach())]), "relevance")
        }
        guard relevance.shape == input.shape else {
            throw TensorError(module.label, "relevance returned \(describe(shape: relevance.shape)) for layer \(layer.name) with input \(describe(shape: input.shape))")
        }
        return relevance.detach()
    }
}
