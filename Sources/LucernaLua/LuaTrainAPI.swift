import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
import LucernaRun
import LucernaTrain

/// A Lua function kept in the registry while Swift holds it (a `train{}` callback).
final class LuaFunctionReference {
    weak var lua: LuaState?
    let reference: Int32
    let label: String

    /// References the function at `index` of the running thread's stack.
    init(_ lua: LuaState, at index: Int32, label: String) {
        self.lua = lua
        self.label = label
        lua_pushvalue(lua.state, index)
        reference = luaL_ref(lua.state, lucerna_registryindex())
    }

    deinit { if let lua { luaL_unref(lua.state, lucerna_registryindex(), reference) } }

    /// Calls the function with `arguments`; returns its first result.
    func call(_ arguments: [ConfigValue]) throws -> ConfigValue {
        guard let lua else { throw TensorError(label, "the Lua state has been closed") }
        let state = lua.state
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(reference))
        for argument in arguments { LuaConfigValue.push(argument, in: state) }
        try lua.protectedCall(arguments: Int32(arguments.count), results: 1)
        return try LuaConfigValue.read(-1, in: state, path: "\(label) result")
    }

    /// Calls the function and requires a tensor back.
    func tensor(_ arguments: [ConfigValue]) throws -> Tensor {
        guard case .tensor(let tensor) = try call(arguments) else { throw TensorError(label, "must return a tensor") }
        return tensor
    }
}

/// `train{...}` and `evaluate{...}` in Lua: the spec table is read (its functions kept as references and
/// turned into the run layer's hooks) and handed to ``Experiment``, which does the work.
enum LuaTrainAPI {
    static func install(in lua: LuaState) {
        register("train", usage: "train{model = ..., data = ..., epochs = ...}", Experiment.trainOptions, in: lua) {
            [unowned lua] spec, functions in
            try Experiment.train(spec, hooks: hooks(functions), components: lua.components)
        }
        register(
            "train_gan", usage: "train_gan{generator = ..., critic = ..., data = ...}", Experiment.trainGANOptions,
            in: lua
        ) { [unowned lua] spec, functions in
            let onMetrics = functions["on_metrics"].map { function in
                { (step: Int) throws -> [String: Double] in
                    switch try function.call([.number(Double(step))]) {
                    case .null: return [:]
                    case .table(let fields):
                        return try fields.mapValues { value in
                            guard case .number(let number) = value else {
                                throw TensorError(
                                    "train_gan on_metrics", "must return a table of numbers, got \(value.kindName)")
                            }
                            return number
                        }
                    case let other:
                        throw TensorError(
                            "train_gan on_metrics", "must return a table of numbers or nil, got \(other.kindName)")
                    }
                }
            }
            let groups = functions["fairness.groups"].map { function in
                { (images: Tensor) throws -> Tensor in try function.tensor([.tensor(images)]) }
            }
            return try Experiment.trainGAN(spec, onMetrics: onMetrics, groups: groups, components: lua.components)
        }
        register("generate", usage: "generate{generator = ..., per_class = 100}", Experiment.generateOptions, in: lua) {
            spec, _ in try Experiment.generate(spec)
        }
        register(
            "evaluate", usage: "evaluate{model = ..., data = ..., metrics = {...}}", Experiment.evaluateOptions, in: lua
        ) { [unowned lua] spec, functions in
            try Experiment.evaluate(spec, hooks: hooks(functions), components: lua.components)
        }
    }

    /// Registers the global `name(table)`: the one spec table is read (options checked against `options`, its
    /// functions kept as references) and `body`'s result pushed.
    private static func register(
        _ name: String, usage: String, _ options: [OptionSpec], in lua: LuaState,
        _ body: @escaping ([String: ConfigValue], [String: LuaFunctionReference]) throws -> ConfigValue
    ) {
        lua.register(name) { [unowned lua] call in
            call.reads(upTo: 1)
            guard call.count == 1, lua_type(call.state, 1) == LUA_TTABLE else {
                throw TensorError(name, "expected one table: \(usage)")
            }
            let (spec, functions) = try readSpec(call, lua: lua, accepted: options.map(\.name), function: name)
            LuaConfigValue.push(try body(spec, functions), in: call.state)
            return 1
        }
    }

    /// The run layer's hooks calling the spec's Lua functions.
    static func hooks(_ functions: [String: LuaFunctionReference]) -> Experiment.Hooks {
        var hooks = Experiment.Hooks()
        if let function = functions["forward"] {
            hooks.forward = { batch in try function.tensor([.table(batch.mapValues(ConfigValue.tensor))]) }
        }
        if let function = functions["loss"] {
            hooks.loss = { logits, batch in
                try function.tensor([.tensor(logits), .table(batch.mapValues(ConfigValue.tensor))])
            }
        }
        if let terms = functions["terms"] {
            hooks.terms = { batch, logits in
                let result = try terms.call([.table(batch.mapValues(ConfigValue.tensor)), .tensor(logits)])
                guard case .table(let fields) = result else {
                    if case .null = result { return [] }
                    throw TensorError(
                        "train terms", "must return a table {name = scalar tensor}, got \(result.kindName)")
                }
                return try fields.keys.sorted().map { name in
                    guard case .tensor(let tensor)? = fields[name] else {
                        throw TensorError("train terms", "\(name) must be a tensor")
                    }
                    return (name, tensor)
                }
            }
        }
        if let callback = functions["callbacks.on_step_end"] {
            hooks.onStepEnd = { info in
                _ = try callback.call([
                    .table([
                        "epoch": .number(Double(info.epoch)), "step": .number(Double(info.step)),
                        "global_step": .number(Double(info.globalStep)), "loss": .number(info.loss),
                        "batch_size": .number(Double(info.batchSize)), "lr": .number(info.learningRate),
                        "terms": .table(info.terms.mapValues(ConfigValue.number)),
                    ])
                ])
            }
        }
        if let callback = functions["callbacks.on_epoch_end"] {
            hooks.onEpochEnd = { record in
                if case .boolean(true) = try callback.call([.table(record)]) { return true }
                return false
            }
        }
        return hooks
    }

    /// The option tables whose named fields may be functions (`train_gan{fairness = {groups = function ...}}`).
    static let nestedFunctions: [String: Set<String>] = ["fairness": ["groups"]]

    /// The spec's values, with its functions (`forward`, `loss`, `terms`, `on_metrics`, `callbacks.*` and the
    /// ``nestedFunctions``) kept as references.
    static func readSpec(
        _ call: LuaCall, lua: LuaState, accepted: [String] = Experiment.trainOptions.map(\.name),
        function: String = "train"
    )
        throws -> ([String: ConfigValue], [String: LuaFunctionReference])
    {
        let state = call.state
        var values: [String: ConfigValue] = [:]
        var functions: [String: LuaFunctionReference] = [:]
        lua_pushnil(state)
        while lua_next(state, 1) != 0 {
            defer { lucerna_pop(state, 1) }
            guard lua_type(state, -2) == LUA_TSTRING, let key = lucerna_tostring(state, -2).map({ String(cString: $0) })
            else {
                throw TensorError(function, "options must be named (\(function){model = ..., data = ...})")
            }
            guard accepted.contains(key) else {
                throw TensorError(
                    function,
                    "unknown option '\(key)'\(suggestion(for: key, in: accepted)); accepted: \(accepted.joined(separator: ", "))"
                )
            }
            switch (key, lua_type(state, -1)) {
            case ("forward", LUA_TFUNCTION), ("loss", LUA_TFUNCTION), ("terms", LUA_TFUNCTION),
                ("on_metrics", LUA_TFUNCTION):
                functions[key] = LuaFunctionReference(lua, at: -1, label: "\(function) \(key)")
            case ("forward", _), ("terms", _), ("on_metrics", _):
                throw TensorError(function, "\(key) must be a function")
            case ("callbacks", LUA_TTABLE):
                let table = lua_absindex(state, -1)
                lua_pushnil(state)
                while lua_next(state, table) != 0 {
                    defer { lucerna_pop(state, 1) }
                    let name =
                        lua_type(state, -2) == LUA_TSTRING
                        ? lucerna_tostring(state, -2).map { String(cString: $0) } ?? "?" : "?"
                    guard Experiment.callbackNames.contains(name) else {
                        throw TensorError(
                            "train",
                            "unknown callback '\(name)'\(suggestion(for: name, in: Experiment.callbackNames)); accepted: \(Experiment.callbackNames.joined(separator: ", "))"
                        )
                    }
                    guard lua_type(state, -1) == LUA_TFUNCTION else {
                        throw TensorError("train", "callbacks.\(name) must be a function")
                    }
                    functions["callbacks.\(name)"] = LuaFunctionReference(lua, at: -1, label: "train callbacks.\(name)")
                }
            case ("callbacks", _):
                throw TensorError(
                    "train", "callbacks must be a table {on_step_end = function ..., on_epoch_end = function ...}")
            case (_, LUA_TTABLE) where nestedFunctions[key] != nil:
                // An option table that may hold functions (nestedFunctions): those are kept as references
                // named "<option>.<field>", the rest read as values.
                let slots = nestedFunctions[key] ?? []
                let table = lua_absindex(state, -1)
                var fields: [String: ConfigValue] = [:]
                lua_pushnil(state)
                while lua_next(state, table) != 0 {
                    defer { lucerna_pop(state, 1) }
                    guard lua_type(state, -2) == LUA_TSTRING,
                        let name = lucerna_tostring(state, -2).map({ String(cString: $0) })
                    else { throw TensorError(function, "\(key) options must be named") }
                    if slots.contains(name), lua_type(state, -1) == LUA_TFUNCTION {
                        functions["\(key).\(name)"] = LuaFunctionReference(
                            lua, at: -1, label: "\(function) \(key).\(name)")
                    } else {
                        fields[name] = try LuaConfigValue.read(-1, in: state, path: "\(function) \(key).\(name)")
                    }
                }
                values[key] = .table(fields)
            default:
                values[key] = try LuaConfigValue.read(-1, in: state, path: "train \(key)")
            }
        }
        return (values, functions)
    }
}
