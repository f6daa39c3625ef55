import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// An augmentation plugin: `augment(self, images)` returns a randomly transformed copy of the same shape. Its
/// random draws (`tensor.rand`, `tensor.randn`) come from the generator the caller passes, which stands in
/// for the run's generator during the call.
final class LuaPluginAugmentation: Augmentation, LuaPluginBacked {
    let module: LuaPluginModule
    let label: String
    init(module: LuaPluginModule, label: String) {
        self.module = module
        self.label = label
    }

    func augment(_ inputs: Tensor, generator: RandomGenerator) throws -> Tensor {
        let saved = RandomGenerator.shared
        RandomGenerator.shared = generator
        defer { RandomGenerator.shared = saved }
        let augmented = try module.tensorResult(module.call("augment", [.tensor(inputs)]), "augment")
        guard augmented.shape == inputs.shape, augmented.dtype == inputs.dtype else {
            throw TensorError(
                label,
                "augment must return images of the input's shape and type: \(describe(shape: augmented.shape)) \(augmented.dtype) for \(describe(shape: inputs.shape)) \(inputs.dtype)"
            )
        }
        return augmented.detach()
    }
}

extension LuaKindBinding {
    static let augmentation = LuaKindBinding(
        kind: .augmentation, className: "Augmentation", methods: [["augment"]],
        contract:
            "`augment(self, images)` → a randomly transformed copy of `images` `[N, ..., H, W]` (same shape and type; draw from the run's generator, e.g. `tensor.rand`)",
        adapter: { plugin in LuaPluginAugmentation(module: plugin.module, label: plugin.label) })
}
