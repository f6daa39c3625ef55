import LucernaCore
import LucernaNN

/// The model a regularizer may differentiate through: the training forward pass from a batch to logits and
/// the modules it is made of (to find a layer by name).
public struct RegularizedModel {
    public let forward: ([String: Tensor]) throws -> Tensor
    /// The model's modules by name (`""` for a single module; `image`, `audio`, `head` for a table of them).
    public let modules: [(name: String, module: Module)]

    public init(modules: [(name: String, module: Module)], forward: @escaping ([String: Tensor]) throws -> Tensor) {
        self.modules = modules
        self.forward = forward
    }

    /// A single module fed the batch's `inputKey` tensor.
    public init(module: Module, inputKey: String) {
        self.init(modules: [("", module)], forward: Self.feeding(module, inputKey: inputKey, owner: "regularizer"))
    }

    /// The forward pass of a single module fed the batch's `inputKey` tensor (an error names the tensors
    /// the batch has when it lacks that one).
    public static func feeding(_ module: Module, inputKey: String, owner: String) -> ([String: Tensor]) throws -> Tensor
    {
        { batch in
            guard let input = batch[inputKey] else {
                throw TensorError(
                    owner,
                    "the batch has no '\(inputKey)' tensor to feed the model; it has \(batch.keys.sorted().joined(separator: ", "))"
                )
            }
            return try module(input)
        }
    }

    /// One sample of the training data, to find layers by the rank of their outputs (set by training).
    public var sample: [String: Tensor]?

    /// The last module that is not a pooling layer whose output is `[N, C, h, w]` (the explainers' default
    /// CAM layer, ``SpatialLayer``), found by a forward pass over ``sample`` in evaluation mode.
    public func lastSpatialLayer(owner: String) throws -> String {
        guard let sample else {
            throw ConfigurationError(owner, "name the layer (layer = \"...\"): no sample to find one by")
        }
        let training = modules.map(\.module.isTraining)
        for (_, module) in modules { module.train(false) }
        defer { for (entry, mode) in zip(modules, training) { entry.module.train(mode) } }
        guard let found = try SpatialLayer.last(among: layers, temporal: false, run: { _ = try forward(sample) })
        else {
            throw ConfigurationError(owner, "the model has no layer with a 4-D output; name one with layer = ...")
        }
        return found.name
    }

    /// The layer a layer-based penalty works on: `named` (checked to exist), else the explainers' default
    /// (``lastSpatialLayer(owner:)``) when there is a sample to find it by, else nil.
    public func chooseLayer(_ named: String?, owner: String) throws -> String? {
        if let named {
            _ = try layer(named: named, owner: owner)
            return named
        }
        return sample == nil ? nil : try lastSpatialLayer(owner: owner)
    }

    /// Every layer by its dotted name: `conv1` in a single module, `image.conv1` in a table of modules.
    public var layers: [(name: String, module: Module)] {
        modules.flatMap { prefix, module in
            module.namedModules().compactMap { name, child in
                let full = prefix.isEmpty ? name : name.isEmpty ? prefix : "\(prefix).\(name)"
                return full.isEmpty ? nil : (full, child)
            }
        }
    }

    /// The layer at a dotted name, or an error listing the names there are.
    public func layer(named name: String, owner: String) throws -> Module {
        let all = layers
        guard let found = all.first(where: { $0.name == name }) else {
            let names = all.map(\.name)
            throw ConfigurationError(
                owner,
                "the model has no layer '\(name)'\(suggestion(for: name, in: names)); layers: \(names.joined(separator: ", "))"
            )
        }
        return found.module
    }

    /// Runs the forward pass on `batch` with the outputs of `layers` captured.
    public func forward(_ batch: [String: Tensor], capturing layers: [String], owner: String) throws -> (
        logits: Tensor, activations: [String: Tensor]
    ) {
        var captured: [String: Tensor] = [:]
        var hooks: [(Module, Int)] = []
        defer { for (module, hook) in hooks { module.removeForwardHook(hook) } }
        for name in layers {
            let module = try layer(named: name, owner: owner)
            hooks.append((module, module.addForwardHook { _, _, output in captured[name] = output }))
        }
        let logits = try forward(batch)
        for name in layers where captured[name] == nil {
            throw TensorError(owner, "layer \(name) was not run by the forward pass")
        }
        return (logits, captured)
    }
}

/// What a regularizer needs of the batch and the model, so training checks it at its start: a penalty
/// that needs a field the data lacks is an error naming the field, never a silent zero.
public struct RegularizerRequirements: Equatable {
    /// Context fields read: `inputs`, `targets`, `groups`, `environments`, `modalities`, or the name of a
    /// batch tensor such as `artifact_masks`.
    public var fields: [String]
    /// The inputs must be a leaf the logits are differentiated by (input-gradient penalties).
    public var inputGradients: Bool
    /// Layers whose outputs the forward pass captures into ``RegularizerContext/activations``.
    public var layers: [String]

    public init(fields: [String] = [], inputGradients: Bool = false, layers: [String] = []) {
        self.fields = fields
        self.inputGradients = inputGradients
        self.layers = layers
    }
}

/// What a regularizer may look at. Fields are optional; a regularizer names the ones it needs in its
/// ``Regularizer/requirements(model:)``, and in its error when they are missing.
public struct RegularizerContext {
    public var parameters: [(name: String, tensor: Tensor)]
    public var inputs: Tensor?
    public var logits: Tensor?
    public var targets: Tensor?
    /// Protected-attribute group per sample (int64 `[N]`), for fairness penalties.
    public var groups: Tensor?
    /// Attribution maps, for explanation penalties (Reveal-to-Revise).
    public var attributions: Tensor?
    /// The model, to differentiate through it (input gradients, a layer's activations).
    public var model: RegularizedModel?
    /// Every tensor of the batch by name (masks such as `artifact_masks`, `object_masks`, `token_masks`, too).
    public var batch: [String: Tensor]
    /// The batch's environment per sample (int64 `[N]`), where the data set has one (IRM).
    public var environments: Tensor?
    /// The inputs as a table of modalities (every batch tensor but targets, groups, environments and masks).
    public var modalities: [String: Tensor]
    /// Outputs of the layers named in the requirements, captured in the forward pass that gave `logits`.
    public var activations: [String: Tensor]
    /// The batch key of `inputs` (to run the model again on differentiable inputs).
    public var inputKey: String?
    /// Optimizer steps taken before this one (penalty annealing).
    public var step: Int

    public init(
        parameters: [(name: String, tensor: Tensor)] = [], inputs: Tensor? = nil, logits: Tensor? = nil,
        targets: Tensor? = nil, groups: Tensor? = nil, attributions: Tensor? = nil, model: RegularizedModel? = nil,
        batch: [String: Tensor] = [:], environments: Tensor? = nil, modalities: [String: Tensor] = [:],
        activations: [String: Tensor] = [:], inputKey: String? = nil, step: Int = 0
    ) {
        self.parameters = parameters
        self.inputs = inputs
        self.logits = logits
        self.targets = targets
        self.groups = groups
        self.attributions = attributions
        self.model = model
        self.batch = batch
        self.environments = environments
        self.modalities = modalities
        self.activations = activations
        self.inputKey = inputKey
        self.step = step
    }

    /// Batch tensors that are not model inputs: the rest are the modalities.
    public static func isInput(_ key: String, targetKey: String, groupKey: String) -> Bool {
        ![targetKey, groupKey, "environments", "indices"].contains(key) && !key.hasSuffix("_masks")
    }

    /// `value`, or an error naming the missing field.
    public func require<T>(_ value: T?, _ field: String, _ owner: String) throws -> T {
        guard let value else {
            throw TensorError(owner, "needs \(field) in its context (the training data's '\(field)' tensor)")
        }
        return value
    }

    /// A batch tensor such as a mask, or an error naming it and the tensors there are.
    public func tensor(_ key: String, _ owner: String) throws -> Tensor {
        guard let tensor = batch[key] else {
            throw TensorError(
                owner, "needs the batch tensor '\(key)'; the batch has \(batch.keys.sorted().joined(separator: ", "))")
        }
        return tensor
    }

    /// The layer a layer-based penalty works on: `named`, else the one its requirements chose (`resolved`),
    /// else the explainers' default found on the context's first sample (a penalty called outside training).
    public func layer(named: String?, resolved: String?, _ owner: String) throws -> String {
        if let chosen = named ?? resolved { return chosen }
        var model = try require(model, "model", owner)
        if model.sample == nil, let inputKey, let inputs = inputs ?? batch[inputKey] {
            model.sample = [inputKey: try inputs.sliced(axis: 0, end: 1)]
        }
        guard let chosen = try model.chooseLayer(nil, owner: owner) else {
            throw TensorError(owner, "name the layer (layer = \"...\")")
        }
        return chosen
    }

    /// The output of `layer` and the logits of the same forward pass: captured by training, else from a
    /// new forward pass of the model on the batch.
    public func layerOutput(_ layer: String, _ owner: String) throws -> (output: Tensor, logits: Tensor) {
        if let output = activations[layer], let logits { return (output, logits) }
        let model = try require(model, "model", owner)
        var batch = batch
        if let inputKey, let inputs { batch[inputKey] = inputs }
        let run = try model.forward(batch, capturing: [layer], owner: owner)
        return (try require(run.activations[layer], "the output of layer \(layer)", owner), run.logits)
    }

    /// The gradient of `objective(logits)` by the inputs (or by `layer`'s output), with its graph, so a
    /// penalty on it trains the model (double backpropagation). Uses the forward pass of training when
    /// its inputs are a differentiable leaf, else runs the model again on differentiable inputs.
    public func inputGradient(_ owner: String, layer: String? = nil, objective: (Tensor) throws -> Tensor) throws -> (
        point: Tensor, gradient: Tensor
    ) {
        let point: Tensor
        let logits: Tensor
        if let layer {
            (point, logits) = try layerOutput(layer, owner)
        } else if let inputs, inputs.isLeaf, inputs.requiresGrad, let given = self.logits {
            (point, logits) = (inputs, given)
        } else {
            let model = try require(model, "model", owner)
            let key = try require(inputKey, "inputs", owner)
            let inputs = try require(inputs ?? batch[key], "inputs", owner)
            point = try inputs.detach().requiringGrad()
            var batch = batch
            batch[key] = point
            logits = try model.forward(batch)
        }
        let value = try objective(logits)
        guard let gradient = try Tensor.gradients(of: [value], withRespectTo: [point], createGraph: true).first ?? nil
        else {
            throw TensorError(owner, "the objective does not depend on \(layer.map { "layer \($0)" } ?? "the inputs")")
        }
        return (point, gradient)
    }
}

/// A differentiable penalty added to the training loss.
public protocol Regularizer: AnyObject {
    /// A scalar tensor.
    func penalty(_ context: RegularizerContext) throws -> Tensor
    /// What the penalty reads, checked against the training data before the first step (`model` may
    /// resolve a default layer).
    func requirements(model: RegularizedModel?) throws -> RegularizerRequirements
    /// A factor the whole training loss is multiplied by at `step` (IRM divides by its penalty weight once
    /// that weight exceeds 1); 1 for most.
    func lossScale(step: Int) -> Double
}

extension Regularizer {
    public func requirements(model: RegularizedModel?) throws -> RegularizerRequirements { RegularizerRequirements() }
    public func lossScale(step: Int) -> Double { 1 }
}

extension ComponentKind {
    /// Regularizers: differentiable penalties added to the training loss.
    public static let regularizer = ComponentKind(
        name: "regularizer", namespace: "regularizers", protocolName: "Regularizer", accepts: { $0 is Regularizer },
        conformance: { instance, probe in
            let regularizer = try probe.instance(instance, as: (any Regularizer).self, "a regularizer")
            // A small CNN, so penalties on a layer's maps (the CAM family) have a 4-D layer.
            let model = try Sequential([
                Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), generator: probe.generator), ReLU(), Flatten(),
                Linear(32, 3, generator: probe.generator),
            ])
            let inputs = try probe.random([6, 1, 4, 4]).requiringGrad()
            let logits = try model(inputs)
            // Every field training can fill: masks over the inputs, two environments, the model itself.
            let targets = try probe.labels(6, classes: 3)
            let groups = try probe.labels(6, classes: 2)
            let environments = try Tensor(shape: [6], integers: [0, 1, 0, 1, 0, 1])
            let mask = try Tensor(
                shape: [6, 1, 4, 4], values: (0..<96).map { Double($0 % 16 < 6 ? 1 : 0) }, dtype: .float32)
            let batch = [
                "inputs": inputs, "labels": targets, "groups": groups, "environments": environments,
                "artifact_masks": mask, "object_masks": try 1 - mask, "token_masks": mask,
            ]
            let context = RegularizerContext(
                parameters: model.namedParameters(), inputs: inputs, logits: logits, targets: targets,
                groups: groups, attributions: try (inputs * inputs),
                model: RegularizedModel(module: model, inputKey: "inputs"), batch: batch, environments: environments,
                modalities: ["inputs": inputs], inputKey: "inputs")
            let penalty = try regularizer.penalty(context)
            guard penalty.count == 1 else {
                throw probe.fail("penalty must be a scalar, got \(describe(shape: penalty.shape))")
            }
            try probe.checkFinite(penalty, "the penalty")
            probe.passed("penalty \(try penalty.item()) on a small CNN ([6, 1, 4, 4] inputs, 3 classes)")
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
