import CLua
import LucernaComponents
import LucernaCore

/// The arguments of a Swift function called from Lua, read with type checks that throw (never raise),
/// and helpers to push results. Argument positions are 1-based, as Lua counts them.
public struct LuaCall {
    let state: OpaquePointer
    /// The Lua-visible name of the function, for error messages.
    public let name: String
    /// The highest argument position the function has looked at.
    /// The state's limits, whose `highestRead` records the highest argument position the function read (the
    /// trampoline resets it for each call, so nested calls keep their own).
    let limits: UnsafeMutablePointer<lucerna_limits>?
    /// The number of arguments the function was called with (``count`` grows as results are pushed).
    let given: Int32

    init(state: OpaquePointer, name: String) {
        self.state = state
        self.name = name
        given = lua_gettop(state)
        limits = lucerna_state_limits(state)
    }

    /// Notes that the function reads (or may read) arguments up to `index`: a function that reads its
    /// arguments with the raw Lua API declares them this way.
    public func reads(upTo index: Int32) {
        if let limits, index > limits.pointee.highestRead { limits.pointee.highestRead = index }
    }

    /// The highest argument position the function has read so far.
    var highestRead: Int32 { limits?.pointee.highestRead ?? given }

    /// The first non-nil argument past the ones the function read, once it has run: such an argument was
    /// ignored, and a call that passes it is wrong (`y:backward(g)` once ignored g).
    func ignoredArgument() -> Int32? {
        guard given > highestRead else { return nil }
        return (highestRead + 1...given).first { lua_type(state, $0) > LUA_TNIL }
    }

    /// Number of arguments.
    public var count: Int32 { lua_gettop(state) }

    /// Whether argument `index` is absent or nil.
    public func isNil(_ index: Int32) -> Bool {
        reads(upTo: index)
        return lua_type(state, index) <= LUA_TNIL
    }

    func typeName(_ index: Int32) -> String {
        if let tensor = LuaTensorAPI.tensor(at: index, in: state) { return "tensor \(describe(shape: tensor.shape))" }
        return String(cString: lua_typename(state, lua_type(state, index)))
    }

    func fail(_ index: Int32, _ expected: String) -> ScriptError {
        reads(upTo: index)
        return ScriptError(name, "argument \(index) must be \(expected), got \(typeName(index))")
    }

    /// Argument `index` as a number.
    public func number(_ index: Int32) throws -> Double {
        reads(upTo: index)
        guard lua_type(state, index) == LUA_TNUMBER else { throw fail(index, "a number") }
        return lucerna_tonumber(state, index)
    }

    /// Argument `index` as an integer (a number with no fractional part).
    public func integer(_ index: Int32) throws -> Int {
        let value = try number(index)
        guard value.rounded() == value, abs(value) < 1e15 else { throw fail(index, "an integer") }
        return Int(value)
    }

    /// Argument `index` as a 1-based dimension of a tensor of `rank` (negative counts from the end), returned
    /// as the engine's 0-based axis.
    public func dimension(_ index: Int32, rank: Int) throws -> Int {
        try LuaTensorAPI.dimension(integer(index), rank: rank, name)
    }

    /// Argument `index` as a string.
    public func string(_ index: Int32) throws -> String {
        reads(upTo: index)
        guard lua_type(state, index) == LUA_TSTRING, let text = lucerna_tostring(state, index) else {
            throw fail(index, "a string")
        }
        return String(cString: text)
    }

    /// Argument `index` as a tensor.
    public func tensor(_ index: Int32) throws -> Tensor {
        reads(upTo: index)
        guard let tensor = LuaTensorAPI.tensor(at: index, in: state) else { throw fail(index, "a tensor") }
        return tensor
    }

    /// Argument `index` as a tensor, or nil when it is something else.
    public func optionalTensor(_ index: Int32) -> Tensor? {
        reads(upTo: index)
        return LuaTensorAPI.tensor(at: index, in: state)
    }

    /// Argument `index` as a config value (a table is read raw and recursively); `path` names it in errors.
    public func value(_ index: Int32, path: String) throws -> ConfigValue {
        reads(upTo: index)
        return try LuaConfigValue.read(index, in: state, path: path)
    }

    /// Argument `index` as an options table (nil gives no options).
    public func options(_ index: Int32, path: String) throws -> [String: ConfigValue] {
        reads(upTo: index)
        return try LuaConfigValue.options(index, in: state, path: path)
    }

    /// Argument `index` as a boolean (nil is false).
    public func boolean(_ index: Int32) -> Bool {
        reads(upTo: index)
        return lua_toboolean(state, index) != 0
    }

    /// Argument `index` as an array of integers (a Lua sequence such as `{2, 3}`), at most
    /// `maximumCount` of them (64 suits shapes; index lists pass more).
    public func integers(_ index: Int32, maximumCount: Int = 64) throws -> [Int] {
        reads(upTo: index)
        guard lua_type(state, index) == LUA_TTABLE else { throw fail(index, "a table of integers") }
        let length = Int(lua_rawlen(state, index))
        guard length <= maximumCount else { throw fail(index, "a table of at most \(maximumCount) integers") }
        var values: [Int] = []
        values.reserveCapacity(length)
        for position in 0..<lua_Integer(length) {
            lua_rawgeti(state, index, position + 1)
            defer { lucerna_pop(state, 1) }
            var isNumber: Int32 = 0
            let value = lua_tonumberx(state, -1, &isNumber)
            guard isNumber != 0, value.rounded() == value, abs(value) < 1e15 else {
                throw ScriptError(name, "argument \(index)[\(position + 1)] must be an integer")
            }
            values.append(Int(value))
        }
        return values
    }

    /// Field `key` of the table argument `index` as an optional boolean.
    public func option(_ index: Int32, _ key: String) -> Bool? {
        reads(upTo: index)
        guard lua_type(state, index) == LUA_TTABLE else { return nil }
        lucerna_rawgetfield(state, index, key)
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

extension LuaCall {
    /// Checks that the options table at `index` (if any) has only `accepted` keys.
    public func checkOptions(_ index: Int32, accepted: [String]) throws {
        reads(upTo: index)
        guard lua_type(state, index) == LUA_TTABLE else {
            if isNil(index) { return }
            throw fail(index, "an options table")
        }
        let table = lua_absindex(state, index)
        lua_pushnil(state)
        while lua_next(state, table) != 0 {
            defer { lucerna_pop(state, 1) }
            // Keys are read by type, never converted in place (that would break lua_next).
            let key = lua_type(state, -2) == LUA_TSTRING ? lucerna_tostring(state, -2).map { String(cString: $0) } : nil
            guard let key, accepted.contains(key) else {
                lucerna_pop(state, 1)
                throw ScriptError(
                    name,
                    "unknown option \(key.map { "'\($0)'" } ?? "(not a string key)"); accepted: \(accepted.joined(separator: ", "))"
                )
            }
        }
    }

    /// Field `key` of the options table at `index`, pushed; returns its Lua type (LUA_TNIL when absent).
    private func pushField(_ index: Int32, _ key: String) -> Int32 {
        reads(upTo: index)
        guard lua_type(state, index) == LUA_TTABLE else {
            lua_pushnil(state)
            return LUA_TNIL
        }
        return lucerna_rawgetfield(state, index, key)
    }

    /// Option `key` as a number, or `defaultValue` when absent.
    public func number(_ index: Int32, _ key: String, default defaultValue: Double) throws -> Double {
        let type = pushField(index, key)
        defer { lucerna_pop(state, 1) }
        if type == LUA_TNIL { return defaultValue }
        guard type == LUA_TNUMBER else { throw ScriptError(name, "option \(key) must be a number") }
        return lucerna_tonumber(state, -1)
    }

    /// Option `key` as an integer, or `defaultValue` when absent.
    public func integer(_ index: Int32, _ key: String, default defaultValue: Int) throws -> Int {
        let value = try number(index, key, default: Double(defaultValue))
        guard value.rounded() == value, abs(value) < 1e15 else {
            throw ScriptError(name, "option \(key) must be an integer")
        }
        return Int(value)
    }

    /// Option `key` as a boolean, or `defaultValue` when absent.
    public func boolean(_ index: Int32, _ key: String, default defaultValue: Bool) throws -> Bool {
        let type = pushField(index, key)
        defer { lucerna_pop(state, 1) }
        if type == LUA_TNIL { return defaultValue }
        guard type == LUA_TBOOLEAN else { throw ScriptError(name, "option \(key) must be true or false") }
        return lua_toboolean(state, -1) != 0
    }

    /// Option `key` as a string, or `defaultValue` when absent.
    public func string(_ index: Int32, _ key: String, default defaultValue: String?) throws -> String? {
        let type = pushField(index, key)
        defer { lucerna_pop(state, 1) }
        if type == LUA_TNIL { return defaultValue }
        guard type == LUA_TSTRING, let text = lucerna_tostring(state, -1) else {
            throw ScriptError(name, "option \(key) must be a string")
        }
        return String(cString: text)
    }

    /// Option `key` as a pair: an integer `n` (meaning `(n, n)`) or a table `{a, b}`.
    public func pair(_ index: Int32, _ key: String, default defaultValue: (Int, Int)) throws -> (Int, Int) {
        let type = pushField(index, key)
        defer { lucerna_pop(state, 1) }
        if type == LUA_TNIL { return defaultValue }
        return try pairOnTop(key)
    }

    /// Argument `index` as a pair (an integer or `{a, b}`).
    public func pair(_ index: Int32) throws -> (Int, Int) {
        reads(upTo: index)
        lua_pushvalue(state, index)
        defer { lucerna_pop(state, 1) }
        return try pairOnTop("argument \(index)")
    }

    private func pairOnTop(_ label: String) throws -> (Int, Int) {
        if lua_type(state, -1) == LUA_TNUMBER {
            let value = lucerna_tonumber(state, -1)
            guard value.rounded() == value, abs(value) < 1e9 else {
                throw ScriptError(name, "\(label) must be an integer or {a, b}")
            }
            return (Int(value), Int(value))
        }
        guard lua_type(state, -1) == LUA_TTABLE, lua_rawlen(state, -1) == 2 else {
            throw ScriptError(name, "\(label) must be an integer or a pair {a, b}")
        }
        var values: [Int] = []
        for position in 1...2 {
            lua_rawgeti(state, -1, lua_Integer(position))
            defer { lucerna_pop(state, 1) }
            let value = lucerna_tonumber(state, -1)
            guard lua_type(state, -1) == LUA_TNUMBER, value.rounded() == value, abs(value) < 1e9 else {
                throw ScriptError(name, "\(label) must be an integer or a pair of integers")
            }
            values.append(Int(value))
        }
        return (values[0], values[1])
    }
}

/// The concern of a Lua function of the API called the wrong way: an argument of the wrong type or count,
/// named by the function (`tensor.zeros: argument 1 must be a table of sizes, got string`).
public enum ScriptCall {}
public typealias ScriptError = ConcernError<ScriptCall>
