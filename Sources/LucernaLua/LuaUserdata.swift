import CLua

/// Swift objects owned by Lua: a full userdata holding one retained reference, with a metatable whose
/// `__gc` releases it (once) and whose `__metatable` hides it from scripts.
enum LuaUserdata {
    /// Live userdata per metatable (for leak tests).
    nonisolated(unsafe) static var liveCounts: [String: Int] = [:]

    static func push(_ object: AnyObject, metatable: String, in state: OpaquePointer) {
        guard let memory = lucerna_newuserdata(state, MemoryLayout<UnsafeMutableRawPointer?>.size) else { return }
        memory.storeBytes(of: Unmanaged.passRetained(object).toOpaque(), as: UnsafeMutableRawPointer?.self)
        liveCounts[metatable, default: 0] += 1
        luaL_setmetatable(state, metatable)
    }

    static func object(at index: Int32, metatable: String, in state: OpaquePointer) -> AnyObject? {
        guard let memory = luaL_testudata(state, index, metatable),
            let reference = memory.load(as: UnsafeMutableRawPointer?.self)
        else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(reference).takeUnretainedValue()
    }

    /// Creates the metatable (left on the stack) with `__gc`, `__metatable` and an `__index` method
    /// table filled by `methods`.
    static func createMetatable(_ name: String, in lua: LuaState, methods: (LuaState) -> Void) {
        let state = lua.state
        luaL_newmetatable(state, name)
        lua.setFunction("__gc") { call in
            if let memory = luaL_testudata(call.state, 1, name),
                let reference = memory.load(as: UnsafeMutableRawPointer?.self)
            {
                Unmanaged<AnyObject>.fromOpaque(reference).release()
                memory.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
                liveCounts[name, default: 0] -= 1
            }
            return 0
        }
        lucerna_newtable(state)
        methods(lua)
        lua_setfield(state, -2, "__index")
        lua_pushstring(state, name)
        lua_setfield(state, -2, "__metatable")
    }
}
