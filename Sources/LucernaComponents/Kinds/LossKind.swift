import LucernaCore
import LucernaNN

/// A training criterion `loss(prediction, target)` returning a scalar (or per-sample values).
public protocol Loss: AnyObject {
    func loss(_ prediction: Tensor, _ target: Tensor) throws -> Tensor
}

extension ComponentKind {
    /// Losses: training criteria.
    public static let loss = ComponentKind(
        name: "loss", namespace: "losses", protocolName: "Loss", accepts: { $0 is Loss },
        conformance: { instance, probe in
            let loss = try probe.instance(instance, as: (any Loss).self, "a loss")
            let pair = try probe.example?(probe.config) ?? [probe.random([4, 3]), probe.random([4, 3])]
            guard pair.count == 2 else { throw probe.fail("its example must give a prediction and a target") }
            let prediction = try pair[0].requiringGrad()
            let value = try loss.loss(prediction, pair[1])
            try probe.checkFinite(value, "the loss")
            probe.passed("loss \(describe(shape: prediction.shape)) -> \(describe(shape: value.shape))")
            try probe.checkGradients(value, nil, inputs: [prediction])
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any Loss> {
    public static var loss: Self { TypedComponentKind(.loss) }
}
