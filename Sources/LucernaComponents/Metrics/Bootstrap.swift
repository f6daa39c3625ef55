import LucernaCore

/// A percentile bootstrap confidence interval around any metric: it keeps every batch, and `report()`
/// recomputes the inner metric on `samples` resamples (with replacement, seeded) of the samples seen.
/// `compute()` is the inner metric on all samples.
public final class Bootstrap: Metric {
    static let options = [
        OptionSpec(
            "metric", .component(.metric), default: .string("accuracy"),
            "the metric: a name, a spec table or an instance"),
        OptionSpec("samples", .integer, default: .number(1000), "bootstrap resamples"),
        OptionSpec("confidence", .number, default: .number(0.95), "interval level"),
        OptionSpec("seed", .integer, default: .number(0), "seed of the resampling"),
    ]
    let owner: String
    let inner: Metric
    let samples: Int, confidence: Double, seed: UInt64
    private var predictions: [Tensor] = [], targets: [Tensor] = [], groups: [Tensor] = []

    init(config: Config) throws {
        owner = config.owner
        inner = try config.component("metric", kind: .metric)
        samples = try config.positiveInteger("samples")
        confidence = try config.number("confidence")
        seed = UInt64(truncatingIfNeeded: try config.integer("seed"))
        guard confidence > 0, confidence < 1 else {
            throw ConfigurationError(config.owner, "confidence must be in (0, 1), got \(confidence)")
        }
    }

    public func update(predictions batch: Tensor, targets batchTargets: Tensor, groups batchGroups: Tensor?) throws {
        try inner.update(predictions: batch, targets: batchTargets, groups: batchGroups)
        predictions.append(batch)
        targets.append(batchTargets)
        if let batchGroups { groups.append(batchGroups) }
    }

    public func compute() throws -> Double { try inner.compute() }

    public func reset() {
        inner.reset()
        (predictions, targets, groups) = ([], [], [])
    }

    public func report() throws -> [String: ConfigValue] {
        let value = try inner.compute()
        guard !predictions.isEmpty else { throw TensorError(owner, "no samples seen") }
        let allPredictions = try Tensor.concatenate(predictions, axis: 0)
        let allTargets = try Tensor.concatenate(targets, axis: 0)
        let allGroups = groups.count == predictions.count ? try Tensor.concatenate(groups, axis: 0) : nil
        let count = allTargets.shape[0]
        let generator = RandomGenerator(seed: seed)
        var values: [Double] = []
        for _ in 0..<samples {
            let chosen = (0..<count).map { _ in Int(generator.next() % UInt64(count)) }
            inner.reset()
            try inner.update(
                predictions: allPredictions.indexSelect(axis: 0, indices: chosen),
                targets: allTargets.indexSelect(axis: 0, indices: chosen),
                groups: try allGroups?.indexSelect(axis: 0, indices: chosen))
            if let resampled = try? inner.compute(), resampled.isFinite { values.append(resampled) }
        }
        // Restore the inner metric to all samples.
        inner.reset()
        try inner.update(predictions: allPredictions, targets: allTargets, groups: allGroups)
        guard !values.isEmpty else { throw TensorError(owner, "the metric was undefined on every resample") }
        values.sort()
        let tail = (1 - confidence) / 2
        func quantile(_ q: Double) -> Double {
            let position = q * Double(values.count - 1)
            let lower = Int(position)
            let upper = min(lower + 1, values.count - 1)
            return values[lower] + (values[upper] - values[lower]) * (position - Double(lower))
        }
        return [
            "value": .number(value), "lower": .number(quantile(tail)), "upper": .number(quantile(1 - tail)),
            "confidence": .number(confidence), "resamples": .number(Double(values.count)),
        ]
    }
}

extension Bootstrap: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "bootstrap", "percentile bootstrap interval around another metric (in report())",
            reference: "Efron & Tibshirani, \"An Introduction to the Bootstrap\", 1993", options: Bootstrap.options,
            build: Bootstrap.init)
    ]
}
