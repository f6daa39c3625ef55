import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// A clustering plugin: `fit(self, points)` returns a label per row of `points` `[N, features]` (-1 for noise).
final class LuaPluginClustering: Clustering, LuaPluginBacked {
    let module: LuaPluginModule
    let label: String
    init(module: LuaPluginModule, label: String) {
        self.module = module
        self.label = label
    }

    func fit(_ points: Tensor) throws -> Tensor {
        let labels = try module.tensorResult(module.call("fit", [.tensor(points)]), "fit")
        guard labels.shape == [points.shape.first ?? 0] else {
            throw TensorError(
                label,
                "fit must return one label per point: \(describe(shape: labels.shape)) for points \(describe(shape: points.shape))"
            )
        }
        let values = labels.toDoubles()
        guard values.allSatisfy({ $0 >= -1 && $0 == $0.rounded() }) else {
            throw TensorError(label, "fit must return integer labels, -1 for noise")
        }
        return try Tensor(shape: labels.shape, integers: values.map { Int($0) })
    }
}

extension LuaKindBinding {
    static let clustering = LuaKindBinding(
        kind: .clustering, className: "Clustering", methods: [["fit"]],
        contract: "`fit(self, points)` → a label per row of `points` `[N, features]` (integers, -1 for noise)",
        adapter: { plugin in LuaPluginClustering(module: plugin.module, label: plugin.label) })
}
