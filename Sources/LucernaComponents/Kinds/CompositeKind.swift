import LucernaCore
import LucernaNN

extension ComponentKind {
    /// LRP composites: which rule each layer of a model gets.
    public static let composite = ComponentKind(
        name: "composite", namespace: "composites", protocolName: "RelevanceComposite",
        accepts: { $0 is RelevanceComposite },
        conformance: { instance, probe in
            let composite = try probe.instance(instance, as: (any RelevanceComposite).self, "a composite")
            let model = try Sequential([
                Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), generator: probe.generator), BatchNorm(2, rank: 4),
                ReLU(),
                Flatten(), Linear(32, 3, generator: probe.generator),
            ])
            let relevance = try LayerwiseRelevancePropagation(composite: composite).attribute(
                model: model, inputs: Tensor.uniform([4, 1, 4, 4], generator: probe.generator),
                targets: probe.labels(4, classes: 3))
            guard relevance.shape == [4, 1, 4, 4] else {
                throw probe.fail("relevance \(describe(shape: relevance.shape)) for inputs [4, 1, 4, 4]")
            }
            try probe.checkFinite(relevance, "the relevance")
            probe.passed("LRP through conv-batchnorm-relu-linear: [4, 1, 4, 4] relevance, finite")
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any RelevanceComposite> {
    public static var composite: Self { TypedComponentKind(.composite) }
}
