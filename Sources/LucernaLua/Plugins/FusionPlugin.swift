import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// A fusion plugin: `forward(self, inputs)` receives a Lua array with one tensor per modality.
final class LuaPluginFusion: LuaPluginModule, Fusion {
    /// `input_dims` from the plugin's options, for zero placeholders.
    var inputDimensions: [Int] = []

    func fuse(_ inputs: [Tensor]) throws -> Tensor {
        try tensorResult(call("forward", [.list(inputs.map { .tensor($0) })]), "forward")
    }

    /// Missing modalities become zeros `[N, dᵢ]` (dᵢ from `input_dims`) before `forward`.
    func fuse(available inputs: [Tensor?]) throws -> Tensor {
        guard let reference = inputs.compactMap({ $0 }).first else {
            throw TensorError(label, "every modality is missing")
        }
        let filled = try inputs.enumerated().map { position, input -> Tensor in
            if let input { return input }
            guard inputDimensions.indices.contains(position) else {
                throw TensorError(
                    label, "modality \(position + 1) is missing and the plugin declares no input_dims for it")
            }
            return try Tensor.zeros([reference.shape[0], inputDimensions[position]], dtype: reference.dtype)
        }
        return try fuse(filled)
    }
    override func forward(_ input: Tensor) throws -> Tensor { try fuse([input]) }
}

extension LuaKindBinding {
    static let fusion = LuaKindBinding(
        kind: .fusion, className: "Module", methods: [["forward"]],
        contract:
            "`forward(self, inputs)` with `inputs` an array of `[N, dᵢ]` tensors → `[N, d]`; declare `input_dims` in `defaults`",
        moduleType: LuaPluginFusion.self,
        adapter: { plugin in
            if let fusion = plugin.module as? LuaPluginFusion, plugin.config.has("input_dims") {
                fusion.inputDimensions = try plugin.config.integers("input_dims")
            }
            return plugin.module
        })
}
