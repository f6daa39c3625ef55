import LucernaCore
import LucernaNN

extension ComponentKind {
    /// Optimizers: update parameters from their gradients; every one takes `params`.
    public static let optimizer = ComponentKind(
        name: "optimizer", namespace: "optim", protocolName: "Optimizer",
        frameworkOptions: [parametersOption], accepts: { $0 is Optimizer },
        conformance: { instance, probe in
            let optimizer = try probe.instance(instance, as: Optimizer.self, "an optimizer")
            guard let parameter = probe.parameter else { throw probe.fail("no parameter to train") }
            let before = parameter.toDoubles()
            try (parameter * parameter).sum().backward()
            try optimizer.step()
            guard parameter.toDoubles().allSatisfy(\.isFinite), parameter.toDoubles() != before else {
                throw probe.fail("a step did not change the parameter finitely")
            }
            probe.passed("one step moves a parameter")
        })

    /// The `params` option every optimizer takes.
    public static let parametersOption = OptionSpec(
        "params", .tensors, required: true, "the tensors to train: model:parameters(), or a model")
}

extension ComponentKindKey where Self == TypedComponentKind<Optimizer> {
    public static var optimizer: Self { TypedComponentKind(.optimizer) }
}
