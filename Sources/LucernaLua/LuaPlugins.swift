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
    /// Plugin folders in load order: `Plugins/` of the working directory, `~/.lucerna/plugins`, then each
    /// folder of `LUCERNA_PLUGIN_PATH` (colon-separated).
    public static func defaultFolders() -> [String] {
        var folders = ["Plugins"]
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty {
            folders.append("\(home)/.lucerna/plugins")
        }
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
            let names = try? manager.contentsOfDirectory(atPath: folder)
        else { return [] }
        var result: [String] = []
        for name in names.sorted() {
            let path = "\(folder)/\(name)"
            if name.hasSuffix(".lua") {
                result.append(path)
            } else if manager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                result += ((try? manager.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".lua") }
                    .sorted().map { "\(path)/\($0)" }
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
        let source = try LuaState.source(ofFile: path, role: "plugin")
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        try evaluate(source: source, name: path, results: 1)
        guard lua_type(state, -1) == LUA_TTABLE else {
            throw LuaError(
                message:
                    "\(path): a plugin must return a table {kind = ..., name = ..., ...}, got \(String(cString: lua_typename(state, lua_type(state, -1))))"
            )
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
        let kinds = LuaKindBinding.pluginKinds
        guard let kindName = field("kind") else {
            throw fail("field kind must be a string, one of \(kinds.joined(separator: ", "))")
        }
        guard let kind = ComponentKind(anyName: kindName), let binding = LuaKindBinding.of(kind), binding.adapter != nil
        else {
            throw fail(
                "kind '\(kindName)' cannot be a Lua plugin\(suggestion(for: kindName, in: kinds)); plugin kinds: \(kinds.joined(separator: ", "))"
            )
        }
        guard let name = field("name"), name.range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression) != nil else {
            throw fail("field name must be a snake_case string such as \"gated\"")
        }
        guard let description = field("description"), !description.isEmpty else {
            throw fail("field description must be a one-line string")
        }
        func isFunction(_ method: String) -> Bool {
            _ = push(method)
            defer { lucerna_pop(state, 1) }
            return lua_type(state, -1) == LUA_TFUNCTION
        }
        _ = push("init")
        let initType = lua_type(state, -1)
        lucerna_pop(state, 1)
        guard initType == LUA_TNIL || initType == LUA_TFUNCTION else {
            throw fail(
                "init must be a function init(self, opts), got a \(String(cString: lua_typename(state, initType)))")
        }
        // The first set of methods the table defines in full; the message names the first set.
        guard binding.methods.contains(where: { $0.allSatisfy(isFunction) }) else {
            let missing = binding.methods.first?.first { !isFunction($0) } ?? "?"
            _ = push(missing)
            let type = lua_type(state, -1)
            lucerna_pop(state, 1)
            let alternatives =
                binding.methods.count > 1
                ? " (or one of: \(binding.methods.dropFirst().map { $0.joined(separator: ", ") }.joined(separator: "; ")))"
                : ""
            throw fail(
                "\(kind.article) \(kind.name) plugin needs a function \(missing)(self, ...)\(alternatives)\(type == LUA_TNIL ? "" : ", got a \(String(cString: lua_typename(state, type)))")"
            )
        }
        let definedMethods = Set(binding.methods.joined().filter(isFunction))
        _ = push("defaults")
        let defaults: [String: ConfigValue]
        do { defaults = try LuaConfigValue.options(-1, in: state, path: "\(path): defaults") } catch {
            throw fail("\(error)")
        }
        lucerna_pop(state, 1)
        _ = push("options")
        let documentation = (try? LuaConfigValue.options(-1, in: state, path: "options")) ?? [:]
        lucerna_pop(state, 1)
        _ = push("override")
        let overrides = overriding || lua_toboolean(state, -1) != 0
        lucerna_pop(state, 1)
        _ = push("reference")
        let reference =
            lua_type(state, -1) == LUA_TSTRING ? lucerna_tostring(state, -1).map { String(cString: $0) } ?? "" : ""
        lucerna_pop(state, 1)

        // Instances find the base methods (parameter, module, buffer) through the plugin table.
        lucerna_newtable(state)
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(pluginBaseReference))
        lua_setfield(state, -2, "__index")
        lua_setmetatable(state, table)
        lua_pushvalue(state, table)
        let pluginReference = luaL_ref(state, lucerna_registryindex())
        let options =
            binding.pluginOptions(definedMethods)
            + defaults.keys.sorted().map { key -> OptionSpec in
                let value = defaults[key] ?? .null
                let summary: String
                if case .string(let text)? = documentation[key] { summary = text } else { summary = "" }
                return OptionSpec(key, LuaPlugins.optionType(of: value), default: value, summary)
            }
        let label = "\(kind.luaGlobal).\(name) (\(path))"
        let entry = ComponentEntry(
            kind: kind, name: name, summary: description, reference: reference, options: options, origin: path
        ) {
            [weak self] config in
            guard let self else { throw TensorError(label, "the Lua state that loaded this plugin has been closed") }
            return try self.instantiatePlugin(
                binding: binding, name: name, methods: definedMethods, label: label, pluginReference: pluginReference,
                config: config)
        }
        try registry.register(entry, overriding: overrides)
        LuaComponentsAPI.installKind(kind, in: self)
        return entry
    }

    /// Builds one plugin instance: a Lua table whose metatable leads to the plugin, with `self.options`
    /// set, a Swift module behind it for parameters, and `init(self, options)` run; the kind's adapter makes
    /// the component from it.
    func instantiatePlugin(
        binding: LuaKindBinding, name: String, methods: Set<String>, label: String, pluginReference: Int32,
        config: Config
    ) throws -> Any {
        guard let adapter = binding.adapter else {
            throw TensorError(label, "\(binding.kind.name) components cannot be Lua plugins")
        }
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lucerna_newtable(state)  // the instance
        lucerna_newtable(state)  // its metatable
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(pluginReference))
        lua_setfield(state, -2, "__index")
        lua_setmetatable(state, -2)
        LuaConfigValue.push(.table(config.values), in: state)
        lua_setfield(state, -2, "options")
        let instance = lua_topointer(state, -1)
        lua_pushvalue(state, -1)
        let reference = luaL_ref(state, lucerna_registryindex())
        let module = binding.moduleType.init(lua: self, reference: reference, label: label)
        if let instance { pluginModules[instance] = WeakModule(module: module) }
        guard lucerna_protected_getfield(state, -1, "init") == LUA_OK else {
            throw LuaError(message: "\(label): looking up init failed: \(popMessage(count: 1))")
        }
        if lua_type(state, -1) == LUA_TFUNCTION {
            lucerna_pop(state, 1)
            _ = try module.call("init", [.table(config.values)])
        }
        return try adapter(
            LuaPluginInstance(module: module, config: config, label: label, name: name, methods: methods))
    }

}

extension LuaPlugins {
    /// Installs the table of methods every plugin instance inherits: `self:parameter(name, tensor)`,
    /// `self:buffer(name, tensor)`, `self:module(name, module)`, `self:parameters()`, `self:is_training()`.
    static func installBase(in lua: LuaState) {
        lucerna_newtable(lua.state)
        func register(_ name: String, _ body: @escaping (LuaCall, LuaPluginModule) throws -> Int32) {
            lua.setFunction(name) { [weak lua] call in
                call.reads(upTo: 1)
                guard let lua, lua_type(call.state, 1) == LUA_TTABLE, let key = lua_topointer(call.state, 1),
                    let module = lua.pluginModules[key]?.module
                else {
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
            let name = try call.string(2)
            let tensor = try call.tensor(3)
            guard tensor.dtype.isFloatingPoint else {
                throw TensorError("parameter", "\(name) must be a floating-point tensor")
            }
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
        lua.pluginBaseReference = luaL_ref(lua.state, lucerna_registryindex())
    }

    /// The option type a default value implies.
    static func optionType(of value: ConfigValue) -> OptionType {
        switch value {
        case .number(let number): number.rounded() == number ? .integer : .number
        case .boolean: .boolean
        case .string: .string
        case .tensor: .tensor
        case .list(let items)
        where !items.isEmpty
            && items.allSatisfy({
                if case .number(let number) = $0 { return number.rounded() == number }
                return false
            }):
            .integers
        default: .any
        }
    }
}
