import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// A loss plugin: `forward(self, prediction, target)` returns a tensor.
final class LuaPluginLoss: Loss, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func loss(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
        try module.tensorResult(module.call("forward", [.tensor(prediction), .tensor(target)]), "forward")
    }
}

extension LuaKindBinding {
    static let loss = LuaKindBinding(
        kind: .loss, className: "Loss", methods: [["forward"]],
        contract: "`forward(self, prediction, target)` → tensor; optional `example(self)` → `{prediction, target}`",
        adapter: { LuaPluginLoss(module: $0.module) })
}
