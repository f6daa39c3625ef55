import LucernaCore
import LucernaData
import LucernaNN

/// A bias-aware training method that is more than one penalty: it turns the batch's per-sample losses into
/// the loss the optimizer descends (group DRO's weighted group risks, reweighing's sample weights), may train
/// parameters of its own against the model by changing the model's gradients (adversarial debiasing), or
/// trains in two stages (JTT, ``TwoStageTrainingMethod``). `train{method = ...}` calls ``prepare(_:keys:)``
/// once with the training data before the first step, ``loss(_:_:)`` every step with the loss per sample,
/// ``backward(_:context:parameters:)`` in place of `loss.backward()`, and logs ``epochValues()`` every
/// epoch; ``state`` goes into checkpoints and comes back on resume.
public protocol TrainingMethod: AnyObject {
    /// The context fields it reads (`groups`, `targets`), checked against the training data before training.
    var fields: [String] { get }
    /// Sees the whole training data once before the first step (group sizes, weights per group and label).
    func prepare(_ data: TensorDataset, keys: TrainingKeys) throws
    /// The data loss from `losses`, the loss of each sample of the batch (`[N]`).
    func loss(_ losses: Tensor, _ context: RegularizerContext) throws -> Tensor
    /// Fills the gradients of the model's `parameters` (and of the method's own) from the step's `total`
    /// loss; the default is `total.backward()`.
    func backward(_ total: Tensor, context: RegularizerContext, parameters: [Tensor]) throws
    /// Starts an epoch's running values.
    func beginEpoch()
    /// Values logged per epoch as `train_<name>` (group weights, group losses, the adversary's loss).
    func epochValues() throws -> [(name: String, value: Double)]
    /// Tensors saved in checkpoints and restored in place on resume (group DRO's weights).
    var state: [(name: String, tensor: Tensor)] { get }
}

/// A method that trains twice: first for ``firstStageEpochs`` epochs, then from the same initial weights on
/// the rows ``secondStageRows(misclassified:)`` picks from the first model's errors on the training data.
public protocol TwoStageTrainingMethod: TrainingMethod {
    var firstStageEpochs: Int { get }
    /// Training rows of the second stage (indices into the training data, repeats allowed).
    func secondStageRows(misclassified: [Bool]) throws -> [Int]
}

/// The batch keys of the target and the protected attribute.
public struct TrainingKeys: Sendable {
    public var target: String
    public var groups: String
    public init(target: String = "labels", groups: String = "groups") {
        self.target = target
        self.groups = groups
    }
}

extension TrainingMethod {
    public func prepare(_ data: TensorDataset, keys: TrainingKeys) throws {}
    public func backward(_ total: Tensor, context: RegularizerContext, parameters: [Tensor]) throws {
        try total.backward()
    }
    public func beginEpoch() {}
    public func epochValues() -> [(name: String, value: Double)] { [] }
    public var state: [(name: String, tensor: Tensor)] { [] }

    /// The per-sample losses checked: one value per sample of the batch.
    public func checked(_ losses: Tensor, count: Int?, _ owner: String) throws -> Tensor {
        guard losses.rank == 1, count == nil || losses.shape[0] == count else {
            throw TensorError(
                owner,
                "needs the loss of each sample, [\(count.map(String.init) ?? "N")], got \(describe(shape: losses.shape)) (a loss with reduction = \"none\")"
            )
        }
        return losses
    }
}

/// Small helpers the methods share: labels of a `[N]` integer tensor and the data's group count.
public enum TrainingMethodInputs {
    /// The integer labels of `tensor` (`[N]`, non-negative), or an error naming the field: the fairness
    /// penalties' reading (``FairnessPenaltyInputs``), with a missing tensor named too.
    public static func labels(_ tensor: Tensor?, _ field: String, count: Int? = nil, owner: String) throws -> [Int] {
        guard let tensor else { throw TensorError(owner, "needs '\(field)' in the training data") }
        return try FairnessPenaltyInputs.labels(tensor, count: count ?? tensor.shape.first ?? 0, field, owner: owner)
    }
}

extension ComponentKind {
    /// Training methods: how per-sample losses become the training loss, and what else a step does.
    public static let method = ComponentKind(
        name: "method", namespace: "methods", protocolName: "TrainingMethod", accepts: { $0 is TrainingMethod },
        conformance: { instance, probe in
            let method = try probe.instance(instance, as: (any TrainingMethod).self, "a training method")
            let targets = try probe.labels(8, classes: 2)
            let groups = try Tensor(shape: [8], integers: [0, 1, 0, 1, 1, 0, 1, 0])
            let inputs = try probe.random([8, 4])
            let data = TensorDataset(
                name: "probe", tensors: [("inputs", inputs), ("labels", targets), ("groups", groups)])
            try method.prepare(data, keys: TrainingKeys())
            let model = try Linear(4, 2, generator: probe.generator)
            let logits = try model(inputs)
            let losses = try Losses.crossEntropy(logits, targets, reduction: .none)
            let context = RegularizerContext(
                parameters: model.namedParameters(), inputs: inputs, logits: logits, targets: targets, groups: groups,
                batch: ["inputs": inputs, "labels": targets, "groups": groups], inputKey: "inputs")
            method.beginEpoch()
            let loss = try method.loss(losses, context)
            guard loss.count == 1 else { throw probe.fail("loss must be a scalar, got \(describe(shape: loss.shape))") }
            try probe.checkFinite(loss, "the loss")
            let parameters = model.namedParameters().map(\.tensor)
            try method.backward(loss, context: context, parameters: parameters)
            for (name, parameter) in model.namedParameters() {
                guard let gradient = parameter.grad else { throw probe.fail("no gradient reaches \(name)") }
                try probe.checkFinite(gradient, "the gradient of \(name)")
            }
            if let own = (method as? ParameterOwner)?.parameters(), !own.isEmpty {
                guard own.allSatisfy({ $0.grad != nil }) else {
                    throw probe.fail("no gradient reaches some of the method's own parameters")
                }
            }
            let values = try method.epochValues()
            guard values.allSatisfy({ $0.value.isFinite }) else { throw probe.fail("an epoch value is not finite") }
            probe.passed(
                "loss \(try loss.item()) on 8 samples in 2 groups; gradients finite; logs \(values.map(\.name).joined(separator: ", "))"
            )
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any TrainingMethod> {
    public static var method: Self { TypedComponentKind(.method) }
}
