import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

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

    required init(lua: LuaState, reference: Int32, label: String) {
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

    override func forward(_ input: Tensor) throws -> Tensor {
        try tensorResult(call("forward", [.tensor(input)]), "forward")
    }

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
