import CLua
import LucernaCore

/// The arguments of a Swift function called from Lua, read with type checks that throw (never raise),
/// and helpers to push results. Argument positions are 1-based, as Lua counts them.
public struct LuaCall {
    let state: OpaquePointer
    /// The Lua-visible name of the function, for error messages.
    public let name: String

    /// Number of arguments.
    public var count: Int32 { lua_gettop(state) }

    /// Whether argument `index` is absent or nil.
    public func isNil(_ index: Int32) -> Bool { lua_type(state, index) <= LUA_TNIL }

    func typeName(_ index: Int32) -> String {
        if let tensor = LuaTensorAPI.tensor(at: index, in: state) { return "tensor \(describe(shape: tensor.shape))" }
        return String(cString: lua_typename(state, lua_type(state, index)))
    }

    func fail(_ index: Int32, _ expected: String) -> TensorError {
        TensorError(name, "argument \(index) must be \(expected), got \(typeName(index))")
    }

    /// Argument `index` as a number.
    public func number(_ index: Int32) throws -> Double {
        guard lua_type(state, index) == LUA_TNUMBER else { throw fail(index, "a number") }
        return lucerna_tonumber(state, index)
    }

    /// Argument `index` as an integer (a number with no fractional part).
    public func integer(_ index: Int32) throws -> Int {
        let value = try number(index)
        guard value.rounded() == value, abs(value) < 1e15 else { throw fail(index, "an integer") }
        return Int(value)
    }

    /// Argument `index` as a string.
    public func string(_ index: Int32) throws -> String {
        guard lua_type(state, index) == LUA_TSTRING, let text = lucerna_tostring(state, index) else {
            throw fail(index, "a string")
        }
        return String(cString: text)
    }

    /// Argument `index` as a tensor.
    public func tensor(_ index: Int32) throws -> Tensor {
        guard let tensor = LuaTensorAPI.tensor(at: index, in: state) else { throw fail(index, "a tensor") }
        return tensor
    }

    /// Argument `index` as a boolean (nil is false).
    public func boolean(_ index: Int32) -> Bool { lua_toboolean(state, index) != 0 }

    /// Argument `index` as an array of integers (a Lua sequence such as `{2, 3}`).
    public func integers(_ index: Int32) throws -> [Int] {
        guard lua_type(state, index) == LUA_TTABLE else { throw fail(index, "a table of integers") }
        let length = luaL_len(state, index)
        guard length >= 0, length < 64 else { throw fail(index, "a table of at most 64 integers") }
        var values: [Int] = []
        for position in 0..<length {
            lua_geti(state, index, position + 1)
            defer { lucerna_pop(state, 1) }
            var isNumber: Int32 = 0
            let value = lua_tonumberx(state, -1, &isNumber)
            guard isNumber != 0, value.rounded() == value, abs(value) < 1e15 else {
                throw TensorError(name, "argument \(index)[\(position + 1)] must be an integer")
            }
            values.append(Int(value))
        }
        return values
    }

    /// Field `key` of the table argument `index` as an optional boolean.
    public func option(_ index: Int32, _ key: String) -> Bool? {
        guard lua_type(state, index) == LUA_TTABLE else { return nil }
        lua_getfield(state, index, key)
        defer { lucerna_pop(state, 1) }
        return lua_type(state, -1) == LUA_TNIL ? nil : lua_toboolean(state, -1) != 0
    }

    /// Pushes a tensor result.
    public func push(_ tensor: Tensor) { LuaTensorAPI.push(tensor, in: state) }

    /// Pushes a number result.
    public func push(_ value: Double) { lua_pushnumber(state, value) }

    /// Pushes a boolean result.
    public func push(_ value: Bool) { lua_pushboolean(state, value ? 1 : 0) }

    /// Pushes a string result.
    public func push(_ value: String) { lua_pushstring(state, value) }

    /// Pushes nil.
    public func pushNil() { lua_pushnil(state) }
}
