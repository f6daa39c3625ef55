import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
import LucernaRun

/// An error from a Lua chunk (syntax, runtime, or an engine error raised inside a Lucerna function),
/// with Lua's `file:line:` position and a traceback.
public struct LuaError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A Swift function callable from Lua. It reads its arguments from `LuaCall` and returns the number of
/// results it pushed; a thrown error becomes a Lua error at the caller's line.
public typealias LuaFunction = (LuaCall) throws -> Int32

/// Holds a Swift closure behind a Lua C closure (as its first upvalue, a light userdata).
final class FunctionBox {
    let name: String
    let body: LuaFunction
    init(name: String, body: @escaping LuaFunction) {
        self.name = name
        self.body = body
    }
}

/// Runs the Swift closure of the C closure being called. Never raises: errors are pushed as a message
/// and reported with -1, and the C trampoline raises after this frame has returned.
@_cdecl("lucerna_swift_dispatch")
func luaSwiftDispatch(_ state: OpaquePointer?) -> Int32 {
    guard let state, let raw = lua_touserdata(state, lucerna_upvalueindex(1)) else { return 0 }
    let box = Unmanaged<FunctionBox>.fromOpaque(raw).takeUnretainedValue()
    do {
        let call = LuaCall(state: state, name: box.name)
        let results = try box.body(call)
        // Metamethods get what Lua passes them (__len and __unm receive their operand twice).
        if !box.name.hasPrefix("__"), let ignored = call.ignoredArgument() {
            throw ScriptError(
                box.name,
                "takes \(call.highestRead) argument\(call.highestRead == 1 ? "" : "s")\(call.highestRead > 0 && lua_type(state, 1) == LUA_TUSERDATA ? " (the first is the object a method is called on)" : ""), but argument \(ignored) (\(call.typeName(ignored))) was given"
            )
        }
        return results
    } catch {
        luaL_where(state, 1)  // "file:line:" of the Lua caller
        let position = lucerna_tostring(state, -1).map { String(cString: $0) } ?? ""
        lucerna_pop(state, 1)
        lua_pushstring(state, error is LuaError ? "\(error)" : "\(position)\(error)")
        return -1
    }
}

/// A Lua 5.4 interpreter with Lucerna's API installed.
public final class LuaState {
    /// The main thread.
    let mainState: OpaquePointer
    /// The thread to work on: the one (main or coroutine) whose Lucerna function is running, else the main
    /// thread. Values a script passes live on its thread's stack, and a callback must run on the thread that
    /// called into Swift, never on a thread suspended in `coroutine.resume`.
    var state: OpaquePointer { limits.pointee.running ?? mainState }
    private var functions: [FunctionBox] = []

    /// Where data sets are looked for first (`--data`); then `LUCERNA_DATA`, `./data`, system packages.
    public let dataDirectory: String?

    /// The components this state can build: the built-ins plus the Lua plugins it has loaded.
    public let registry: Registry

    /// Plugin instances (Lua tables) to the Swift modules behind them.
    var pluginModules: [UnsafeRawPointer: WeakModule] = [:]
    /// Registry reference of the table of methods plugin instances inherit.
    var pluginBaseReference: Int32 = 0

    /// The sandbox, when the state runs untrusted recipes.
    public let sandbox: Sandbox?
    /// Instruction and memory accounting shared with the C allocator and hook.
    let limits: UnsafeMutablePointer<lucerna_limits>
    /// Ends the script at the sandbox's time limit, if it has one.
    var watchdog: SandboxWatchdog?
    /// The run this state belongs to (run folder, config overrides, metrics), if any.
    public internal(set) var run: RunContext?
    /// A digest of every chunk of Lua source this state has run (recipe and plugins), in order: part of the
    /// key under which a run's evaluations are memoised.
    var sourceDigest = ContentDigest()

    /// The run layer's component builder for this state: its registry and run folder, and the script's
    /// identity for memoised evaluations (a module is scripted when it or a child is a Lua plugin).
    var components: ComponentBuilder {
        ComponentBuilder(
            registry: registry, run: run,
            script: ScriptIdentity(sourceDigest: sourceDigest.hex, isScripted: Self.isScripted))
    }

    static func isScripted(_ module: Module) -> Bool {
        module is LuaPluginModule || module.children.contains { isScripted($0.module) }
    }

    /// Creates a state with the standard libraries and Lucerna's API; with `sandbox`, the escapes are
    /// removed and the limits enforced.
    public init(
        dataDirectory: String? = nil, registry: Registry = .standard(), sandbox: Sandbox? = nil,
        run: RunContext? = nil
    ) throws {
        self.dataDirectory = dataDirectory
        if let dataDirectory { DataLocation.root = dataDirectory }
        self.registry = registry
        self.sandbox = sandbox
        self.run = run
        limits = .allocate(capacity: 1)
        limits.initialize(to: lucerna_limits())
        guard let state = lucerna_newstate(limits) else {
            limits.deallocate()
            throw LuaError(message: "lua: cannot create a state (out of memory)")
        }
        mainState = state
        lua_atpanic(state, lucerna_panic)
        luaL_openlibs(state)
        try LuaTensorAPI.install(in: self)
        LuaNNAPI.install(in: self)
        LuaObjects.install(in: self)
        LuaComponentsAPI.install(in: self)
        LuaTrainAPI.install(in: self)
        LuaRevealAPI.install(in: self)
        LuaPlugins.installBase(in: self)
        LuaRunAPI.install(in: self)
        if let sandbox { try LuaSandboxAPI.install(sandbox, in: self) }
    }

    deinit {
        watchdog?.stop()
        // Finalizers of Swift objects must run at close, also after a limit stopped the script.
        lua_sethook(mainState, nil, 0, 0)
        lucerna_untrip(limits)
        limits.pointee.memoryCap = 0
        limits.pointee.running = nil
        if sandbox != nil {
            TensorStorage.admission = nil
            Interruption.clear()
        }
        lua_close(mainState)
        limits.deallocate()
    }

    /// The limit that stopped the script (`sandbox: ... exceeded`), once one did: from then on every Lua
    /// instruction and every Lucerna function fails with it.
    public var limitMessage: String? {
        guard lucerna_tripped(limits) != 0 else { return nil }
        return String(cString: lucerna_limit_message(limits))
    }

    /// Bytes the Lua heap holds now.
    public var luaHeapBytes: Int { Int(limits.pointee.luaBytes) }

    /// Pushes a Swift function as a Lua function.
    func push(function name: String, _ body: @escaping LuaFunction) {
        let box = FunctionBox(name: name, body: body)
        functions.append(box)  // the state owns the boxes for its lifetime
        lua_pushlightuserdata(state, Unmanaged.passUnretained(box).toOpaque())
        lua_pushcclosure(state, lucerna_trampoline, 1)
    }

    /// Sets a global Swift function.
    public func register(_ name: String, _ body: @escaping LuaFunction) {
        push(function: name, body)
        lucerna_rawsetglobal(state, name)
    }

    /// Sets `table[name] = function` for the table on top of the stack.
    func setFunction(_ name: String, _ body: @escaping LuaFunction) {
        push(function: name, body)
        lua_setfield(state, -2, name)
    }

    /// Runs a chunk of Lua source; `name` appears in error positions (`name:line:`).
    public func run(source: String, name: String) throws {
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        try evaluate(source: source, name: name, results: 0)
    }

    /// Loads (text only, never bytecode) and runs a chunk under a traceback handler, leaving `results`
    /// values on the stack.
    func evaluate(source: String, name: String, results: Int32) throws {
        sourceDigest.update(name)
        sourceDigest.update(source)
        let status = source.withCString { lucerna_loadbuffer(state, $0, source.utf8.count, "@\(name)") }
        guard status == LUA_OK else { throw LuaError(message: popMessage(count: 1)) }
        try protectedCall(arguments: 0, results: results)
    }

    /// Calls the function below `arguments` values on the stack, protected, with a traceback handler.
    func protectedCall(arguments: Int32, results: Int32) throws {
        let function = lua_gettop(state) - arguments
        if let limitMessage {
            lua_settop(state, function - 1)
            throw LuaError(message: limitMessage)
        }
        lua_pushcclosure(state, lucerna_message_handler, 0)
        lua_rotate(state, function, 1)  // handler below the function
        guard lucerna_pcall(state, arguments, results, function) == LUA_OK else {
            var message = popMessage(count: 1)
            lua_settop(state, function - 1)
            // A limit's message stands whatever the script made of the error (a __close handler may replace it).
            if let limitMessage {
                if !message.contains(limitMessage) {
                    // Lua's own out-of-memory error has no position: the hook's last one stands in.
                    let line = limits.pointee.line
                    message =
                        line > 0
                        ? "\(String(cString: lucerna_limit_source(limits))):\(line): \(limitMessage)" : limitMessage
                }
                Interruption.request(limitMessage)  // engine work the script started stops too
            }
            throw LuaError(message: message)
        }
        lua_rotate(state, function, -1)  // the handler to the top, then drop it
        lucerna_pop(state, 1)
    }

    /// Calls `instance:method(arguments...)` for the instance table behind `reference`; returns its
    /// first result (or nothing) as config values.
    /// With `stateKey`, a per-key table kept in the instance (`self.__state[key]`) is passed after
    /// `arguments`, then `trailing`.
    func callMethod(
        reference: Int32, method: String, arguments: [ConfigValue], stateKey: Int? = nil,
        trailing: [ConfigValue] = [], label: String
    ) throws -> [ConfigValue] {
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(reference))
        let instance = lua_gettop(state)
        guard lucerna_protected_getfield(state, instance, method) == LUA_OK else {
            throw LuaError(message: "\(label): looking up method \(method) failed: \(popMessage(count: 1))")
        }
        guard lua_type(state, -1) == LUA_TFUNCTION else { throw ScriptError(label, "has no method \(method)") }
        lua_pushvalue(state, instance)
        for argument in arguments { LuaConfigValue.push(argument, in: state) }
        if let stateKey { pushStateTable(instance: instance, key: stateKey) }
        for argument in trailing { LuaConfigValue.push(argument, in: state) }
        let count = Int32(arguments.count + trailing.count + (stateKey == nil ? 0 : 1)) + 1
        try protectedCall(arguments: count, results: 1)
        return [try LuaConfigValue.read(-1, in: state, path: "\(label) \(method) result")]
    }

    /// Pushes `instance.__state[key]` (the instance at stack index `instance`), creating both tables when
    /// missing; leaves exactly that table on top.
    private func pushStateTable(instance: Int32, key: Int) {
        lua_pushstring(state, "__state")
        if lua_rawget(state, instance) != LUA_TTABLE {
            lucerna_pop(state, 1)
            lucerna_newtable(state)
            lua_pushstring(state, "__state")
            lua_pushvalue(state, -2)
            lua_rawset(state, instance)
        }
        if lua_rawgeti(state, -1, lua_Integer(key)) != LUA_TTABLE {
            lucerna_pop(state, 1)
            lucerna_newtable(state)
            lua_pushvalue(state, -1)
            lua_rawseti(state, -3, lua_Integer(key))
        }
        lua_rotate(state, -2, 1)  // the per-key table above the __state table, then drop the latter
        lucerna_pop(state, 1)
    }

    /// The per-key state table `instance.__state[key]` of a plugin instance (what `callMethod(stateKey:)`
    /// passes), as config values; empty when the key has no state yet.
    func pluginState(reference: Int32, key: Int, label: String) throws -> [String: ConfigValue] {
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(reference))
        lua_pushstring(state, "__state")
        guard lua_rawget(state, -2) == LUA_TTABLE, lua_rawgeti(state, -1, lua_Integer(key)) == LUA_TTABLE else {
            return [:]
        }
        guard case .table(let fields) = try LuaConfigValue.read(-1, in: state, path: "\(label) state") else {
            return [:]
        }
        return fields
    }

    /// Sets `instance.__state[key][field] = value` for each entry, creating the tables as needed.
    func setPluginState(reference: Int32, key: Int, fields: [String: ConfigValue]) {
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(reference))
        pushStateTable(instance: lua_gettop(state), key: key)
        for (field, value) in fields {
            LuaConfigValue.push(value, in: state)
            lua_setfield(state, -2, field)
        }
    }

    /// The text of the Lua file at `path`; `role` (recipe, plugin, file) names it when it cannot be read.
    static func source(ofFile path: String, role: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LuaError(message: "\(path): cannot read the \(role)")
        }
        guard let source = String(data: data, encoding: .utf8) else {
            throw LuaError(message: "\(path): not UTF-8 text")
        }
        return source
    }

    /// Runs a Lua file.
    public func run(file path: String) throws {
        try run(source: Self.source(ofFile: path, role: "recipe"), name: path)
    }

    /// Runs a Lua file that returns a value (a claims file, a table of settings) and gives that value.
    public func value(ofFile path: String) throws -> ConfigValue {
        let source = try Self.source(ofFile: path, role: "file")
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        try evaluate(source: source, name: path, results: 1)
        return try LuaConfigValue.read(-1, in: state, path: path)
    }

    /// The error value on top as text; pops `count` values.
    func popMessage(count: Int32) -> String {
        let message: String
        if lua_type(state, -1) == LUA_TSTRING || lua_type(state, -1) == LUA_TNUMBER {
            message = lucerna_tostring(state, -1).map { String(cString: $0) } ?? "(error)"
        } else {
            message = "(error object is a \(String(cString: lua_typename(state, lua_type(state, -1)))), not a message)"
        }
        lucerna_pop(state, count)
        return message
    }

    /// A global's value as a number, for tests and tools.
    public func number(global name: String) -> Double? {
        lucerna_rawgetglobal(state, name)
        defer { lucerna_pop(state, 1) }
        var isNumber: Int32 = 0
        let value = lua_tonumberx(state, -1, &isNumber)
        return isNumber != 0 ? value : nil
    }

    /// A global's value as a string, for tests and tools.
    public func string(global name: String) -> String? {
        lucerna_rawgetglobal(state, name)
        defer { lucerna_pop(state, 1) }
        return lua_type(state, -1) == LUA_TSTRING ? lucerna_tostring(state, -1).map { String(cString: $0) } : nil
    }

    /// Sets a global to a tensor, for tests and tools.
    public func set(global name: String, to tensor: Tensor) {
        LuaTensorAPI.push(tensor, in: state)
        lucerna_rawsetglobal(state, name)
    }

    /// Compiles `source` without running it: nil when it is valid Lua, else the syntax error.
    public func syntaxError(in source: String, name: String) -> String? {
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        let status = source.withCString { lucerna_loadbuffer(state, $0, source.utf8.count, "=\(name)") }
        return status == LUA_OK ? nil : popMessage(count: 1)
    }

    /// A global's value as a tensor, for tests and tools.
    public func tensor(global name: String) -> Tensor? {
        lucerna_rawgetglobal(state, name)
        defer { lucerna_pop(state, 1) }
        return LuaTensorAPI.tensor(at: -1, in: state)
    }
}
