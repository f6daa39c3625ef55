import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// An explainer plugin: `attribute(self, model, inputs, targets)` returns attribution maps. The model runs in
/// evaluation mode and gets its mode back afterwards, as with the built-in explainers.
final class LuaPluginExplainer: Explainer, LuaPluginBacked {
    let module: LuaPluginModule
    init(module: LuaPluginModule) { self.module = module }

    func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        try model.evaluating {
            try module.tensorResult(
                module.call("attribute", [.object(model), .tensor(inputs), targets.map { .tensor($0) } ?? .null]),
                "attribute")
        }
    }
}

extension LuaKindBinding {
    static let explainer = LuaKindBinding(
        kind: .explainer, className: "Explainer", methods: [["attribute"], ["cam_weights"], ["cam_map"]],
        contract:
            "`attribute(self, model, inputs, targets)` → attributions with the batch axis first; or, for a CAM method on the engine of the CAM family, `cam_weights(self, activations, gradients)` → channel weights `[N, C]` or `cam_map(self, activations, gradients)` → a raw map `[N, h, w]` (the engine captures the layer, relus, normalises and resizes; takes `layer` and `normalize`)",
        adapter: { plugin in
            for method in ["cam_weights", "cam_map"] where plugin.defines(method) {
                let weighting = LuaCAMWeighting(module: plugin.module, name: plugin.name, method: method)
                return ClassActivationMap(
                    weighting: weighting, layer: plugin.config.has("layer") ? try plugin.config.string("layer") : nil,
                    normalize: plugin.config.has("normalize") ? try plugin.config.boolean("normalize") : true)
            }
            return LuaPluginExplainer(module: plugin.module)
        },
        pluginOptions: { methods in
            // A CAM method takes the engine's options.
            methods.isDisjoint(with: ["cam_weights", "cam_map"])
                ? [] : ClassActivationMap.options.filter { $0.name != "batch_size" }
        })
}

/// A CAM method from a Lua explainer plugin: `cam_weights(self, activations, gradients)` returns channel
/// weights `[N, C]` (the map is Σ_c w_c A_c) or `cam_map(self, activations, gradients)` returns the raw map
/// `[N, h, w]`; ``ClassActivationMap`` does the rest (layer capture, relu, normalisation, resizing), as for
/// the built-in CAM methods.
final class LuaCAMWeighting: CAMChannelWeighting, LuaPluginBacked {
    let module: LuaPluginModule
    let name: String
    /// `cam_weights` or `cam_map`.
    let method: String

    init(module: LuaPluginModule, name: String, method: String) {
        self.module = module
        self.name = name
        self.method = method
    }

    func channelWeights(_ layer: CAMLayer) throws -> [Double] {
        let (count, channels, _) = layer.dimensions
        let weights = try result(layer)
        guard weights.shape == [count, channels] else {
            throw TensorError(
                module.label,
                "cam_weights must return [N, C] = [\(count), \(channels)], got \(describe(shape: weights.shape))")
        }
        return weights.toDoubles()
    }

    func map(_ layer: CAMLayer) throws -> [Double] {
        guard method == "cam_map" else { return try layer.weightedSum(channelWeights(layer), method: name) }
        let shape = layer.activations.shape
        let map = try result(layer)
        guard map.count == shape[0] * shape[2] * shape[3], map.shape.first == shape[0] else {
            throw TensorError(
                module.label,
                "cam_map must return [N, h, w] = [\(shape[0]), \(shape[2]), \(shape[3])], got \(describe(shape: map.shape))"
            )
        }
        return map.toDoubles()
    }

    private func result(_ layer: CAMLayer) throws -> Tensor {
        let gradients: ConfigValue = layer.gradients.map { .tensor($0) } ?? .null
        return try GradientMode.with(enabled: false) {
            try module.tensorResult(module.call(method, [.tensor(layer.activations), gradients]), method)
        }
    }
}
