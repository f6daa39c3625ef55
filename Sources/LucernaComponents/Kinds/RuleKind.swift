import LucernaCore
import LucernaNN

extension ComponentKind {
    /// LRP rules: one relevance propagation step through a layer.
    public static let rule = ComponentKind(
        name: "rule", namespace: "rules", protocolName: "RelevanceRule", accepts: { $0 is RelevanceRule },
        conformance: { instance, probe in
            let rule = try probe.instance(instance, as: (any RelevanceRule).self, "a rule")
            // Relevance through a Linear layer: input-shaped and finite (element-wise rules: through a ReLU).
            let linear = try Linear(6, 3, generator: probe.generator)
            let input = try probe.random([4, 6])
            let elementwise = rule is PassRule
            let layer = RelevanceLayer(name: "probe", module: elementwise ? ReLU() : linear)
            let relevance = try rule.inputRelevance(
                layer: layer, input: input, outputRelevance: probe.random(elementwise ? [4, 6] : [4, 3]))
            guard relevance.shape == input.shape else {
                throw probe.fail(
                    "relevance \(describe(shape: relevance.shape)) for input \(describe(shape: input.shape))")
            }
            try probe.checkFinite(relevance, "the relevance")
            probe.passed(
                "propagates [4, 3] relevance through \(elementwise ? "a ReLU" : "Linear(6, 3)") -> \(describe(shape: relevance.shape)), finite"
            )
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any RelevanceRule> {
    public static var rule: Self { TypedComponentKind(.rule) }
}
