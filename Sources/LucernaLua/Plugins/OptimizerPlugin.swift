import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// An optimizer plugin: `update(self, parameter, gradient, state, group)` returns the parameter's new
/// value; `state` is a Lua table kept per parameter across steps and `group` holds `lr`, `weight_decay`
/// and `step`. Runs under no-grad, like every optimizer step.
final class LuaPluginOptimizer: Optimizer, LuaPluginBacked {
    let module: LuaPluginModule
    private var positions: [ObjectIdentifier: Int] = [:]

    init(module: LuaPluginModule, parameters: [Tensor], learningRate: Double, weightDecay: Double) throws {
        self.module = module
        try super.init(
            parameters: parameters, groups: nil, learningRate: learningRate, weightDecay: weightDecay,
            name: module.label)
        for (position, parameter) in parameters.enumerated() { positions[ObjectIdentifier(parameter)] = position + 1 }
    }

    override func update(
        _ parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int,
        state: inout [String: Tensor]
    ) throws {
        guard let lua = module.lua else {
            throw TensorError(module.label, "the Lua state that loaded this plugin has been closed")
        }
        let hyper = ConfigValue.table([
            "lr": .number(group.learningRate), "weight_decay": .number(group.weightDecay),
            "step": .number(Double(step)),
        ])
        let result = try lua.callMethod(
            reference: module.reference, method: "update", arguments: [.tensor(parameter), .tensor(gradient)],
            stateKey: positions[ObjectIdentifier(parameter)] ?? 0, trailing: [hyper], label: module.label)
        guard case .tensor(let updated)? = result.first else {
            throw TensorError(
                module.label, "update must return the new parameter tensor, got \(result.first?.kindName ?? "nothing")")
        }
        guard updated.shape == parameter.shape else {
            throw TensorError(
                module.label,
                "update returned \(describe(shape: updated.shape)) for a parameter of \(describe(shape: parameter.shape))"
            )
        }
        try parameter.assign(updated)
    }

    /// The base state plus each parameter's Lua state table: tensors as `p.lua.<field>`, numbers as
    /// scalar float64 tensors `p.lua#<field>` (other values are not checkpointed).
    override func stateTensors() throws -> [(name: String, tensor: Tensor)] {
        var result = try super.stateTensors()
        guard let lua = module.lua else { return result }
        for position in allParameters.indices {
            let fields = try lua.pluginState(reference: module.reference, key: position + 1, label: module.label)
            for key in fields.keys.sorted() {
                switch fields[key] {
                case .tensor(let tensor)?: result.append(("\(position).lua.\(key)", tensor.copy()))
                case .number(let number)?:
                    result.append(("\(position).lua#\(key)", try Tensor(shape: [], doubles: [number])))
                default: continue
                }
            }
        }
        return result
    }

    override func loadStateTensors(_ tensors: [(name: String, tensor: Tensor)]) throws {
        var luaFields: [Int: [String: ConfigValue]] = [:]
        var rest: [(name: String, tensor: Tensor)] = []
        for (name, tensor) in tensors {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, let position = Int(parts[0]), parts[1].hasPrefix("lua") else {
                rest.append((name, tensor))
                continue
            }
            guard allParameters.indices.contains(position) else {
                throw TensorError(
                    module.label,
                    "optimizer state entry '\(name)' for an optimizer of \(allParameters.count) parameters")
            }
            if parts[1].hasPrefix("lua.") {
                luaFields[position, default: [:]][String(parts[1].dropFirst(4))] = .tensor(tensor.copy())
            } else if parts[1].hasPrefix("lua#") {
                luaFields[position, default: [:]][String(parts[1].dropFirst(4))] = .number(try tensor.item())
            } else {
                rest.append((name, tensor))
            }
        }
        try super.loadStateTensors(rest)
        guard let lua = module.lua else {
            throw TensorError(module.label, "the Lua state that loaded this plugin has been closed")
        }
        for (position, fields) in luaFields {
            lua.setPluginState(reference: module.reference, key: position + 1, fields: fields)
        }
    }
}

extension LuaKindBinding {
    static let optimizer = LuaKindBinding(
        kind: .optimizer, className: "Optimizer", methods: [["update"]],
        contract:
            "`update(self, parameter, gradient, state, group)` → the new parameter (no-grad); `state` persists per parameter, `group` has `lr`, `weight_decay`, `step`; takes `params`",
        adapter: { plugin in
            let rate = plugin.config.has("lr") ? try plugin.config.number("lr") : 1e-3
            let decay = plugin.config.has("weight_decay") ? try plugin.config.number("weight_decay") : 0
            return try LuaPluginOptimizer(
                module: plugin.module, parameters: plugin.config.tensors("params"), learningRate: rate,
                weightDecay: decay)
        })
}
