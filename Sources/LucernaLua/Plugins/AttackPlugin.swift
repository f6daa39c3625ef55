import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// An attack plugin: `perturb(self, model, inputs, targets)` returns adversarial inputs. The model runs in
/// evaluation mode and gets its mode back afterwards, as with the built-in attacks (torchattacks' default).
final class LuaPluginAttack: Attack, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func perturb(model: Module, inputs: Tensor, targets: Tensor) throws -> Tensor {
        try model.evaluating {
            try module.tensorResult(
                module.call("perturb", [.object(model), .tensor(inputs), .tensor(targets)]), "perturb")
        }
    }
}

extension LuaKindBinding {
    static let attack = LuaKindBinding(
        kind: .attack, className: "Attack", methods: [["perturb"]],
        contract: "`perturb(self, model, inputs, targets)` → perturbed inputs of the same shape",
        adapter: { LuaPluginAttack(module: $0.module) })
}
