import LucernaCore
import LucernaNN

/// What a regularizer may look at. Fields are optional; a regularizer names the ones it needs in its
/// error when they are missing.
public struct RegularizerContext {
    public var parameters: [(name: String, tensor: Tensor)]
    public var inputs: Tensor?
    public var logits: Tensor?
    public var targets: Tensor?
    /// Protected-attribute group per sample (int64 `[N]`), for fairness penalties.
    public var groups: Tensor?
    /// Attribution maps, for explanation penalties (Reveal-to-Revise).
    public var attributions: Tensor?

    public init(
        parameters: [(name: String, tensor: Tensor)] = [], inputs: Tensor? = nil, logits: Tensor? = nil,
        targets: Tensor? = nil, groups: Tensor? = nil, attributions: Tensor? = nil
    ) {
        self.parameters = parameters
        self.inputs = inputs
        self.logits = logits
        self.targets = targets
        self.groups = groups
        self.attributions = attributions
    }
}

/// A differentiable penalty added to the training loss.
public protocol Regularizer: AnyObject {
    /// A scalar tensor.
    func penalty(_ context: RegularizerContext) throws -> Tensor
}

extension ComponentKind {
    /// Regularizers: differentiable penalties added to the training loss.
    public static let regularizer = ComponentKind(
        name: "regularizer", namespace: "regularizers", protocolName: "Regularizer", accepts: { $0 is Regularizer },
        conformance: { instance, probe in
            let regularizer = try probe.instance(instance, as: (any Regularizer).self, "a regularizer")
            let model = try Linear(4, 3)
            let inputs = try probe.random([6, 4]).requiringGrad()
            let logits = try model(inputs)
            let context = RegularizerContext(
                parameters: model.namedParameters(), inputs: inputs, logits: logits,
                targets: try probe.labels(6, classes: 3), groups: try probe.labels(6, classes: 2),
                attributions: try (inputs * inputs))
            let penalty = try regularizer.penalty(context)
            guard penalty.count == 1 else {
                throw probe.fail("penalty must be a scalar, got \(describe(shape: penalty.shape))")
            }
            try probe.checkFinite(penalty, "the penalty")
            probe.passed("penalty \(try penalty.item()) on a 4-3 linear model")
            guard penalty.requiresGrad || !penalty.isLeaf else {
                throw probe.fail("the penalty does not depend on the parameters, inputs or logits")
            }
            try penalty.backward()
            let reached =
                model.namedParameters().filter { $0.tensor.grad != nil }.map(\.name)
                + (inputs.grad != nil ? ["inputs"] : [])
            for (name, parameter) in model.namedParameters() {
                if let gradient = parameter.grad { try probe.checkFinite(gradient, "the gradient of \(name)") }
            }
            if let own = (regularizer as? ParameterOwner)?.parameters(), !own.isEmpty {
                guard own.allSatisfy({ $0.grad != nil }) else {
                    throw probe.fail("no gradient reaches some of the regularizer's own parameters")
                }
            }
            probe.passed("gradients reach \(reached.joined(separator: ", ")), finite")
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any Regularizer> {
    public static var regularizer: Self { TypedComponentKind(.regularizer) }
}
