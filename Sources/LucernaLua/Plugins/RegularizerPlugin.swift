import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// A regularizer plugin: `penalty(self, ctx)` returns a scalar tensor; `ctx` holds every field training
/// fills (``LuaObjects/contextFields``). An optional `requirements(self)` returns
/// `{fields = {...}, input_gradients = true, layers = {...}}`, checked against the data before training.
final class LuaPluginRegularizer: Regularizer, ParameterOwner, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func parameters() -> [Tensor] { module.parameters() }

    func requirements(model: RegularizedModel?) throws -> RegularizerRequirements {
        guard let lua = module.lua, try lua.callMethodExists(reference: module.reference, method: "requirements")
        else { return RegularizerRequirements() }
        guard case .table(let fields)? = try module.call("requirements", []).first else {
            throw TensorError(module.label, "requirements must return a table {fields = {...}, layers = {...}}")
        }
        let accepted = ["fields", "input_gradients", "layers"]
        for key in fields.keys.sorted() where !accepted.contains(key) {
            throw TensorError(
                module.label,
                "requirements: unknown key '\(key)'\(suggestion(for: key, in: accepted)); accepted: \(accepted.joined(separator: ", "))"
            )
        }
        func names(_ key: String) throws -> [String] {
            switch fields[key] ?? .null {
            case .null: return []
            case .list(let items):
                return try items.map {
                    guard case .string(let name) = $0 else {
                        throw TensorError(module.label, "requirements.\(key) must be a list of names")
                    }
                    return name
                }
            case .table(let table) where table.isEmpty: return []
            case let other:
                throw TensorError(module.label, "requirements.\(key) must be a list of names, got \(other.kindName)")
            }
        }
        var inputGradients = false
        switch fields["input_gradients"] ?? .null {
        case .null: break
        case .boolean(let value): inputGradients = value
        case let other:
            throw TensorError(module.label, "requirements.input_gradients must be a boolean, got \(other.kindName)")
        }
        return RegularizerRequirements(
            fields: try names("fields"), inputGradients: inputGradients, layers: try names("layers"))
    }

    func penalty(_ context: RegularizerContext) throws -> Tensor {
        let result = try module.tensorResult(module.call("penalty", [LuaObjects.contextTable(context)]), "penalty")
        guard result.count == 1 else {
            throw TensorError(module.label, "penalty must return a scalar tensor, got \(describe(shape: result.shape))")
        }
        return result
    }
}

extension LuaKindBinding {
    static let regularizer = LuaKindBinding(
        kind: .regularizer, className: "Regularizer", methods: [["penalty"]],
        contract:
            "`penalty(self, ctx)` → scalar tensor; `ctx` has `parameters` (name → tensor), `inputs`, `logits`, `targets`, `groups`, `environments`, `attributions`, `batch` (every batch tensor, masks too), `modalities`, `activations` (captured layers), `model` (the module, or a table of modules), `step`; optional `requirements(self)` → `{fields = {...}, input_gradients = true, layers = {...}}`",
        adapter: { LuaPluginRegularizer(module: $0.module) })
}
