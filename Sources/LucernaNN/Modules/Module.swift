import LucernaCore

/// A neural-network building block with named parameters, buffers and child modules, like
/// `torch.nn.Module`. Names are dotted paths (`features.0.weight`) in registration order, so state
/// dicts match PyTorch's for the same architecture.
open class Module {
    /// Whether the module is in training mode (dropout active, batch statistics used).
    public private(set) var isTraining = true
    private var parameterEntries: [(name: String, tensor: Tensor)] = []
    private var bufferEntries: [(name: String, tensor: Tensor)] = []
    private var childEntries: [(name: String, module: Module)] = []
    private var forwardHooks: [(id: Int, hook: ForwardHook)] = []
    private var outputTransforms: [(id: Int, transform: OutputTransform)] = []
    private var nextHookIdentifier = 0

    /// Called after `forward` with the module, its input and its output (for CAM-style explainers).
    public typealias ForwardHook = (_ module: Module, _ input: Tensor, _ output: Tensor) throws -> Void
    /// Called after `forward`, before the forward hooks; returns the tensor the module outputs instead (a
    /// PyTorch forward hook that returns a value). Relevance propagation swaps in custom backward functions so.
    public typealias OutputTransform = (_ module: Module, _ input: Tensor, _ output: Tensor) throws -> Tensor

    public init() {}

    /// The computation; subclasses override it.
    open func forward(_ input: Tensor) throws -> Tensor {
        throw TensorError(typeName, "forward is not defined for this module")
    }

    /// Runs `forward`, then the output transforms and the forward hooks.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        var output = try forward(input)
        for entry in outputTransforms { output = try entry.transform(self, input, output) }
        for entry in forwardHooks { try entry.hook(self, input, output) }
        return output
    }

    /// The module's kind as shown in errors and summaries (`Linear`, `Conv2d`).
    open var typeName: String { String(describing: type(of: self)) }

    /// One line of constructor arguments for summaries (`in=784, out=256`).
    open var summary: String { "" }

    // MARK: Registration

    /// Registers a trainable tensor under `name`; it is marked as requiring gradients.
    @discardableResult
    public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
        _ = try? tensor.requiringGrad()
        parameterEntries.removeAll { $0.name == name }
        parameterEntries.append((name, tensor))
        return tensor
    }

    /// Registers a non-trainable tensor saved in the state dict (e.g. BatchNorm's running statistics).
    @discardableResult
    public func registerBuffer(_ name: String, _ tensor: Tensor) -> Tensor {
        bufferEntries.removeAll { $0.name == name }
        bufferEntries.append((name, tensor))
        return tensor
    }

    /// Registers a child module under `name`.
    @discardableResult
    public func registerModule<Child: Module>(_ name: String, _ module: Child) -> Child {
        childEntries.removeAll { $0.name == name }
        childEntries.append((name, module))
        return module
    }

    /// Adds a hook run after every forward; returns an identifier for ``removeForwardHook(_:)``.
    @discardableResult
    public func addForwardHook(_ hook: @escaping ForwardHook) -> Int {
        nextHookIdentifier += 1
        forwardHooks.append((nextHookIdentifier, hook))
        return nextHookIdentifier
    }

    /// Removes a hook added by ``addForwardHook(_:)``.
    public func removeForwardHook(_ identifier: Int) { forwardHooks.removeAll { $0.id == identifier } }

    /// How many forward hooks are installed (for tests that check none is left behind).
    var forwardHookCount: Int { forwardHooks.count }

    /// Runs the module on `input` and returns its output with the output `layer` gave in that pass (a PyTorch
    /// forward hook; Captum's `LayerActivation`). Recorded or not as the caller's context says. Throws, naming
    /// `owner` and `layerName`, when `layer` did not run in the pass.
    public func forward(_ input: Tensor, capturing layer: Module, owner: String, layerName: String) throws -> (
        output: Tensor, activations: Tensor
    ) {
        var captured: Tensor?
        let hook = layer.addForwardHook { _, _, output in captured = output }
        defer { layer.removeForwardHook(hook) }
        let output = try self(input)
        guard let activations = captured else {
            throw TensorError(owner, "layer \(layerName) did not run in the model's forward pass")
        }
        return (output, activations)
    }

    /// Adds a transform of the module's output; returns an identifier for ``removeOutputTransform(_:)``.
    @discardableResult
    public func addOutputTransform(_ transform: @escaping OutputTransform) -> Int {
        nextHookIdentifier += 1
        outputTransforms.append((nextHookIdentifier, transform))
        return nextHookIdentifier
    }

    /// Removes a transform added by ``addOutputTransform(_:)``.
    public func removeOutputTransform(_ identifier: Int) { outputTransforms.removeAll { $0.id == identifier } }

    /// Whether an output transform is installed on this module (its outputs are not what its weights give).
    public var hasOutputTransforms: Bool { !outputTransforms.isEmpty }

    // MARK: Traversal

    /// Direct children in registration order.
    public var children: [(name: String, module: Module)] { childEntries }

    /// Whether forward hooks or output transforms watch this module's calls.
    var isObserved: Bool { !forwardHooks.isEmpty || !outputTransforms.isEmpty }

    /// Runs the children in order on `input`, `prepare` applied to the value before each child (by its name).
    /// A ReLU directly followed by a 2-D max pooling, neither watched by hooks or output transforms, runs as
    /// the pooling and then the ReLU: max commutes with the monotone ReLU, so the output is the same, and the
    /// gradient too (a window's first maximum is the same when it is positive; when it is not, both give 0 and
    /// no gradient; NaN propagates either way), but the ReLU and its backward touch a quarter of the elements —
    /// and where the max-pooling kernel takes the pooling, the ReLU and its backward run inside it
    /// (``Tensor/maxPool2dThenReLU(kernel:stride:padding:dilation:)``).
    func runChildren(_ input: Tensor, prepare: (String, Tensor) throws -> Tensor = { $1 }) throws -> Tensor {
        var value = input
        var index = 0
        while index < childEntries.count {
            let (name, module) = childEntries[index]
            if index + 1 < childEntries.count, let activation = module as? Activation, activation.kind == .relu,
                let pool = childEntries[index + 1].module as? Pool2d,
                case .max(let kernel, let stride, let padding) = pool.kind,
                !activation.isObserved, !pool.isObserved
            {
                value = try prepare(childEntries[index + 1].name, try prepare(name, value))
                value = try value.maxPool2dThenReLU(kernel: kernel, stride: stride, padding: padding)
                index += 2
                continue
            }
            value = try module(try prepare(name, value))
            index += 1
        }
        return value
    }

    /// Every module in the tree with its dotted path (`""` for self), depth first.
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var result: [(String, Module)] = [(prefix, self)]
        for (name, child) in childEntries {
            result += child.namedModules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return result
    }

    /// The module at a dotted path such as `features.3`, or nil.
    public func module(named path: String) -> Module? {
        namedModules().first { $0.name == path }?.module
    }

    /// All parameters with dotted names.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { prefix, module in
            module.parameterEntries.map { (prefix.isEmpty ? $0.name : "\(prefix).\($0.name)", $0.tensor) }
        }
    }

    /// All parameters.
    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// All buffers with dotted names.
    public func namedBuffers() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { prefix, module in
            module.bufferEntries.map { (prefix.isEmpty ? $0.name : "\(prefix).\($0.name)", $0.tensor) }
        }
    }

    /// Parameters then buffers of each module, depth first, as PyTorch orders `state_dict()`.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { prefix, module in
            (module.parameterEntries + module.bufferEntries).map {
                (prefix.isEmpty ? $0.name : "\(prefix).\($0.name)", $0.tensor)
            }
        }
    }

    /// Copies values from `state` into this module's parameters and buffers (in place, so references
    /// held by optimizers stay valid). With `strict`, missing or unexpected names are errors.
    /// `convertingDtypes`: a tensor of another dtype is converted, as PyTorch's `load_state_dict` does;
    /// false makes a dtype mismatch an error (a file read from disk converts only when asked).
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true, convertingDtypes: Bool = true) throws {
        let own = stateDict()
        let ownNames = Set(own.map(\.name))
        if strict {
            let missing = own.map(\.name).filter { state[$0] == nil }
            let unexpected = state.keys.filter { !ownNames.contains($0) }.sorted()
            if !missing.isEmpty || !unexpected.isEmpty {
                throw TensorError("load_state_dict", "missing keys \(missing), unexpected keys \(unexpected)")
            }
        }
        for (name, tensor) in own {
            guard let source = state[name] else { continue }
            guard source.shape == tensor.shape else {
                throw TensorError(
                    "load_state_dict",
                    "\(name): checkpoint shape \(describe(shape: source.shape)) differs from model shape \(describe(shape: tensor.shape))"
                )
            }
            guard convertingDtypes || source.dtype == tensor.dtype else {
                throw TensorError(
                    "load_state_dict",
                    "\(name): checkpoint dtype \(source.dtype) differs from model dtype \(tensor.dtype) (convert explicitly to load it)"
                )
            }
            try tensor.assign(source)
        }
    }

    /// Sets training mode on this module and its children.
    @discardableResult
    public func train(_ on: Bool = true) -> Self {
        for (_, module) in namedModules() { module.isTraining = on }
        trainingModeChanged(on)
        return self
    }

    /// Called by ``train(_:)`` after the mode is set (wrappers of models that are not children switch them here).
    open func trainingModeChanged(_ training: Bool) {}

    /// Sets evaluation mode.
    @discardableResult
    public func eval() -> Self { train(false) }

    /// Runs `body` in evaluation mode and restores the previous mode (what explainers and attacks do, as
    /// pytorch-grad-cam, Captum and torchattacks run the model).
    public func evaluating<T>(_ body: () throws -> T) rethrows -> T {
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        return try body()
    }

    /// This module for a batch made of the rows `rows` of the batch it was built for. A module that holds
    /// per-row tensors (a view of one modality of a multimodal model, the others fixed) selects those rows;
    /// any other module is its own restriction. Attacks that query a subset of their inputs (restarts, the
    /// not-yet-fooled inputs) call it.
    open func restricted(toRows rows: [Int]) throws -> Module { self }

    /// Clears the gradients of all parameters.
    public func zeroGrad() { for parameter in parameters() { parameter.grad = nil } }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// The registered tensor `name` of this module (not of children).
    public func ownTensor(_ name: String) -> Tensor? {
        parameterEntries.first { $0.name == name }?.tensor ?? bufferEntries.first { $0.name == name }?.tensor
    }
}
