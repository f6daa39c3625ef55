import CLua
import LucernaComponents
import LucernaCore
import LucernaRun

/// One Lua global per registry kind (`models`, `fusions`, `optim`, ...), each a table of factories:
/// `fusions.concat{dim = 128}` builds an instance, `fusions.list()` lists names, and calling the table
/// with a spec builds by name: `schedules{type = "cosine", optimizer = opt, t_max = 50}`. Unknown names
/// and options are errors naming the closest valid ones.
enum LuaComponentsAPI {
    static func install(in lua: LuaState) {
        for kind in ComponentKind.allCases { installKind(kind, in: lua) }
        // lucerna.build(kind, spec) and lucerna.components(): registry access by kind name.
        let state = lua.state
        lua_getglobal(state, "lucerna")
        lua.setFunction("build") { [unowned lua] call in
            let kindName = try call.string(1)
            guard let kind = ComponentKind(anyName: kindName) else {
                let kinds = ComponentKind.allCases.map(\.name)
                throw TensorError(
                    "lucerna.build",
                    "unknown kind '\(kindName)'\(suggestion(for: kindName, in: kinds)); kinds: \(kinds.joined(separator: ", "))"
                )
            }
            let spec = try call.value(2, path: "lucerna.build")
            LuaObjects.push(try lua.components.instance(kind, from: spec, context: "lucerna.build"), in: call.state)
            return 1
        }
        lucerna_pop(state, 1)
    }

    /// (Re)creates the global table of `kind` from the registry's current entries.
    static func installKind(_ kind: ComponentKind, in lua: LuaState) {
        let state = lua.state
        lucerna_newtable(state)
        for name in lua.registry.names(kind) {
            lua.setFunction(name) { [unowned lua] call in
                // losses.cross_entropy(logits, targets, {options}) is the functional form.
                if kind == .loss, call.optionalTensor(1) != nil {
                    let options = try call.options(3, path: "\(kind.luaGlobal).\(name)")
                    let loss = try lua.registry.build(.loss, name, options: options)
                    call.push(try loss.loss(call.tensor(1), call.tensor(2)))
                    return 1
                }
                guard call.count <= 1 else {
                    throw TensorError(
                        "\(kind.luaGlobal).\(name)",
                        "takes one options table, e.g. \(kind.luaGlobal).\(name){...}; got \(call.count) arguments")
                }
                let options = try call.options(1, path: "\(kind.luaGlobal).\(name)")
                LuaObjects.push(try lua.components.instance(kind, name, options: options), in: call.state)
                return 1
            }
        }
        lua.setFunction("list") { [unowned lua] call in
            let names = lua.registry.names(kind)
            lua_createtable(call.state, Int32(names.count), 0)
            for (position, name) in names.enumerated() {
                lua_pushstring(call.state, name)
                lua_rawseti(call.state, -2, lua_Integer(position + 1))
            }
            return 1
        }
        // The metatable: calling the table builds from a spec; reading an unknown name is an error.
        lucerna_newtable(state)
        lua.setFunction("__call") { [unowned lua] call in
            let spec = try call.value(2, path: kind.luaGlobal)
            LuaObjects.push(try lua.components.instance(kind, from: spec, context: kind.luaGlobal), in: call.state)
            return 1
        }
        lua.setFunction("__index") { [unowned lua] call in
            call.reads(upTo: 2)
            let name = lua_type(call.state, 2) == LUA_TSTRING ? try call.string(2) : "?"
            _ = try lua.registry.entry(kind, name)  // throws with the closest names
            return 0
        }
        lua_setmetatable(state, -2)
        if kind == .dataset { LuaDataAPI.installHelpers(in: lua) }
        lua_setglobal(state, kind.luaGlobal)
        if kind == .dataset { try? lua.run(source: LuaDataAPI.loaderSource, name: "data.loader") }
    }
}
