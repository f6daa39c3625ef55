import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// A metric plugin: `update(self, predictions, targets, groups)`, `compute(self)` → number, `reset(self)`.
final class LuaPluginMetric: Metric, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        _ = try module.call("update", [.tensor(predictions), .tensor(targets), groups.map { .tensor($0) } ?? .null])
    }

    func compute() throws -> Double {
        switch try module.call("compute", []).first ?? .null {
        case .number(let value): return value
        case .tensor(let tensor) where tensor.count == 1: return try tensor.item()
        case let other: throw TensorError(module.label, "compute must return a number, got \(other.kindName)")
        }
    }

    func reset() { _ = try? module.call("reset", []) }
}

extension LuaKindBinding {
    static let metric = LuaKindBinding(
        kind: .metric, className: "Metric", methods: [["update", "compute"]],
        contract: "`update(self, predictions, targets, groups)`, `compute(self)` → number, optional `reset(self)`",
        adapter: { LuaPluginMetric(module: $0.module) })
}
