import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// An LRP rule plugin: `relevance(self, layer, input, relevance)` returns the relevance at the layer's
/// input. `layer` is a table {name, kind, module, weight, bias} (weight and bias merged with a following
/// BatchNorm when canonised); `layer.module:forward_with(x, weight, bias)` evaluates the layer with other
/// parameters, and `grad` differentiates, as Zennit's rules do. Runs with gradient recording on.
final class LuaPluginRule: RelevanceRule, LuaPluginBacked {
    let module: LuaPluginModule
    let name: String
    init(module: LuaPluginModule, name: String) {
        self.module = module
        self.name = name
    }

    func inputRelevance(layer: RelevanceLayer, input: Tensor, outputRelevance: Tensor) throws -> Tensor {
        let description: [String: ConfigValue] = [
            "name": .string(layer.name), "kind": .string(layer.module.typeName), "module": .object(layer.module),
            "weight": layer.weight.map { .tensor($0.detach()) } ?? .null,
            "bias": layer.bias.map { .tensor($0.detach()) } ?? .null,
        ]
        let relevance = try GradientMode.with(enabled: true) {
            try module.tensorResult(
                module.call(
                    "relevance", [.table(description), .tensor(input.detach()), .tensor(outputRelevance.detach())]),
                "relevance")
        }
        guard relevance.shape == input.shape else {
            throw TensorError(
                module.label,
                "relevance returned \(describe(shape: relevance.shape)) for layer \(layer.name) with input \(describe(shape: input.shape))"
            )
        }
        return relevance.detach()
    }
}

extension LuaKindBinding {
    static let rule = LuaKindBinding(
        kind: .rule, className: "Rule", methods: [["relevance"]],
        contract:
            "`relevance(self, layer, input, relevance)` → the input relevance; `layer` = {name, kind, module, weight, bias}, `layer.module:forward_with(x, w, b)`",
        adapter: { LuaPluginRule(module: $0.module, name: $0.name) })
}
