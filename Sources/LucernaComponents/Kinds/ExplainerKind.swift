import LucernaCore
import LucernaNN

/// Maps (model, inputs, targets) to attribution maps; nil targets explain the predicted classes.
public protocol Explainer: AnyObject {
    func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor
}

extension ComponentKind {
    /// Explainers: attribution maps of a model's decisions.
    public static let explainer = ComponentKind(
        name: "explainer", namespace: "explainers", protocolName: "Explainer", accepts: { $0 is Explainer },
        conformance: { instance, probe in
            let explainer = try probe.instance(instance, as: (any Explainer).self, "an explainer")
            // A small convolutional classifier, so layer-based methods (the CAM family) have a 4-D layer.
            let model = try Sequential([
                Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), generator: probe.generator), ReLU(), Flatten(),
                Linear(32, 3, generator: probe.generator),
            ])
            let inputs = try Tensor.uniform([4, 1, 4, 4], generator: probe.generator)
            let attributions = try explainer.attribute(
                model: model, inputs: inputs, targets: probe.labels(4, classes: 3))
            guard attributions.shape.first == 4 else {
                throw probe.fail("attributions \(describe(shape: attributions.shape)) lost the batch axis")
            }
            try probe.checkFinite(attributions, "the attributions")
            probe.passed("attributes [4, 1, 4, 4] inputs of a small CNN -> \(describe(shape: attributions.shape))")
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any Explainer> {
    public static var explainer: Self { TypedComponentKind(.explainer) }
}
