import CLua
import Foundation
import LucernaCore

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
        return try box.body(LuaCall(state: state, name: box.name))
    } catch {
        luaL_where(state, 1)   // "file:line:" of the Lua caller
        let position = lucerna_tostring(state, -1).map { String(cString: $0) } ?? ""
        lucerna_pop(state, 1)
        lua_pushstring(state, error is LuaError ? "\(error)" : "\(position)\(error)")
        return -1
    }
}

/// A Lua 5.4 interpreter with Lucerna's API installed.
public final class LuaState {
    let state: OpaquePointer
    private var functions: [FunctionBox] = []

    /// Where data sets are looked for first (`--data`); then `LUCERNA_DATA`, `./data`, system packages.
    public let dataDirectory: String?

    /// Creates a state with the standard libraries and Lucerna's API.
    public init(dataDirectory: String? = nil) throws {
        self.dataDirectory = dataDirectory
        guard let state = luaL_newstate() else { throw LuaError(message: "lua: cannot create a state (out of memory)") }
        self.state = state
        lua_atpanic(state, lucerna_panic)
        luaL_openlibs(state)
        try LuaTensorAPI.install(in: self)
        LuaNNAPI.install(in: self)
        LuaDataAPI.install(in: self)
    }

    deinit { lua_close(state) }

    /// Pushes a Swift function as a Lua function.
    func push(function name: String, _ body: @escaping LuaFunction) {
        let box = FunctionBox(name: name, body: body)
        functions.append(box)   // the state owns the boxes for its lifetime
        lua_pushlightuserdata(state, Unmanaged.passUnretained(box).toOpaque())
        lua_pushcclosure(state, lucerna_trampoline, 1)
    }

    /// Sets a global Swift function.
    public func register(_ name: String, _ body: @escaping LuaFunction) {
        push(function: name, body)
        lua_setglobal(state, name)
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
        // 1. A message handler that appends a traceback.
        lua_getglobal(state, "debug")
        lua_getfield(state, -1, "traceback")
        lua_rotate(state, -2, -1)
        lucerna_pop(state, 1)
        let handler = lua_gettop(state)
        // 2. Load as text only (no precompiled bytecode) and call protected.
        let status = source.withCString { lucerna_loadbuffer(state, $0, source.utf8.count, "@\(name)") }
        guard status == LUA_OK else { throw LuaError(message: popMessage()) }
        guard lucerna_pcall(state, 0, 0, handler) == LUA_OK else { throw LuaError(message: popMessage()) }
    }

    /// Runs a Lua file.
    public func run(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LuaError(message: "\(path): cannot read the recipe")
        }
        guard let source = String(data: data, encoding: .utf8) else {
            throw LuaError(message: "\(path): not UTF-8 text")
        }
        try run(source: source, name: path)
    }

    private func popMessage() -> String {
        let message = luaL_tolstring(state, -1, nil).map { String(cString: $0) } ?? "(error object is not a string)"
        lucerna_pop(state, 2)
        return message
    }

    /// A global's value as a number, for tests and tools.
    public func number(global name: String) -> Double? {
        lua_getglobal(state, name)
        defer { lucerna_pop(state, 1) }
        var isNumber: Int32 = 0
        let value = lua_tonumberx(state, -1, &isNumber)
        return isNumber != 0 ? value : nil
    }

    /// A global's value as a tensor, for tests and tools.
    public func tensor(global name: String) -> Tensor? {
        lua_getglobal(state, name)
        defer { lucerna_pop(state, 1) }
        return LuaTensorAPI.tensor(at: -1, in: state)
    }
}
