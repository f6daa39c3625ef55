import CLua
import LucernaComponents
import LucernaCore
import LucernaNN

/// Conversion between Lua values and ``ConfigValue`` (options tables, spec tables, `--set` values).
/// Tables are read with raw access, so no metamethod can raise through Swift frames.
enum LuaConfigValue {
    /// The Lua value at `index` as a config value; `path` names it in errors.
    static func read(_ index: Int32, in state: OpaquePointer, path: String, depth: Int = 0) throws -> ConfigValue {
        switch lua_type(state, index) {
        case LUA_TNIL, LUA_TNONE: return .null
        case LUA_TBOOLEAN: return .boolean(lua_toboolean(state, index) != 0)
        case LUA_TNUMBER: return .number(lucerna_tonumber(state, index))
        case LUA_TSTRING: return .string(lucerna_tostring(state, index).map { String(cString: $0) } ?? "")
        case LUA_TTABLE:
            guard depth < 16 else { throw TensorError(path, "tables nested more than 16 levels") }
            return try readTable(lua_absindex(state, index), in: state, path: path, depth: depth)
        case LUA_TUSERDATA:
            if let tensor = LuaTensorAPI.tensor(at: index, in: state) { return .tensor(tensor) }
            if let object = LuaObjects.object(at: index, in: state) { return .object(object) }
            throw TensorError(path, "unsupported userdata")
        default:
            throw TensorError(
                path, "a \(String(cString: lua_typename(state, lua_type(state, index)))) cannot be an option value")
        }
    }

    /// A table with only keys 1...n is a list; any other table is a string-keyed table.
    private static func readTable(_ table: Int32, in state: OpaquePointer, path: String, depth: Int) throws
        -> ConfigValue
    {
        var fields: [String: ConfigValue] = [:]
        var items: [Int: ConfigValue] = [:]
        // Each level holds a key and a value on the stack.
        guard lua_checkstack(state, 4) != 0 else { throw ScriptError(path, "tables nested too deeply") }
        lua_pushnil(state)
        while lua_next(state, table) != 0 {
            defer { lucerna_pop(state, 1) }
            switch lua_type(state, -2) {
            case LUA_TSTRING:
                let key = lucerna_tostring(state, -2).map { String(cString: $0) } ?? ""
                fields[key] = try read(-1, in: state, path: "\(path).\(key)", depth: depth + 1)
            case LUA_TNUMBER where lua_isinteger(state, -2) != 0:
                let key = Int(lucerna_tointeger(state, -2))
                items[key] = try read(-1, in: state, path: "\(path)[\(key)]", depth: depth + 1)
            default:
                lucerna_pop(state, 1)
                throw TensorError(path, "table keys must be strings or array positions")
            }
        }
        if !items.isEmpty {
            guard fields.isEmpty, items.keys.sorted() == Array(1...items.count) else {
                throw TensorError(
                    path, "a table must be either a list {a, b, ...} or have named fields, not both or with holes")
            }
            return .list((1...items.count).map { items[$0] ?? .null })
        }
        return .table(fields)
    }

    /// The options table at `index` (nil or absent gives no options).
    static func options(_ index: Int32, in state: OpaquePointer, path: String) throws -> [String: ConfigValue] {
        switch try read(index, in: state, path: path) {
        case .null: return [:]
        case .table(let fields): return fields
        case .list(let items) where items.isEmpty: return [:]
        case let other: throw TensorError(path, "expected an options table {name = value, ...}, got \(other.kindName)")
        }
    }

    /// Pushes a config value as a Lua value.
    static func push(_ value: ConfigValue, in state: OpaquePointer) {
        // Nested values push one table per level (at most 16 deep when read from Lua); growing the stack
        // fails only past Lua's own limit of a million slots.
        _ = lua_checkstack(state, 3)
        switch value {
        case .null: lua_pushnil(state)
        case .boolean(let flag): lua_pushboolean(state, flag ? 1 : 0)
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 {
                lua_pushinteger(state, lua_Integer(number))
            } else {
                lua_pushnumber(state, number)
            }
        case .string(let text): lua_pushstring(state, text)
        case .list(let items):
            lua_createtable(state, Int32(items.count), 0)
            for (position, item) in items.enumerated() {
                push(item, in: state)
                lua_rawseti(state, -2, lua_Integer(position + 1))
            }
        case .table(let fields):
            lua_createtable(state, 0, Int32(fields.count))
            for key in fields.keys.sorted() {
                push(fields[key] ?? .null, in: state)
                lua_setfield(state, -2, key)
            }
        case .tensor(let tensor): LuaTensorAPI.push(tensor, in: state)
        case .object(let object): LuaObjects.push(object, in: state)
        }
    }
}
