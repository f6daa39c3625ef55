import LucernaCore
import LucernaNN

/// What the explainers share: the classes explained (given, or the predicted ones), the target scores
/// and their gradient with respect to the inputs, with the model in evaluation mode.
enum ExplanationTargets {
    /// The class of each sample: `targets` checked against the logits, or the argmax when nil.
    static func classes(_ targets: Tensor?, logits: Tensor, owner: String) throws -> [Int] {
        guard logits.rank == 2 else {
            throw TensorError(owner, "the model must return logits [N, classes], got \(describe(shape: logits.shape))")
        }
        let (count, classCount) = (logits.shape[0], logits.shape[1])
        guard let targets else { return try logits.argmax(axis: 1).toIntegers() }
        guard targets.count == count else { throw TensorError(owner, "\(targets.count) targets for \(count) inputs") }
        let values = targets.toIntegers()
        if let bad = values.first(where: { $0 < 0 || $0 >= classCount }) {
            throw TensorError(owner, "target class \(bad) is out of range for \(classCount) classes")
        }
        return values
    }

    /// Σₙ logits[n, classₙ] as a scalar tensor.
    static func score(_ logits: Tensor, classes: [Int]) throws -> Tensor {
        try logits.gathering(axis: 1, indices: Tensor(shape: [classes.count, 1], integers: classes)).sum()
    }

    /// d Σₙ logits[n, classₙ] / d inputs, and the classes (`classes`, else resolved from `targets` or the
    /// predictions on `inputs`).
    static func inputGradient(model: Module, inputs: Tensor, classes: [Int]?, targets: Tensor?, owner: String) throws
        -> (gradient: Tensor, classes: [Int])
    {
        try gradient(
            model: model, inputs: inputs, layer: nil, point: inputs, classes: classes, targets: targets, owner: owner)
    }

    /// d Σₙ logits[n, classₙ] / d `point`, where `point` is the model's input (no `layer`) or replaces the
    /// output of `layer` in a forward pass over `inputs` (Captum's layer attribution: for token models, the
    /// embedding's output).
    static func gradient(
        model: Module, inputs: Tensor, layer: Module?, point: Tensor, classes: [Int]?, targets: Tensor?,
        owner: String
    ) throws -> (gradient: Tensor, classes: [Int]) {
        let leaf = try point.detach().requiringGrad()
        var identifier: Int?
        if let layer {
            identifier = layer.addOutputTransform { module, _, output in
                guard output.shape == leaf.shape else {
                    throw TensorError(
                        owner,
                        "\(module.typeName) output \(describe(shape: output.shape)) differs from the attributed values \(describe(shape: leaf.shape))"
                    )
                }
                return leaf
            }
        }
        defer { if let layer, let identifier { layer.removeOutputTransform(identifier) } }
        let logits = try model(layer == nil ? leaf : inputs)
        let resolved = try classes ?? self.classes(targets, logits: logits, owner: owner)
        guard
            let gradient = try Tensor.gradients(of: [score(logits, classes: resolved)], withRespectTo: [leaf]).first
                ?? nil
        else {
            throw TensorError(
                owner, "the target scores do not depend on the \(layer == nil ? "inputs" : "layer's output")")
        }
        return (gradient, resolved)
    }

    /// The option naming the layer whose output gradient methods attribute to (Captum's Layer* variants).
    static let layerOption = OptionSpec(
        "layer", .string, default: .null,
        "attribute to the output of this module (by name) instead of the inputs, as Captum's layer methods do; for token models name the embedding and sum the last axis for per-token scores"
    )

    /// The module called `name` (nil: none), with the model's module names in the error.
    static func layer(_ name: String?, in model: Module, owner: String) throws -> Module? {
        guard let name else { return nil }
        guard let module = model.module(named: name) else {
            let names = model.namedModules().map(\.name).filter { !$0.isEmpty }
            throw TensorError(
                owner,
                "the model has no module '\(name)'\(suggestion(for: name, in: names)); modules: \(names.joined(separator: ", "))"
            )
        }
        return module
    }

    /// The values attributed: the inputs, or the output of `layer` for them (one forward pass, not recorded).
    /// At most `size` samples a pass.
    static func attributedValues(model: Module, inputs: Tensor, layer: Module?, size: Int = .max) throws -> Tensor {
        guard let layer else { return inputs }
        return try noGrad {
            try SampleSlices.explain(model: model, inputs: inputs, targets: nil, size: size) { model, inputs, _ in
                try model.forward(inputs, capturing: layer, owner: layer.typeName, layerName: layer.typeName)
                    .activations
            }
        }.detach()
    }

    /// Floating-point inputs, or a clear error for token ids without a layer to attribute to.
    static func requireFloatingPoint(_ inputs: Tensor, layer: Module?, owner: String) throws {
        guard layer == nil, !inputs.dtype.isFloatingPoint else { return }
        throw TensorError(
            owner,
            "inputs are \(inputs.dtype) token ids, which carry no gradient; attribute to the embedding with layer = \"<its name>\""
        )
    }

    /// The predicted or given classes of `inputs` (forward passes of at most `size` samples, without recording).
    static func resolve(model: Module, inputs: Tensor, targets: Tensor?, owner: String, size: Int = .max) throws
        -> [Int]
    {
        let logits = try noGrad {
            try SampleSlices.explain(model: model, inputs: inputs, targets: nil, size: size) { model, inputs, _ in
                try model(inputs)
            }
        }
        return try classes(targets, logits: logits, owner: owner)
    }
}
