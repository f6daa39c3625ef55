import Foundation
import LucernaCore
import LucernaNN

/// Where in each input an artifact sits, from a concept activation vector, and how much of a model's
/// relevance falls there, as Reveal-to-Revise computes both:
/// - ``conceptHeatmaps(explainer:model:layer:cav:inputs:)``: the input relevance of the CAV's direction — the
///   explainer run on the model cut at `layer`, followed by ReLU and a linear head whose weights are the
///   CAV (broadcast over positions), so LRP starts from relevance relu(a) ⊙ v at the layer (R2R's
///   `init_rel = act.clamp(min=0) * w`); negative relevance is set to 0.
/// - ``masks(_:low:kernelSize:sigma:high:)``: R2R's rule — keep cells above `low`·max, blur that binary map
///   with a Gaussian (torchvision's kernel, reflected borders), keep cells above `high`·max of the blur.
/// - ``artifactRelevance(heatmaps:masks:)``: per sample Σ|R ⊙ M| / (Σ|R| + 1e-10), relevance summed
///   over channels first.
///
/// Reference: Pahde et al., "Reveal to Revise", MICCAI 2023 (maxdreyer/Reveal2Revise
/// `localize_artifacts.py`, `artifact_relevance.py`).
public enum ArtifactLocalization {
    /// The model cut at a layer, scored along a concept direction: relu(a(x)) flattened times the CAV.
    final class ConceptScore: Module {
        let model: Module
        let layer: Module
        let layerName: String
        let head: Linear
        let rectifier = ReLU()

        init(model: Module, layerName: String, cav: ConceptActivationVector, sample: Tensor) throws {
            let layer = try ArtifactLocalization.layer(layerName, in: model, owner: "concept relevance")
            self.model = model
            self.layer = layer
            self.layerName = layerName
            // The layer's shape from the first sample (a model seen as a function of one modality, restricted to
            // that row, holds the sample's own other modalities).
            let shape = try model.restricted(toRows: [0]).forward(
                sample, capturing: layer, owner: "concept relevance", layerName: layerName
            ).activations.shape
            let perSample = shape.dropFirst().reduce(1, *)
            let positions: Int
            switch cav.vector.count {
            case perSample: positions = 1
            case shape.count >= 3 ? shape[1] : -1: positions = perSample / shape[1]
            default:
                throw TensorError(
                    "concept relevance",
                    "the CAV has \(cav.vector.count) entries; layer \(layerName) outputs \(describe(shape: shape))")
            }
            let weights = cav.vector.flatMap { Array(repeating: $0, count: positions) }
            head = try Linear(perSample, 1, bias: false, dtype: sample.dtype)
            try head.weight.assign(Tensor(shape: [1, perSample], doubles: weights).to(sample.dtype))
            super.init()
            registerModule("model", model)
            registerModule("rectifier", rectifier)
            registerModule("concept", head)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            let activations = try model.forward(
                input, capturing: layer, owner: "concept relevance", layerName: layerName
            ).activations
            return try head(rectifier(activations).reshaped([activations.shape[0], -1]))
        }
    }

    /// The module at a dotted layer name (the explainers' lookup: an unknown name is an error listing the
    /// modules, with the closest suggested).
    public static func layer(_ name: String, in model: Module, owner: String) throws -> Module {
        guard !name.isEmpty, let layer = try ExplanationTargets.layer(name, in: model, owner: owner) else {
            throw ConfigurationError(owner, "name a layer of the model")
        }
        return layer
    }

    /// The input relevance of the CAV's direction at `layer` for each of `inputs`, negatives set to 0,
    /// summed over channels: `[N, H, W]`.
    public static func conceptHeatmaps(
        explainer: Explainer, model: Module, layer: String, cav: ConceptActivationVector, inputs: Tensor
    ) throws -> Tensor {
        guard inputs.rank >= 3, inputs.shape[0] > 0 else {
            throw TensorError(
                "concept relevance", "inputs must be [N, C, H, W] images, got \(describe(shape: inputs.shape))")
        }
        let scored = try model.evaluating {
            try ConceptScore(model: model, layerName: layer, cav: cav, sample: inputs.sliced(axis: 0, start: 0, end: 1))
        }
        let targets = try Tensor(shape: [inputs.shape[0]], integers: Array(repeating: 0, count: inputs.shape[0]))
        let relevance = try explainer.attribute(model: scored, inputs: inputs, targets: targets)
        let summed = relevance.rank == 4 ? try relevance.sum(axes: [1]) : relevance
        return try summed.clamp(min: 0).detach()
    }

    /// torchvision's Gaussian kernel: exp(−x²/2σ²) at x = −(k−1)/2 … (k−1)/2, normalised.
    static func gaussianKernel(size: Int, sigma: Double) -> [Double] {
        let half = Double(size - 1) / 2
        let values = (0..<size).map { exp(-0.5 * pow((Double($0) - half) / sigma, 2)) }
        let total = values.reduce(0, +)
        return values.map { $0 / total }
    }

    /// Index `index` of a signal of `length` with reflected borders (`dcb|abcd|cba`), repeated as needed.
    static func reflectedIndex(_ index: Int, _ length: Int) -> Int {
        guard length > 1 else { return 0 }
        let period = 2 * (length - 1)
        var folded = index % period
        if folded < 0 { folded += period }
        return folded < length ? folded : period - folded
    }

    /// A separable Gaussian blur of one `height × width` map with reflected borders (torchvision's
    /// `GaussianBlur`; the kernel may be larger than the map).
    static func blur(_ map: [Double], height: Int, width: Int, kernelSize: Int, sigma: Double) -> [Double] {
        separableFilter(
            map, height: height, width: width, kernel: gaussianKernel(size: kernelSize, sigma: sigma),
            border: reflectedIndex)
    }

    /// R2R's artifact masks from heatmaps `[N, H, W]` (or `[N, C, H, W]`, summed over channels): per map,
    /// 1 where the map exceeds `low`·max|map|, blurred, then 1 where the blur exceeds `high`·its max. A map
    /// with no positive value gives an empty mask.
    public static func masks(
        _ heatmaps: Tensor, low: Double = 0.1, kernelSize: Int = 41, sigma: Double = 8, high: Double = 0.3
    ) throws -> Tensor {
        let (values, count, height, width) = try maps(heatmaps, owner: "artifact masks")
        guard kernelSize > 0, kernelSize % 2 == 1, sigma > 0, (0..<1).contains(low), (0..<1).contains(high) else {
            throw TensorError(
                "artifact masks",
                "kernel size must be odd and positive, sigma positive, thresholds in [0, 1); got \(kernelSize), \(sigma), \(low), \(high)"
            )
        }
        let plane = height * width
        var result = [Double](repeating: 0, count: values.count)
        for sample in 0..<count {
            let map = Array(values[(sample * plane)..<((sample + 1) * plane)])
            let largest = map.map(abs).max() ?? 0
            guard largest > 0 else { continue }
            let kept = map.map { $0 / largest > low ? 1.0 : 0.0 }
            let blurred = blur(kept, height: height, width: width, kernelSize: kernelSize, sigma: sigma)
            let peak = blurred.max() ?? 0
            guard peak > 0 else { continue }
            for cell in 0..<plane where blurred[cell] / peak > high { result[sample * plane + cell] = 1 }
        }
        return try Tensor(shape: [count, height, width], doubles: result)
    }

    /// The share of each sample's |relevance| inside its mask: Σ|R ⊙ M| / (Σ|R| + 1e-10), `[N]`.
    public static func artifactRelevance(heatmaps: Tensor, masks: Tensor) throws -> [Double] {
        let (relevance, count, height, width) = try maps(heatmaps, owner: "artifact relevance")
        let (mask, maskCount, maskHeight, maskWidth) = try maps(masks, owner: "artifact relevance")
        guard count == maskCount, height == maskHeight, width == maskWidth else {
            throw TensorError(
                "artifact relevance",
                "heatmaps \(describe(shape: heatmaps.shape)) and masks \(describe(shape: masks.shape)) do not match")
        }
        let plane = height * width
        return (0..<count).map { sample in
            var inside = 0.0
            var total = 0.0
            for cell in (sample * plane)..<((sample + 1) * plane) {
                inside += abs(relevance[cell] * mask[cell])
                total += abs(relevance[cell])
            }
            return inside / (total + 1e-10)
        }
    }

    /// Maps `[N, H, W]` or `[N, C, H, W]` (summed over channels) as doubles.
    static func maps(_ tensor: Tensor, owner: String) throws -> (values: [Double], count: Int, height: Int, width: Int)
    {
        guard tensor.dtype.isFloatingPoint || tensor.dtype == .int64, tensor.rank == 3 || tensor.rank == 4,
            tensor.count > 0
        else {
            throw TensorError(
                owner, "expected maps [N, H, W] or [N, C, H, W], got \(tensor.dtype) \(describe(shape: tensor.shape))")
        }
        let summed = tensor.rank == 4 ? try tensor.to(.float64).sum(axes: [1]) : tensor
        let values = summed.toDoubles()
        guard values.allSatisfy(\.isFinite) else { throw TensorError(owner, "the maps contain NaN or infinity") }
        return (values, summed.shape[0], summed.shape[1], summed.shape[2])
    }
}
