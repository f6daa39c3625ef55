import LucernaCore
import LucernaNN

/// SmoothGrad: the mean saliency over `samples` copies of the input with Gaussian noise of standard
/// deviation `noise` · (max − min of each input), squared if asked (SmoothGrad-Squared); noise from the
/// run's generator.
public final class SmoothGrad: Explainer {
    static let options = [
        OptionSpec("samples", .integer, default: .number(25), "noisy copies per input"),
        OptionSpec(
            "noise", .number, default: .number(0.15),
            "noise standard deviation as a fraction of each input's value range"),
        OptionSpec("squared", .boolean, default: .boolean(false), "average squared gradients (SmoothGrad-Squared)"),
        OptionSpec("absolute", .boolean, default: .boolean(true), "average |gradient| (Captum's Saliency default)"),
        OptionSpec(
            "batch_size", .integer, default: .number(512),
            "the most inputs in one forward/backward pass: a larger batch's noisy copies go through in slices of samples (the same noise, the same maps); bounds memory"
        ),
        ExplanationTargets.layerOption,
    ]
    let samples: Int, noise: Double, squared: Bool, absolute: Bool, batchSize: Int, layerName: String?

    init(config: Config) throws {
        samples = try config.positiveInteger("samples")
        noise = try config.number("noise")
        squared = try config.boolean("squared")
        absolute = try config.boolean("absolute")
        batchSize = try config.positiveInteger("batch_size")
        layerName = config.has("layer") ? try config.string("layer") : nil
        guard noise >= 0, noise.isFinite else {
            throw config.error("noise must be a non-negative number, got \(noise)")
        }
    }

    public func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        try model.evaluating {
            let layer = try ExplanationTargets.layer(layerName, in: model, owner: "smoothgrad")
            try ExplanationTargets.requireFloatingPoint(inputs, layer: layer, owner: "smoothgrad")
            let classes = try ExplanationTargets.resolve(
                model: model, inputs: inputs, targets: targets, owner: "smoothgrad", size: batchSize)
            let attributed = try ExplanationTargets.attributedValues(
                model: model, inputs: inputs, layer: layer, size: batchSize)
            // 1. Each sample's noise level from its own value range.
            let count = attributed.shape[0]
            let size = attributed.count / max(count, 1)
            let values = attributed.toDoubles()
            let scales = (0..<count).map { n -> Double in
                let slice = values[n * size..<(n + 1) * size]
                return noise * ((slice.max() ?? 0) - (slice.min() ?? 0))
            }
            var total = attributed.zerosLike()
            for _ in 0..<samples {
                let standard = try Tensor.normal(attributed.shape, dtype: attributed.dtype).toDoubles()
                let noisy = try Tensor(
                    shape: attributed.shape,
                    values: (0..<attributed.count).map { values[$0] + standard[$0] * scales[$0 / size] },
                    dtype: attributed.dtype)
                // The noise is drawn for the whole batch (the same draws whatever the slices), then the
                // gradients are taken slice by slice.
                let slices = SampleSlices.ranges(count: count, size: batchSize)
                let gradient = try Tensor.concatenate(
                    slices.map { slice in
                        let whole = slices.count == 1
                        func part(_ tensor: Tensor) throws -> Tensor {
                            whole ? tensor : try tensor.sliced(axis: 0, start: slice.lowerBound, end: slice.upperBound)
                        }
                        return try ExplanationTargets.gradient(
                            model: whole ? model : model.restricted(toRows: Array(slice)), inputs: part(inputs),
                            layer: layer, point: part(noisy), classes: Array(classes[slice]), targets: nil,
                            owner: "smoothgrad"
                        ).gradient
                    }, axis: 0)
                total = try noGrad {
                    try total + (squared ? gradient * gradient : absolute ? gradient.abs() : gradient)
                }
            }
            return try noGrad { try total / Double(samples) }
        }
    }
}

extension SmoothGrad: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "smoothgrad", "mean saliency over noisy copies of the input",
            reference:
                "Smilkov et al., \"SmoothGrad: removing noise by adding noise\", 2017; Captum `NoiseTunnel` (`nt_type = \"smoothgrad\"`, absolute gradients as its `Saliency`)",
            options: SmoothGrad.options, build: SmoothGrad.init)
    ]
}
