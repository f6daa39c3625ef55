import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

extension LuaKindBinding {
    static let schedule = LuaKindBinding(
        kind: .schedule, className: "Schedule", methods: [["rate"]],
        contract:
            "`rate(self, base, step)` → the learning rate at `step` for a group that started at `base`; takes `optimizer`",
        adapter: { plugin in
            let optimizer = try plugin.config.object(
                "optimizer", as: Optimizer.self, named: "an optimizer (e.g. optim.adamw{...})")
            let module = plugin.module
            let label = plugin.label
            return try LearningRateSchedule(
                .custom(name: label) { base, step in
                    switch try module.call("rate", [.number(base), .number(Double(step))]).first ?? .null {
                    case .number(let value): return value
                    case let other: throw TensorError(label, "rate must return a number, got \(other.kindName)")
                    }
                }, optimizer: optimizer)
        })
}
