import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// A training-method plugin: `loss(self, losses, ctx)` turns the batch's per-sample losses `[N]` into a scalar
/// tensor (`ctx` as a regularizer's). Optional: `requirements(self)` → `{fields = {...}}` (context fields,
/// checked against the training data before training),
/// `prepare(self, data)` (the training data as a table of tensors, once before the first step) and
/// `epoch_values(self)` (a table name → number, logged as `train_<name>` every epoch). Tensors the plugin keeps
/// as parameters train with the model's optimizer.
final class LuaPluginMethod: TrainingMethod, ParameterOwner, LuaPluginBacked {
    let module: LuaPluginModule
    let declaredFields: [String]
    init(module: LuaPluginModule, fields: [String]) {
        self.module = module
        declaredFields = fields
    }

    var fields: [String] { declaredFields }

    func parameters() -> [Tensor] { module.parameters() }

    private func defines(_ method: String) throws -> Bool {
        guard let lua = module.lua else { return false }
        return try lua.callMethodExists(reference: module.reference, method: method)
    }

    func prepare(_ data: TensorDataset, keys: TrainingKeys) throws {
        guard try defines("prepare") else { return }
        let table = ConfigValue.table(Dictionary(data.tensors.map { ($0.name, .tensor($0.tensor)) }) { a, _ in a })
        _ = try module.call("prepare", [table])
    }

    func loss(_ losses: Tensor, _ context: RegularizerContext) throws -> Tensor {
        let result = try module.tensorResult(
            module.call("loss", [.tensor(losses), LuaObjects.contextTable(context)]), "loss")
        guard result.count == 1 else {
            throw TensorError(module.label, "loss must return a scalar tensor, got \(describe(shape: result.shape))")
        }
        return result
    }

    func epochValues() throws -> [(name: String, value: Double)] {
        guard try defines("epoch_values") else { return [] }
        let result = try module.call("epoch_values", []).first ?? .null
        let fields: [String: ConfigValue]
        switch result {
        case .table(let table): fields = table
        case .null: return []
        case let other:
            throw TensorError(module.label, "epoch_values must return a table name -> number, got \(other.kindName)")
        }
        return try fields.keys.sorted().map { key in
            guard let value = fields[key]?.numberValue else {
                throw TensorError(module.label, "epoch_values.\(key) must be a number")
            }
            return (key, value)
        }
    }
}

extension LuaKindBinding {
    static let method = LuaKindBinding(
        kind: .method, className: "TrainingMethod", methods: [["loss"]],
        contract:
            "`loss(self, losses, ctx)` → scalar tensor from the per-sample losses `[N]` (`ctx` as a regularizer's); optional `requirements(self)` → `{fields = {...}}` (checked against the training data before training), `prepare(self, data)` (the training data as a table of tensors, once), `epoch_values(self)` → `{name = number}` logged every epoch",
        adapter: { instance in
            // The same requirements contract as a regularizer plugin's (only `fields` applies).
            let needs = try LuaPluginRegularizer(module: instance.module).requirements(model: nil)
            guard needs.layers.isEmpty, !needs.inputGradients else {
                throw TensorError(instance.label, "a method's requirements take only fields = {...}")
            }
            return LuaPluginMethod(module: instance.module, fields: needs.fields)
        })
}
