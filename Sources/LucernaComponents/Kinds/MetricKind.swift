import LucernaCore
import LucernaNN

/// A streaming evaluation metric, as torchmetrics: `update` per batch, `compute` at the end.
public protocol Metric: AnyObject {
    func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws
    func compute() throws -> Double
    func reset()
    /// The value and its details (per class, per group, intervals) as named values.
    func report() throws -> [String: ConfigValue]
}

extension Metric {
    public func report() throws -> [String: ConfigValue] { ["value": .number(try compute())] }
}

/// A metric of image pairs (generation quality): `update(predictions: images, targets: references)` with two
/// tensors of one shape, `[N, H, W]` or `[N, C, H, W]`.
public protocol ImagePairMetric: Metric {}

/// A metric of generated samples and the labels they were conditioned on (generation quality against a
/// reference set given as options): `update(predictions: images [N, C, H, W], targets: labels [N])`. Its
/// required reference options carry stand-ins of 12×12 images over classes 0-2 for the conformance probe.
public protocol ConditionalSampleMetric: Metric {}

/// A metric of a vector-conditioned generator's redrawings: `update(predictions: conditions [N, D], targets:
/// the samples' real images [N, C, H, W])`. Its generator option's stand-in draws 12×12 images from 4-vectors.
public protocol ReconstructionMetric: Metric {}

/// An explanation metric that needs the model (faithfulness: it perturbs the inputs in the order the
/// attributions give and watches the target score). Its plain `update` throws, naming this one.
public protocol FaithfulnessMetric: Metric {
    func update(model: Module, inputs: Tensor, attributions: Tensor, targets: Tensor?) throws
}

extension ComponentKind {
    /// Metrics: streaming evaluation of predictions (or of attributions against masks).
    public static let metric = ComponentKind(
        name: "metric", namespace: "metrics", protocolName: "Metric", accepts: { $0 is Metric },
        conformance: { instance, probe in
            let metric = try probe.instance(instance, as: (any Metric).self, "a metric")
            if let faithfulness = metric as? FaithfulnessMetric {
                // Faithfulness: random maps over the inputs of a small CNN.
                let model = try Sequential([
                    Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), generator: probe.generator), ReLU(), Flatten(),
                    Linear(32, 3, generator: probe.generator),
                ])
                try faithfulness.update(
                    model: model, inputs: probe.random([4, 1, 4, 4]), attributions: probe.random([4, 4, 4]),
                    targets: probe.labels(4, classes: 3))
            } else if metric is ConditionalSampleMetric {
                // Generated 12×12 images in [0, 1] and the classes (0-2) they were drawn for.
                try metric.update(
                    predictions: try probe.random([6, 1, 12, 12]).sigmoid(), targets: probe.labels(6, classes: 3),
                    groups: nil)
            } else if metric is ReconstructionMetric {
                // Conditioning 4-vectors and the 12×12 real images in [0, 1] they belong to.
                try metric.update(
                    predictions: probe.random([4, 4]), targets: try probe.random([4, 1, 12, 12]).sigmoid(),
                    groups: nil)
            } else if metric is ImagePairMetric {
                // Generation quality: random 12×12 images in [0, 1] against random references.
                let images = try probe.random([4, 1, 12, 12]).sigmoid()
                try metric.update(
                    predictions: images, targets: try probe.random([4, 1, 12, 12]).sigmoid(), groups: nil)
            } else if metric is MaskedAttributionMetric {
                // Explanation quality: random maps against a square mask.
                let mask = try Tensor(
                    shape: [1, 6, 6],
                    doubles: (0..<36).map { ($0 / 6) >= 2 && ($0 / 6) < 4 && ($0 % 6) >= 2 && ($0 % 6) < 4 ? 1 : 0 })
                try metric.update(
                    predictions: probe.random([4, 6, 6]),
                    targets: Tensor.concatenate(Array(repeating: mask, count: 4), axis: 0),
                    groups: nil)
            } else {
                try metric.update(
                    predictions: probe.random([8, 3]), targets: probe.labels(8, classes: 3),
                    groups: probe.labels(8, classes: 2))
            }
            let value = try metric.compute()
            guard value.isFinite else { throw probe.fail("compute returned \(value)") }
            metric.reset()
            probe.passed(
                "update/compute/reset: \(value) on random \(metric is MaskedAttributionMetric ? "maps and a mask" : "scores")"
            )
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any Metric> {
    public static var metric: Self { TypedComponentKind(.metric) }
}
