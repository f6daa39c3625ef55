import LucernaComponents
import LucernaCore
import LucernaNN

/// One mini-batch: the data set's tensors by name (`images`, `labels`, `groups`, ...), rows selected.
public typealias Batch = [String: Tensor]

/// What a ``Trainer`` trains: a forward pass from a batch to logits, the trainable parameters, the
/// tensors a checkpoint holds (parameters and buffers) and the train/eval switch.
public struct TrainableModel {
    /// Trainable tensors by name (what regularizers see as `parameters`).
    public let namedParameters: [(name: String, tensor: Tensor)]
    /// Every tensor a checkpoint saves and restores in place: parameters, then buffers (running statistics).
    public let state: [(name: String, tensor: Tensor)]
    public let setTraining: (Bool) -> Void
    public let forward: (Batch) throws -> Tensor
    /// The modules it is made of, by name (`""` for a single module), when it is made of modules: what
    /// attacks and explainers look into for a layer (an embedding table).
    public let modules: [(name: String, module: Module)]

    public init(
        namedParameters: [(name: String, tensor: Tensor)], state: [(name: String, tensor: Tensor)],
        setTraining: @escaping (Bool) -> Void, modules: [(name: String, module: Module)] = [],
        forward: @escaping (Batch) throws -> Tensor
    ) {
        self.namedParameters = namedParameters
        self.state = state
        self.setTraining = setTraining
        self.modules = modules
        self.forward = forward
    }

    /// A module fed the batch's `inputKey` tensor.
    public init(module: Module, inputKey: String) {
        self.init(
            modules: [("", module)], forward: RegularizedModel.feeding(module, inputKey: inputKey, owner: "train"))
    }

    /// Several named modules (encoders, a fusion, a head) with a forward pass written by the caller;
    /// names prefix the checkpoint entries (`image.0.weight`).
    public init(modules: [(name: String, module: Module)], forward: @escaping (Batch) throws -> Tensor) {
        func prefixed(_ name: String, _ entry: String) -> String { name.isEmpty ? entry : "\(name).\(entry)" }
        var seen = Set<ObjectIdentifier>()
        var parameters: [(name: String, tensor: Tensor)] = []
        var state: [(name: String, tensor: Tensor)] = []
        for (name, module) in modules {
            // A module shared by two entries (tied weights) is saved once.
            for (entry, tensor) in module.namedParameters() where seen.insert(ObjectIdentifier(tensor)).inserted {
                parameters.append((prefixed(name, entry), tensor))
            }
            for (entry, tensor) in module.namedBuffers() where seen.insert(ObjectIdentifier(tensor)).inserted {
                state.append((prefixed(name, entry), tensor))
            }
        }
        self.init(
            namedParameters: parameters, state: parameters + state,
            setTraining: { on in for (_, module) in modules { module.train(on) } }, modules: modules, forward: forward)
    }

    /// Whether the model is in training mode (its first module's mode; true for a model without modules).
    public var isTraining: Bool { modules.first?.module.isTraining ?? true }

    /// Runs `body` in evaluation mode, then puts each module back in the mode it was in: ``Module/evaluating(_:)``
    /// for a model of several modules (PyTorch's `model.eval()` ... `model.train(was_training)`).
    public func evaluating<T>(_ body: () throws -> T) rethrows -> T {
        let modes = modules.map(\.module.isTraining)
        setTraining(false)
        defer { for (entry, training) in zip(modules, modes) { entry.module.train(training) } }
        return try body()
    }

    /// Adds tensors the optimizer trains that the modules do not own (a regularizer's or loss's own
    /// parameters), so checkpoints hold them too.
    public func including(extra tensors: [Tensor]) -> TrainableModel {
        let known = Set(state.map { ObjectIdentifier($0.tensor) })
        let added = tensors.enumerated().filter { !known.contains(ObjectIdentifier($0.element)) }
            .map { (name: "extra.\($0.offset)", tensor: $0.element) }
        guard !added.isEmpty else { return self }
        return TrainableModel(
            namedParameters: namedParameters, state: state + added, setTraining: setTraining, modules: modules,
            forward: forward)
    }
}
