import LucernaCore
import LucernaNN

/// Fuses one feature tensor per modality (`[N, dᵢ]` each) into one tensor `[N, d]`.
public protocol Fusion: Module {
    func fuse(_ inputs: [Tensor]) throws -> Tensor
    /// Fuses with some modalities missing (nil), each replaced by the fusion's placeholder.
    func fuse(available inputs: [Tensor?]) throws -> Tensor
}

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

    public init(parameters: [(name: String, tensor: Tensor)] = [], inputs: Tensor? = nil, logits: Tensor? = nil,
                targets: Tensor? = nil, groups: Tensor? = nil, attributions: Tensor? = nil) {
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

/// A training criterion `loss(prediction, target)` returning a scalar (or per-sample values).
public protocol Loss: AnyObject {
    func loss(_ prediction: Tensor, _ target: Tensor) throws -> Tensor
}

/// Perturbs inputs to change a model's prediction, within a norm ball (issue 8 adds the built-ins).
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

/// Maps (model, inputs, targets) to attribution maps; nil targets explain the predicted classes.
public protocol Explainer: AnyObject {
    func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor
}

/// An explanation metric that needs the model (faithfulness: it perturbs the inputs in the order the
/// attributions give and watches the target score). Its plain `update` throws, naming this one.
public protocol FaithfulnessMetric: Metric {
    func update(model: Module, inputs: Tensor, attributions: Tensor, targets: Tensor?) throws
}

/// A split of a data set as named tensors (`images`, `labels`, ...), in a fixed order.
public final class TensorDataset {
    public let name: String
    public let tensors: [(name: String, tensor: Tensor)]
    /// Facts about the set that are not per sample (`vocabulary_size`, `speaker_names`).
    public let metadata: [String: ConfigValue]

    public init(name: String, tensors: [(name: String, tensor: Tensor)], metadata: [String: ConfigValue] = [:]) {
        self.name = name
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor called `name`.
    public func tensor(_ name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }

    /// Number of samples (the first axis of the first tensor).
    public var count: Int { tensors.first?.tensor.shape.first ?? 0 }

    /// The samples `indices`, in that order, as a set called `name` (this set's name by default).
    public func rows(_ indices: [Int], name: String? = nil) throws -> TensorDataset {
        TensorDataset(name: name ?? self.name, tensors: try tensors.map { ($0.name, try $0.tensor.indexSelect(axis: 0, indices: indices)) },
                      metadata: metadata)
    }
}

extension Module: ParameterOwner {}
