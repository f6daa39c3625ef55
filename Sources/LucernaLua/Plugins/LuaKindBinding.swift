import CLua
import LucernaComponents
import LucernaCore
import LucernaNN

/// How a component kind appears in Lua: the Lua class of its instances, the methods a Lua plugin of the
/// kind must define, the contract as the documentation states it, and the adapter that turns a plugin
/// instance into the kind's Swift type. Each kind's adapter file declares its binding; ``all`` is the one
/// list. A kind without a binding is available in Lua (its namespace global) but not as a plugin kind.
struct LuaKindBinding {
    let kind: ComponentKind
    /// The Lua class of instances, for editor annotations (`Module`, `Metric`).
    let className: String
    /// The methods a plugin must define: one of these sets (most kinds have exactly one).
    let methods: [[String]]
    /// What a plugin of the kind must define, for the documentation.
    let contract: String
    /// The Swift module class behind a plugin instance.
    var moduleType: LuaPluginModule.Type = LuaPluginModule.self
    /// Makes the kind's instance from a plugin instance (nil: the kind cannot be a Lua plugin).
    let adapter: ((LuaPluginInstance) throws -> Any)?
    /// Options the framework adds to a plugin's own, given the contract methods it defines.
    var pluginOptions: (Set<String>) -> [OptionSpec] = { _ in [] }

    /// Every binding: the Lua half of the table of kinds.
    static let all: [ComponentKind: LuaKindBinding] = Dictionary(
        uniqueKeysWithValues: [
            model, fusion, regularizer, method, attack, explainer, rule, composite, metric, clustering, dataset,
            optimizer, schedule, loss, augmentation,
        ].map { ($0.kind, $0) })

    /// The binding of `kind`, if it has one.
    static func of(_ kind: ComponentKind) -> LuaKindBinding? { all[kind] }

    /// The kinds a plugin file may declare, by name.
    static var pluginKinds: [String] { all.values.filter { $0.adapter != nil }.map(\.kind.name).sorted() }
}

/// A plugin instance being adapted to its kind.
struct LuaPluginInstance {
    /// The Swift module behind the Lua instance (parameters, method calls).
    let module: LuaPluginModule
    /// The instance's options (defaults filled in).
    let config: Config
    /// `namespace.name (file)`, for errors.
    let label: String
    /// The component's name.
    let name: String
    /// The contract methods the plugin defines.
    let methods: Set<String>

    func defines(_ method: String) -> Bool { methods.contains(method) }
}

extension ComponentKind {
    /// The Lua global holding this kind's factories (the kind's namespace: `fusions`, `optim`).
    public var luaGlobal: String { namespace }

    /// The Lua class of instances, for editor annotations.
    public var className: String { LuaKindBinding.of(self)?.className ?? protocolName }
}

extension OptionType {
    /// The Lua language-server type of an option of this type.
    var luaType: String {
        switch self {
        case .number: "number"
        case .integer: "integer"
        case .boolean: "boolean"
        case .string: "string"
        case .pair: "integer|integer[]"
        case .integers: "integer[]"
        case .tensors: "Tensor[]|Module"
        case .object(let name): name
        case .component(let kind): "\(kind.className)|string|table"
        case .tensor: "Tensor"
        case .function: "function"
        case .any: "any"
        }
    }
}
