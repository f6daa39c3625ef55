import LucernaCore
import LucernaNN

/// Perturbs inputs to change a model's prediction, within a norm ball.
public protocol Attack: AnyObject {
    func perturb(model: Module, inputs: Tensor, targets: Tensor) throws -> Tensor
    /// The attack and its budget in one line (`pgd Linf eps=0.1 alpha=0.01 steps=20 ...`), for reports.
    var label: String { get }
    /// The model's logits under attack, in the model's current mode (what robust accuracy and adversarial
    /// training use): `model(perturb(...))`, unless the threat model is not a change of the inputs (an
    /// embedding-space attack perturbs the embeddings of the tokens).
    func adversarialLogits(model: Module, inputs: Tensor, targets: Tensor) throws -> Tensor
}

extension Attack {
    public var label: String { String(describing: type(of: self)) }

    public func adversarialLogits(model: Module, inputs: Tensor, targets: Tensor) throws -> Tensor {
        try model(perturb(model: model, inputs: inputs, targets: targets).detach())
    }
}

/// An attack on token ids `[N, T]` (int64) of a model with an `Embedding` table.
public protocol TokenAttack: Attack {}

extension ComponentKind {
    /// Adversarial attacks: perturb inputs within a budget to change a model's predictions.
    public static let attack = ComponentKind(
        name: "attack", namespace: "attacks", protocolName: "Attack", accepts: { $0 is Attack },
        conformance: { instance, probe in
            let attack = try probe.instance(instance, as: (any Attack).self, "an attack")
            if attack is TokenAttack {
                let model = try Sequential([
                    EmbeddingBagEncoder(vocabulary: 12, dimension: 4, generator: probe.generator),
                    Linear(4, 3, generator: probe.generator),
                ])
                let tokens = try Tensor(
                    shape: [4, 5], integers: [2, 5, 7, 0, 0, 3, 3, 9, 11, 4, 6, 2, 0, 0, 0, 10, 8, 5, 2, 7])
                let adversarial = try attack.perturb(model: model, inputs: tokens, targets: probe.labels(4, classes: 3))
                guard adversarial.shape == tokens.shape, adversarial.dtype == .int64,
                    adversarial.toIntegers().allSatisfy({ (0..<12).contains($0) })
                else {
                    throw probe.fail(
                        "perturbed tokens must be int64 ids of the vocabulary shaped like the input, got \(adversarial.dtype) \(describe(shape: adversarial.shape))"
                    )
                }
                let logits = try attack.adversarialLogits(
                    model: model, inputs: tokens, targets: probe.labels(4, classes: 3))
                guard logits.shape == [4, 3] else {
                    throw probe.fail("adversarial logits \(describe(shape: logits.shape)) for 4 inputs of 3 classes")
                }
                try probe.checkFinite(logits, "the adversarial logits")
                probe.passed("perturbs [4, 5] token ids of a bag-of-embeddings classifier")
                return
            }
            let model = try Sequential([Flatten(), Linear(16, 3)])
            let inputs = try Tensor.uniform([4, 1, 4, 4], generator: probe.generator)
            let adversarial = try attack.perturb(model: model, inputs: inputs, targets: probe.labels(4, classes: 3))
            guard adversarial.shape == inputs.shape else {
                throw probe.fail(
                    "perturbed inputs \(describe(shape: adversarial.shape)) differ in shape from \(describe(shape: inputs.shape))"
                )
            }
            try probe.checkFinite(adversarial, "the perturbed inputs")
            probe.passed("perturbs [4, 1, 4, 4] inputs of a linear classifier")
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any Attack> {
    public static var attack: Self { TypedComponentKind(.attack) }
}
