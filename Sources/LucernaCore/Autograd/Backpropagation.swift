extension Tensor {
    /// While a pruned ``gradients(of:withRespectTo:seeds:createGraph:)`` runs, the tensors whose
    /// gradients are needed; nil otherwise. The engine is driven from one thread at a time.
    nonisolated(unsafe) static var pruning: Set<ObjectIdentifier>?

    /// Whether backward functions should compute this input's gradient: it requires one and, during a
    /// pruned pass, lies on a path to a wanted tensor.
    var needsGradient: Bool {
        requiresGrad && (Tensor.pruning.map { $0.contains(ObjectIdentifier(self)) } ?? true)
    }

    /// Reverse-mode differentiation of `outputs` with respect to `inputs`, like `torch.autograd.grad`.
    ///
    /// - Parameters:
    ///   - outputs: tensors to differentiate; each must be a scalar unless a seed is given.
    ///   - inputs: tensors whose gradients are wanted (leaves or intermediate results).
    ///   - seeds: the gradient of some scalar with respect to each output (default: ones).
    ///   - createGraph: record the backward pass so the returned gradients can be differentiated again.
    /// - Returns: one gradient per input, `nil` where an input does not influence the outputs.
    public static func gradients(
        of outputs: [Tensor], withRespectTo inputs: [Tensor], seeds: [Tensor]? = nil, createGraph: Bool = false
    ) throws -> [Tensor?] {
        let accumulated = try propagate(
            outputs: outputs, seeds: seeds, createGraph: createGraph,
            wanted: Set(inputs.map(ObjectIdentifier.init)))
        return inputs.map { accumulated[ObjectIdentifier($0)] }
    }

    /// Accumulates the gradient of this scalar (or of `seed` · self) into the ``grad`` of every leaf that
    /// requires a gradient, and of every tensor that called ``retainGrad()``, like `loss.backward()`.
    public func backward(seed: Tensor? = nil, createGraph: Bool = false) throws {
        let accumulated = try Tensor.propagate(
            outputs: [self], seeds: seed.map { [$0] }, createGraph: createGraph,
            wanted: nil)
        try GradientMode.with(enabled: createGraph) {
            for (tensor, gradient) in accumulated.storedGradients {
                if let existing = tensor.grad {
                    tensor.grad = try existing + gradient
                } else {
                    tensor.grad = createGraph ? gradient : gradient.detach()
                }
            }
        }
    }

    /// Gradients keyed by tensor identity, plus the tensors whose `.grad` a `backward()` call fills.
    struct GradientTable {
        var byTensor: [ObjectIdentifier: Tensor] = [:]
        var storedGradients: [(Tensor, Tensor)] = []
        subscript(key: ObjectIdentifier) -> Tensor? { byTensor[key] }
    }

    /// The shared engine: orders the graph topologically and runs each node's backward once all the
    /// gradient contributions to its output have been summed.
    static func propagate(
        outputs: [Tensor], seeds: [Tensor]?, createGraph: Bool, wanted: Set<ObjectIdentifier>?
    ) throws -> GradientTable {
        if let seeds, seeds.count != outputs.count {
            throw TensorError("backward", "\(seeds.count) seeds for \(outputs.count) outputs")
        }
        // 1. Seed the output gradients.
        var gradients: [ObjectIdentifier: Tensor] = [:]
        for (position, output) in outputs.enumerated() {
            guard output.requiresGrad else {
                throw TensorError(
                    "backward",
                    "output \(position) does not require a gradient (no input requires one, or it was computed under noGrad)"
                )
            }
            let seed: Tensor
            if let seeds {
                seed = seeds[position]
                guard seed.shape == output.shape else {
                    throw TensorError(
                        "backward",
                        "seed shape \(describe(shape: seed.shape)) differs from output shape \(describe(shape: output.shape))"
                    )
                }
            } else {
                guard output.count == 1 else {
                    throw TensorError(
                        "backward", "output of shape \(describe(shape: output.shape)) is not a scalar; pass a seed")
                }
                seed = output.onesLike()
            }
            let key = ObjectIdentifier(output)
            if let existing = gradients[key] {
                gradients[key] = try GradientMode.with(enabled: createGraph) { try existing + seed }
            } else {
                gradients[key] = try seed.to(output.dtype)
            }
        }
        // 2. Topological order by iterative depth-first search (deep graphs must not overflow the stack).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Int)] = outputs.map { ($0, 0) }
        while let (tensor, nextInput) = stack.popLast() {
            let key = ObjectIdentifier(tensor)
            if nextInput == 0 {
                if visited.contains(key) { continue }
                visited.insert(key)
            }
            let inputs = tensor.gradientNode?.inputs ?? []
            var position = nextInput
            while position < inputs.count
                && (!inputs[position].requiresGrad || visited.contains(ObjectIdentifier(inputs[position])))
            {
                position += 1
            }
            if position < inputs.count {
                stack.append((tensor, position + 1))
                stack.append((inputs[position], 0))
            } else {
                order.append(tensor)
            }
        }
        // 3. When only some gradients are wanted, prune: a node computes gradients only for inputs from
        //    which a wanted tensor is reachable (as PyTorch does), e.g. no weight gradients for ∂D/∂x.
        let previousPruning = Tensor.pruning
        defer { Tensor.pruning = previousPruning }
        if let wanted {
            var needed = Set<ObjectIdentifier>()
            for tensor in order {  // inputs come before the tensors computed from them
                let key = ObjectIdentifier(tensor)
                if wanted.contains(key)
                    || (tensor.gradientNode?.inputs.contains { needed.contains(ObjectIdentifier($0)) } ?? false)
                {
                    needed.insert(key)
                }
            }
            Tensor.pruning = needed
        } else {
            Tensor.pruning = nil
        }
        // 4. Walk from the outputs back to the leaves.
        var table = GradientTable()
        try GradientMode.with(enabled: createGraph) {
            for tensor in order.reversed() {
                let key = ObjectIdentifier(tensor)
                guard let gradient = gradients[key] else { continue }
                if wanted?.contains(key) == true { table.byTensor[key] = gradient }
                if wanted == nil && (tensor.isLeaf || tensor.retainsGrad) {
                    table.storedGradients.append((tensor, gradient))
                }
                guard let node = tensor.gradientNode, tensor.needsGradient else { continue }
                let inputGradients = try node.backward(gradient, tensor)
                for (input, inputGradient) in zip(node.inputs, inputGradients) {
                    guard input.needsGradient, let inputGradient else { continue }
                    guard inputGradient.shape == input.shape else {
                        throw TensorError(
                            "backward",
                            "\(node.operation) produced a gradient of shape \(describe(shape: inputGradient.shape)) for an input of shape \(describe(shape: input.shape))"
                        )
                    }
                    let inputKey = ObjectIdentifier(input)
                    if let existing = gradients[inputKey] {
                        gradients[inputKey] = try existing + inputGradient
                    } else {
                        gradients[inputKey] = inputGradient
                    }
                }
                if !createGraph && wanted == nil { gradients[key] = nil }
            }
        }
        return table
    }
}
