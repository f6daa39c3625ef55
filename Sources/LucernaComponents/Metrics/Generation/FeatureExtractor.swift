import LucernaCore
import LucernaNN

/// The feature vectors a generation metric compares: with a `classifier` (a module) and its `layer`, that
/// layer's output in an evaluation-mode forward pass without gradients, in batches, flattened; without
/// one, the samples themselves, flattened.
struct FeatureExtractor {
    static let options = [
        OptionSpec(
            "classifier", .object("Module"), "a module whose layer gives the features; default: the samples themselves"),
        OptionSpec("layer", .string, "the classifier's layer (dotted name) whose output is the feature vector"),
        OptionSpec("batch", .integer, default: .number(500), "the classifier's evaluation batch"),
    ]
    let owner: String
    let classifier: Module?
    let layer: (name: String, module: Module)?
    let batch: Int

    init(config: Config) throws {
        owner = config.owner
        batch = try config.positiveInteger("batch")
        if config.has("classifier") {
            let model = try config.object("classifier", as: Module.self, named: "a module (the auditing classifier)")
            let name = try config.string("layer")
            guard let module = model.module(named: name) else {
                let names = model.namedModules().map(\.name).filter { !$0.isEmpty }
                throw config.error(
                    "the classifier has no layer '\(name)'\(suggestion(for: name, in: names)); layers: \(names.prefix(40).joined(separator: ", "))"
                )
            }
            (classifier, layer) = (model, (name, module))
        } else {
            guard !config.has("layer") else { throw config.error("option layer needs a classifier") }
            (classifier, layer) = (nil, nil)
        }
    }

    /// The feature rows of `samples` (row after row, Float64) and their width.
    func features(_ samples: Tensor) throws -> (values: [Double], width: Int) {
        guard samples.rank >= 2, samples.shape[0] > 0 else {
            throw TensorError(owner, "needs a batch of samples [N, ...], got \(describe(shape: samples.shape))")
        }
        var output = samples
        if let classifier, let layer {
            var parts: [Tensor] = []
            try classifier.evaluating {
                try noGrad {
                    for start in stride(from: 0, to: samples.shape[0], by: batch) {
                        let chunk = try samples.sliced(
                            axis: 0, start: start, end: min(start + batch, samples.shape[0]))
                        parts.append(
                            try classifier.forward(chunk, capturing: layer.module, owner: owner, layerName: layer.name)
                                .activations)
                    }
                }
            }
            output = try Tensor.concatenate(parts, axis: 0)
        }
        let rows = output.shape[0]
        let values = try output.to(.float64).toDoubles()
        guard values.allSatisfy(\.isFinite) else {
            throw TensorError(owner, "the features have NaN or infinite values")
        }
        return (values, values.count / rows)
    }
}
