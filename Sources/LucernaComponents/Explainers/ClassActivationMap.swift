import Foundation
import LucernaCore
import LucernaNN

/// The class-activation-map family on one layer of a model (chosen by module name): one engine that captures
/// the layer's activations A (and, for gradient methods, the gradients g of the target class scores), asks a
/// ``CAMWeighting`` for the raw map, and post-processes it the same way for every method, as
/// pytorch-grad-cam's `BaseCAM` does with its subclasses' `get_cam_weights`. A new CAM method is one small
/// weighting type (Swift, under `CAM/`) or a Lua explainer plugin defining `cam_weights` or `cam_map`.
///
/// The map is relu'd, min-max normalised per image (ε 1e-7), resized to the input's height and width
/// (bilinear, half-pixel centres, like cv2.resize) and normalised again — pytorch-grad-cam's steps. With
/// `normalize = false` the relu'd map is only resized. A temporal layer's `[N, C, l]` output is a map of
/// height 1 over time, resized to the input's last axis.
public final class ClassActivationMap: Explainer {
    public let weighting: CAMWeighting
    /// The module whose output is explained; nil picks the last non-pooling module with a 4-D output.
    public let layer: String?
    public let normalize: Bool

    /// The options every CAM method takes.
    public static let options = [
        OptionSpec(
            "layer", .string, default: .null,
            "the module (by name, e.g. \"relu2\") whose activations are explained; default: the last non-pooling module with a 4-D output"
        ),
        OptionSpec(
            "normalize", .boolean, default: .boolean(true),
            "min-max normalise each map to [0, 1] (pytorch-grad-cam's output)"),
        OptionSpec(
            "batch_size", .integer, default: .number(128),
            "score_cam: the most masked inputs in one forward pass (several channels of the batch, or one channel of a slice of a batch larger than this; same maps); bounds memory"
        ),
    ]

    public init(weighting: CAMWeighting, layer: String? = nil, normalize: Bool = true) {
        self.weighting = weighting
        self.layer = layer
        self.normalize = normalize
    }

    /// The engine's options (`layer`, `normalize`) from a configuration, around `weighting`.
    public convenience init(weighting: CAMWeighting, config: Config) throws {
        _ = try config.positiveInteger("batch_size")
        self.init(
            weighting: weighting, layer: config.has("layer") ? try config.string("layer") : nil,
            normalize: try config.boolean("normalize"))
    }

    /// Maps `[N, H, W]` for `inputs` `[N, C, H, W]`, explaining `targets` (class indices `[N]`; nil: the
    /// predicted classes).
    public func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        try model.evaluating {  // (as pytorch-grad-cam)
            // A method with a row limit (Score-CAM) explains a larger batch in slices of samples.
            try SampleSlices.explain(
                model: model, inputs: inputs, targets: targets, size: weighting.rowLimit ?? Int.max
            ) { try maps(model: $0, inputs: $1, targets: $2) }
        }
    }

    func maps(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        let name = weighting.name
        guard inputs.rank == 3 || inputs.rank == 4 else {
            throw TensorError(
                name,
                "inputs must be images or spectrograms [N, C, H, W] (or [N, C, L]), got \(describe(shape: inputs.shape))"
            )
        }
        let count = inputs.shape[0]
        let width = inputs.shape[inputs.rank - 1]
        let target = try resolveLayer(model, inputs: inputs)
        // 1. Forward with the layer's output captured; the score of each sample's target class.
        let input = try inputs.detach().requiringGrad()
        let (logits, output) = try model.forward(input, capturing: target.module, owner: name, layerName: target.name)
        guard logits.rank == 2, logits.shape[0] == count else {
            throw TensorError(name, "the model must return logits [N, classes], got \(describe(shape: logits.shape))")
        }
        guard output.rank == 4 || output.rank == 3, output.shape[0] == count, output.rank <= inputs.rank else {
            throw TensorError(
                name,
                "layer \(target.name) must output [N, C, h, w] (or [N, C, l] for a temporal layer), got \(describe(shape: output.shape))"
            )
        }
        let temporal = output.rank == 3
        let activations = temporal ? try output.unsqueezed(axis: 2) : output
        let height = temporal ? 1 : inputs.shape[inputs.rank - 2]
        let classes = try ExplanationTargets.classes(targets, logits: logits, owner: name)
        // 2. The gradients of the target scores at the layer (when the method uses them), then the raw map.
        var gradients: Tensor?
        var derivatives: (second: [Double], third: [Double])?
        if weighting.requirement != .activations {
            let score = try ExplanationTargets.score(logits, classes: classes)
            // Differentiated at the layer's own output (the 4-D view of a temporal layer is not in the graph;
            // both hold the values in the same order).
            let exact = weighting.requirement == .higherDerivatives
            guard
                let gradient = try Tensor.gradients(of: [score], withRespectTo: [output], createGraph: exact).first
                    ?? nil
            else {
                throw TensorError(name, "the target scores do not depend on layer \(target.name)")
            }
            if exact { derivatives = try Self.diagonalDerivatives(gradient: gradient, activations: output) }
            gradients = try gradient.detach().reshaped(activations.shape)
        }
        let context = CAMLayer(
            name: target.name, activations: activations.detach(), gradients: gradients,
            secondDerivatives: derivatives?.second, thirdDerivatives: derivatives?.third,
            model: model, inputs: inputs, classes: classes, temporal: temporal)
        let raw = try weighting.map(context)
        let (h, w) = (activations.shape[2], activations.shape[3])
        guard raw.count == count * h * w else {
            throw TensorError(name, "the weighting returned \(raw.count) values for maps [\(count), \(h), \(w)]")
        }
        // 3. relu, normalise, resize, normalise (pytorch-grad-cam's scale_cam_image twice).
        var maps = raw.map { max($0, 0) }
        if normalize { Self.normalizeEach(&maps, count: count, size: h * w) }
        var resized = try Tensor(shape: [count, 1, h, w], doubles: maps).upsample(
            size: (height, width), mode: .bilinear
        ).toDoubles()
        if normalize {
            resized = resized.map { max($0, 0) }
            Self.normalizeEach(&resized, count: count, size: height * width)
        }
        return try Tensor(
            shape: temporal ? [count, width] : [count, height, width], values: resized, dtype: inputs.dtype)
    }

    /// The explained module: `layer` by name, else the last non-pooling module with a 4-D output.
    func resolveLayer(_ model: Module, inputs: Tensor) throws -> (name: String, module: Module) {
        let modules = model.namedModules().filter { !$0.name.isEmpty }
        if let layer {
            guard let module = model.module(named: layer) else {
                let names = modules.map(\.name)
                throw TensorError(
                    weighting.name,
                    "the model has no module '\(layer)'\(suggestion(for: layer, in: names)); modules: \(names.joined(separator: ", "))"
                )
            }
            return (layer, module)
        }
        guard
            let last = try SpatialLayer.last(
                among: modules, temporal: inputs.rank >= 3,
                run: { _ = try model(inputs.sliced(axis: 0, start: 0, end: 1)) })
        else {
            throw TensorError(
                weighting.name, "the model has no module with a 4-D output to explain; name one with layer = ...")
        }
        return last
    }

    /// ∂²S/∂A_j² and ∂³S/∂A_j³ at every activation position j (S the summed target scores; samples are
    /// independent, so one basis direction serves the whole batch): per position, the Hessian row through
    /// the gradient's graph, then the gradient of its diagonal entry. Zero when the gradient has no graph
    /// (piecewise-linear heads).
    static func diagonalDerivatives(gradient: Tensor, activations: Tensor) throws -> (second: [Double], third: [Double])
    {
        let shape = activations.shape
        let positions = shape.dropFirst().reduce(1, *)
        var second = [Double](repeating: 0, count: activations.count)
        var third = second
        guard gradient.requiresGrad else { return (second, third) }
        for position in 0..<positions {
            var basis = [Double](repeating: 0, count: positions)
            basis[position] = 1
            let direction = try Tensor(shape: [1] + shape.dropFirst(), values: basis, dtype: activations.dtype)
            let projected = try (gradient * direction).sum()
            guard projected.requiresGrad,
                let row = try Tensor.gradients(of: [projected], withRespectTo: [activations], createGraph: true).first
                    ?? nil
            else { continue }
            let rowValues = row.toDoubles()
            for sample in 0..<shape[0] {
                second[sample * positions + position] = rowValues[sample * positions + position]
            }
            let diagonal = try (row * direction).sum()
            guard diagonal.requiresGrad,
                let derivative = try Tensor.gradients(of: [diagonal], withRespectTo: [activations]).first ?? nil
            else { continue }
            let derivativeValues = derivative.toDoubles()
            for sample in 0..<shape[0] {
                third[sample * positions + position] = derivativeValues[sample * positions + position]
            }
        }
        return (second, third)
    }

    /// Per map: subtract the minimum, divide by ε + the maximum (pytorch-grad-cam's `scale_cam_image`).
    static func normalizeEach(_ values: inout [Double], count: Int, size: Int) {
        for n in 0..<count {
            let range = n * size..<(n + 1) * size
            let low = values[range].min() ?? 0
            for index in range { values[index] -= low }
            let high = values[range].max() ?? 0
            for index in range { values[index] /= 1e-7 + high }
        }
    }
}
