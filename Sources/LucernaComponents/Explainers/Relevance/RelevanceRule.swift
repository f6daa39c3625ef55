import LucernaCore
import LucernaNN

/// A layer-wise relevance propagation rule: how relevance at a layer's output is redistributed onto its
/// input. Rules are registered components (kind `rule`); a composite assigns them to layers.
public protocol RelevanceRule: AnyObject {
    /// The rule's registered name (`epsilon`, `z_plus`), for listings.
    var name: String { get }
    /// The relevance at `layer`'s input (of `input`'s shape) given the relevance at its output.
    func inputRelevance(layer: RelevanceLayer, input: Tensor, outputRelevance: Tensor) throws -> Tensor
}

/// The layer a rule propagates through: the module and, for affine layers (Linear, Conv2d,
/// ConvTranspose2d), the parameters in effect — its own, or merged with a BatchNorm that follows it
/// (canonisation).
public struct RelevanceLayer {
    public let name: String
    public let module: Module
    public let weight: Tensor?
    public let bias: Tensor?

    public init(name: String, module: Module, weight: Tensor? = nil, bias: Tensor? = nil) {
        self.name = name
        self.module = module
        self.weight = weight ?? (module as? AffineLayer)?.weight
        self.bias = bias ?? (module as? AffineLayer)?.bias
    }

    /// The layer's computation with `weight` and `bias` in place of its parameters (affine layers only).
    public func apply(_ input: Tensor, weight: Tensor?, bias: Tensor?) throws -> Tensor {
        guard let affine = module as? AffineLayer else {
            throw TensorError(
                "lrp",
                "layer \(name) (\(module.typeName)) has no weight to modify; rules that modify parameters apply to Linear and convolution layers"
            )
        }
        guard let weight else { throw TensorError("lrp", "layer \(name): a parameter modifier removed the weight") }
        return try affine.apply(input, weight: weight, bias: bias)
    }

    /// The layer's own forward computation (parameter-free layers such as pooling).
    public func forward(_ input: Tensor) throws -> Tensor { try module.forward(input) }
}

/// Zennit's `BasicHook` as a value: each branch modifies the input and the parameters and evaluates the
/// layer; the gradient mapper turns the output relevance into one gradient seed per branch (from the
/// branch outputs), and the reducer combines the branch inputs with their gradients into the input
/// relevance. Every built-in rule but `pass` is one of these; so may a Swift extension's be.
///
/// Reference: Anders et al., "Software for Dataset-wide XAI: From Local Explanations to Global Insights
/// with Zennit, CoRelAy, and ViRelAy", 2021 (`zennit.core.BasicHook`).
public final class BasicRelevanceRule: RelevanceRule {
    /// How one branch modifies the layer: its input and each parameter (`isBias` tells which); nil from
    /// the parameter modifier drops that parameter. `parameters = false` evaluates the layer's own
    /// forward (parameter-free layers, Zennit's `Norm`).
    public struct Branch {
        public let input: (Tensor) throws -> Tensor
        public let parameter: ((_ parameter: Tensor, _ isBias: Bool) throws -> Tensor?)?

        public init(
            input: @escaping (Tensor) throws -> Tensor = { $0 },
            parameter: ((_ parameter: Tensor, _ isBias: Bool) throws -> Tensor?)? = { value, _ in value }
        ) {
            self.input = input
            self.parameter = parameter
        }
    }

    public let name: String
    public let branches: [Branch]
    public let gradientMapper: (_ outputRelevance: Tensor, _ outputs: [Tensor]) throws -> [Tensor]
    public let reducer: (_ inputs: [Tensor], _ gradients: [Tensor]) throws -> Tensor

    public init(
        name: String, branches: [Branch],
        gradientMapper: @escaping (_ outputRelevance: Tensor, _ outputs: [Tensor]) throws -> [Tensor],
        reducer: @escaping (_ inputs: [Tensor], _ gradients: [Tensor]) throws -> Tensor
    ) {
        self.name = name
        self.branches = branches
        self.gradientMapper = gradientMapper
        self.reducer = reducer
    }

    public func inputRelevance(layer: RelevanceLayer, input: Tensor, outputRelevance: Tensor) throws -> Tensor {
        try GradientMode.with(enabled: true) {
            var inputs: [Tensor] = []
            var outputs: [Tensor] = []
            for branch in branches {
                let modified = try noGrad { try branch.input(input.detach()) }.detach().requiringGrad()
                let output: Tensor
                if let modifier = branch.parameter {
                    let weight = try layer.weight.flatMap { weight in
                        try noGrad { try modifier(weight.detach(), false) }
                    }
                    let bias = try layer.bias.flatMap { bias in try noGrad { try modifier(bias.detach(), true) } }
                    output = try layer.apply(modified, weight: weight, bias: bias)
                } else {
                    output = try layer.forward(modified)
                }
                inputs.append(modified)
                outputs.append(output)
            }
            let seeds = try noGrad { try gradientMapper(outputRelevance.detach(), outputs.map { $0.detach() }) }
            guard seeds.count == outputs.count else {
                throw TensorError(
                    "rule \(name)", "the gradient mapper gave \(seeds.count) seeds for \(outputs.count) branches")
            }
            // A branch whose output does not depend on its input (a constant input modifier with zeroed
            // parameters) contributes a zero gradient.
            let differentiable = outputs.indices.filter { outputs[$0].requiresGrad }
            let found =
                differentiable.isEmpty
                ? []
                : try Tensor.gradients(
                    of: differentiable.map { outputs[$0] }, withRespectTo: differentiable.map { inputs[$0] },
                    seeds: differentiable.map { seeds[$0] })
            var gradients = inputs.map { $0.zerosLike() }
            for (position, index) in differentiable.enumerated() {
                if let gradient = found[position] { gradients[index] = gradient }
            }
            let relevance = try noGrad { try reducer(inputs.map { $0.detach() }, gradients) }
            guard relevance.shape == input.shape else {
                throw TensorError(
                    "rule \(name)",
                    "layer \(layer.name): the relevance has shape \(describe(shape: relevance.shape)), its input \(describe(shape: input.shape))"
                )
            }
            return relevance
        }
    }
}

/// Passes the output relevance through unchanged (Zennit's `Pass`, for element-wise layers: activations,
/// and BatchNorm when it is not merged into the layer before it).
public final class PassRule: RelevanceRule {
    public let name = "pass"
    public init() {}

    public func inputRelevance(layer: RelevanceLayer, input: Tensor, outputRelevance: Tensor) throws -> Tensor {
        guard outputRelevance.shape == input.shape else {
            throw TensorError(
                "rule pass",
                "layer \(layer.name) changes the shape \(describe(shape: input.shape)) -> \(describe(shape: outputRelevance.shape)); pass applies to element-wise layers"
            )
        }
        return outputRelevance
    }
}

/// `x + ε · sign(x)` with sign(0) = +1: the denominator stabiliser of every rule (Zennit's `stabilize`).
public func stabilize(_ values: Tensor, epsilon: Double) throws -> Tensor {
    let shifted = values.toDoubles().map { $0 + ($0 < 0 ? -epsilon : epsilon) }
    return try Tensor(shape: values.shape, values: shifted, dtype: values.dtype)
}
