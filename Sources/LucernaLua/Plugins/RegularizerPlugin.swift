import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// A regularizer plugin: `penalty(self, ctx)` with ctx fields parameters (name → tensor), inputs,
/// logits, targets, groups, attributions; returns a scalar tensor.
final class LuaPluginRegularizer: Regularizer, ParameterOwner, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func parameters() -> [Tensor] { module.parameters() }

    func penalty(_ context: RegularizerContext) throws -> Tensor {
        var fields: [String: ConfigValue] = [:]
        fields["parameters"] = .table(
            Dictionary(
                context.parameters.map { ($0.name, ConfigValue.tensor($0.tensor)) }, uniquingKeysWith: { a, _ in a }))
        for (key, value) in [
            ("inputs", context.inputs), ("logits", context.logits), ("targets", context.targets),
            ("groups", context.groups), ("attributions", context.attributions),
        ] {
            if let value { fields[key] = .tensor(value) }
        }
        let result = try module.tensorResult(module.call("penalty", [.table(fields)]), "penalty")
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
            "`penalty(self, ctx)` → scalar tensor; `ctx` has `parameters` (name → tensor), `inputs`, `logits`, `targets`, `groups`, `attributions`",
        adapter: { LuaPluginRegularizer(module: $0.module) })
}
