import LucernaCore

/// Parameters that share a learning rate and weight decay (PyTorch's parameter groups).
public final class ParameterGroup {
    public var parameters: [Tensor]
    /// The current learning rate (schedules change it).
    public var learningRate: Double
    /// The learning rate the group started with (schedules scale from it).
    public let initialLearningRate: Double
    public var weightDecay: Double

    public init(parameters: [Tensor], learningRate: Double, weightDecay: Double) {
        self.parameters = parameters
        self.learningRate = learningRate
        initialLearningRate = learningRate
        self.weightDecay = weightDecay
    }
}

/// Updates parameters from their gradients.
open class Optimizer {
    public let groups: [ParameterGroup]
    /// Per-parameter state tensors (moments, momentum buffers) by name, keyed by parameter identity.
    var state: [ObjectIdentifier: [String: Tensor]] = [:]
    var steps: [ObjectIdentifier: Int] = [:]

    /// One group with the optimizer's learning rate and weight decay, or explicit groups.
    public init(
        parameters: [Tensor], groups: [ParameterGroup]?, learningRate: Double, weightDecay: Double,
        name: String
    ) throws {
        guard learningRate >= 0, weightDecay >= 0 else {
            throw TensorError(
                name, "learning rate \(learningRate) and weight decay \(weightDecay) must be non-negative")
        }
        self.groups =
            groups ?? [ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)]
        for group in self.groups {
            for parameter in group.parameters where !parameter.dtype.isFloatingPoint {
                throw TensorError(name, "cannot optimise a \(parameter.dtype) tensor")
            }
        }
    }

    /// Applies one update to every parameter that has a gradient.
    public func step() throws {
        try noGrad {
            for group in groups {
                for parameter in group.parameters {
                    guard let gradient = parameter.grad else { continue }
                    guard gradient.shape == parameter.shape, gradient.dtype == parameter.dtype else {
                        throw TensorError(
                            "optimizer",
                            "gradient \(gradient.dtype) \(describe(shape: gradient.shape)) does not match parameter \(parameter.dtype) \(describe(shape: parameter.shape))"
                        )
                    }
                    let key = ObjectIdentifier(parameter)
                    let step = (steps[key] ?? 0) + 1
                    steps[key] = step
                    try update(
                        parameter, gradient: gradient, group: group, step: step, state: &state[key, default: [:]])
                }
            }
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for group in groups { for parameter in group.parameters { parameter.grad = nil } }
    }

    /// The state tensor `name` of `parameter` (e.g. `exp_avg`), for checkpoints and tests.
    public func stateTensor(_ name: String, of parameter: Tensor) -> Tensor? {
        state[ObjectIdentifier(parameter)]?[name]
    }

    /// Every parameter across groups, in group order (the positions ``stateTensors()`` names).
    public var allParameters: [Tensor] { groups.flatMap(\.parameters) }

    /// The optimizer's state for a checkpoint: per parameter position `p`, `p.step` (int64 scalar) and
    /// `p.<buffer>` (e.g. `3.exp_avg`), plus `group.<g>.lr`; ``loadStateTensors(_:)`` restores it.
    open func stateTensors() throws -> [(name: String, tensor: Tensor)] {
        var result: [(name: String, tensor: Tensor)] = []
        for (index, group) in groups.enumerated() {
            result.append(("group.\(index).lr", try Tensor(shape: [], doubles: [group.learningRate])))
        }
        for (position, parameter) in allParameters.enumerated() {
            let key = ObjectIdentifier(parameter)
            if let step = steps[key] { result.append(("\(position).step", try Tensor(shape: [], integers: [step]))) }
            for (name, tensor) in (state[key] ?? [:]).sorted(by: { $0.key < $1.key }) {
                result.append(("\(position).\(name)", tensor.copy()))
            }
        }
        return result
    }

    /// Restores what ``stateTensors()`` saved, for the same parameters in the same order; unknown
    /// names and mismatched shapes are errors.
    open func loadStateTensors(_ tensors: [(name: String, tensor: Tensor)]) throws {
        let parameters = allParameters
        var restoredState: [ObjectIdentifier: [String: Tensor]] = [:]
        var restoredSteps: [ObjectIdentifier: Int] = [:]
        for (name, tensor) in tensors {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.first == "group" {
                let pieces = name.split(separator: ".")
                guard pieces.count == 3, let index = Int(pieces[1]), groups.indices.contains(index), pieces[2] == "lr",
                    tensor.count == 1
                else {
                    throw TensorError(
                        "optimizer state", "unexpected entry '\(name)' for an optimizer with \(groups.count) group(s)")
                }
                groups[index].learningRate = try tensor.item()
                continue
            }
            guard parts.count == 2, let position = Int(parts[0]), parameters.indices.contains(position) else {
                throw TensorError(
                    "optimizer state", "unexpected entry '\(name)' for an optimizer of \(parameters.count) parameters")
            }
            let parameter = parameters[position]
            let key = ObjectIdentifier(parameter)
            if parts[1] == "step" {
                guard tensor.count == 1 else { throw TensorError("optimizer state", "\(name) must be a scalar") }
                restoredSteps[key] = Int(try tensor.item())
            } else {
                guard tensor.shape == parameter.shape || tensor.count == 1 else {
                    throw TensorError(
                        "optimizer state",
                        "\(name) has shape \(describe(shape: tensor.shape)), the parameter \(describe(shape: parameter.shape))"
                    )
                }
                restoredState[key, default: [:]][parts[1]] = try tensor.to(parameter.dtype).copy()
            }
        }
        state = restoredState
        steps = restoredSteps
    }

    /// The per-parameter update (run under no-grad); subclasses implement it, built-ins with a fused kernel.
    open func update(
        _ parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int,
        state: inout [String: Tensor]
    ) throws {
        throw TensorError("optimizer", "update is not defined for this optimizer")
    }

    /// The state tensor `name`, created as zeros on first use.
    public func buffer(_ name: String, like parameter: Tensor, in state: inout [String: Tensor]) -> Tensor {
        if let existing = state[name] { return existing }
        let created = parameter.zerosLike()
        state[name] = created
        return created
    }

    /// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before
    /// clipping (as `torch.nn.utils.clip_grad_norm_`).
    @discardableResult
    public static func clipGradientNorm(_ parameters: [Tensor], maxNorm: Double) throws -> Double {
        var total = 0.0
        for parameter in parameters {
            if let gradient = parameter.grad { total += gradient.toDoubles().reduce(0) { $0 + $1 * $1 } }
        }
        let norm = total.squareRoot()
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 {
            try noGrad {
                for parameter in parameters {
                    if let gradient = parameter.grad { parameter.grad = try gradient * coefficient }
                }
            }
        }
        return norm
    }
}

/// Runs a fused update kernel over a parameter and its buffers of matching dtype.
@inline(__always)
func withBuffers(
    _ tensors: [Tensor], float32: ([UnsafeMutablePointer<Float>]) -> Void,
    float64: ([UnsafeMutablePointer<Double>]) -> Void
) {
    if tensors[0].dtype == .float32 {
        float32(tensors.map { $0.pointer(as: Float.self) })
    } else {
        float64(tensors.map { $0.pointer(as: Double.self) })
    }
}
