import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

extension LuaKindBinding {
    static let dataset = LuaKindBinding(
        kind: .dataset, className: "table<string, Tensor>", methods: [["load"]],
        contract: "`load(self, opts)` → a table of named tensors sharing their first axis",
        adapter: { plugin in
            guard
                case .table(let fields) = try plugin.module.call("load", [.table(plugin.config.values)]).first ?? .null
            else {
                throw TensorError(
                    plugin.label, "load must return a table of named tensors {images = ..., labels = ...}")
            }
            var tensors: [(name: String, tensor: Tensor)] = []
            for key in fields.keys.sorted() {
                guard case .tensor(let tensor)? = fields[key] else {
                    throw TensorError(plugin.label, "load returned \(key), which is not a tensor")
                }
                tensors.append((key, tensor))
            }
            return TensorDataset(name: plugin.label, tensors: tensors)
        })
}
