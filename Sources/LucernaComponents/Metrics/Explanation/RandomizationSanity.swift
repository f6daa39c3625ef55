import Foundation
import LucernaCore
import LucernaNN

/// The model-parameter randomisation sanity check: every parameter of the model is replaced by Gaussian
/// noise with that parameter's own standard deviation (from the run's generator), the `explainer` explains
/// the same inputs and targets again, and the score is the Spearman rank correlation between each original
/// map and its randomised-model map (averaged over samples). An explanation that depends on what the model
/// learned scores near 0; one that merely reflects the input scores near 1. The weights are restored
/// afterwards.
public final class RandomizationSanity: MaskedAttributionMetric, FaithfulnessMetric {
    static let options = [
        OptionSpec(
            "explainer", .component(.explainer), required: true,
            "the explainer that made the maps (e.g. {type = \"grad_cam\", layer = \"relu2\"})"),
        OptionSpec("absolute", .boolean, default: .boolean(true), "rank absolute attributions (as Adebayo et al.)"),
    ]
    let explainer: Explainer, absolute: Bool

    init(config: Config) throws {
        self.explainer = try config.component("explainer", kind: .explainer)
        absolute = try config.boolean("absolute")
        super.init(owner: config.owner)
    }

    public override func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        throw TensorError(
            owner,
            "needs the model: metric:update_explanation(model, inputs, maps[, targets]) (Swift: update(model:inputs:attributions:targets:))"
        )
    }

    public func update(model: Module, inputs: Tensor, attributions: Tensor, targets: Tensor?) throws {
        let count = inputs.shape.first ?? 0
        guard attributions.shape.first == count, count > 0 else {
            throw TensorError(
                owner,
                "maps \(describe(shape: attributions.shape)) do not match inputs \(describe(shape: inputs.shape))")
        }
        // The classes explained stay those of the trained model.
        let classes = try model.evaluating {
            try ExplanationTargets.resolve(model: model, inputs: inputs, targets: targets, owner: owner)
        }
        let saved = model.parameters().map { $0.copy() }
        defer { for (parameter, value) in zip(model.parameters(), saved) { try? parameter.assign(value) } }
        try noGrad {
            for parameter in model.parameters() {
                let values = parameter.toDoubles()
                let mean = values.reduce(0, +) / Double(max(values.count, 1))
                let spread = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(values.count, 1)))
                    .squareRoot()
                try parameter.assign(
                    Tensor.normal(
                        parameter.shape, standardDeviation: spread > 0 ? spread : 0.01, dtype: parameter.dtype))
            }
        }
        let randomized = try explainer.attribute(
            model: model, inputs: inputs, targets: Tensor(shape: [count], integers: classes))
        guard randomized.count == attributions.count else {
            throw TensorError(
                owner,
                "the explainer's maps \(describe(shape: randomized.shape)) differ in size from the given maps \(describe(shape: attributions.shape))"
            )
        }
        let size = attributions.count / count
        let original = attributions.toDoubles()
        let random = randomized.toDoubles()
        for n in 0..<count {
            var a = Array(original[n * size..<(n + 1) * size])
            var b = Array(random[n * size..<(n + 1) * size])
            if absolute {
                a = a.map(abs)
                b = b.map(abs)
            }
            record(RandomizationSanity.spearman(a, b))
        }
    }

    /// Spearman's rank correlation (average ranks for ties); nil when either side is constant.
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double? {
        func ranks(_ values: [Double]) -> [Double] {
            let order = values.indices.sorted { values[$0] < values[$1] }
            var result = [Double](repeating: 0, count: values.count)
            var start = 0
            while start < order.count {
                var end = start
                while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
                for position in start...end { result[order[position]] = Double(start + end) / 2 + 1 }
                start = end + 1
            }
            return result
        }
        let (x, y) = (ranks(a), ranks(b))
        let meanX = x.reduce(0, +) / Double(x.count)
        let meanY = y.reduce(0, +) / Double(y.count)
        var covariance = 0.0
        var varianceX = 0.0
        var varianceY = 0.0
        for i in x.indices {
            covariance += (x[i] - meanX) * (y[i] - meanY)
            varianceX += (x[i] - meanX) * (x[i] - meanX)
            varianceY += (y[i] - meanY) * (y[i] - meanY)
        }
        guard varianceX > 0, varianceY > 0 else { return nil }
        return covariance / (varianceX * varianceY).squareRoot()
    }
}

extension RandomizationSanity: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "randomization_sanity",
            "Spearman correlation of maps before and after randomising the weights (lower is better)",
            reference:
                "Adebayo et al., \"Sanity Checks for Saliency Maps\", NeurIPS 2018; Quantus `ModelParameterRandomisation` (full randomisation, Spearman similarity)",
            options: RandomizationSanity.options, build: RandomizationSanity.init)
    ]
}
