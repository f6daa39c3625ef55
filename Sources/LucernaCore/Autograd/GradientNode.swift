/// The record of one differentiable operation: its inputs and a backward function that maps the
/// gradient of the output (and the output itself) to gradients of the inputs, using differentiable
/// tensor operations so that it can itself be differentiated.
final class GradientNode {
    typealias Backward = (_ gradient: Tensor, _ output: Tensor) throws -> [Tensor?]

    let operation: String
    let inputs: [Tensor]
    let backward: Backward

    init(operation: String, inputs: [Tensor], backward: @escaping Backward) {
        self.operation = operation
        self.inputs = inputs
        self.backward = backward
    }
}

extension Tensor {
    /// Attaches a gradient node to `result` when recording and any input requires a gradient.
    /// The backward closure must not capture `result` (it receives it as `output`).
    @discardableResult
    static func record(
        _ result: Tensor, operation: String, inputs: [Tensor], backward: @escaping GradientNode.Backward
    ) -> Tensor {
        guard GradientMode.recording, inputs.contains(where: { $0.requiresGrad }) else { return result }
        result.requiresGrad = true
        result.gradientNode = GradientNode(operation: operation, inputs: inputs, backward: backward)
        return result
    }
}

extension Tensor {
    /// These values with a custom backward, like a `torch.autograd.Function` whose forward result is already
    /// known: the result's gradient reaches `inputs` through `backward`, which receives the result's
    /// gradient and returns one gradient (or nil) per input, each of its input's shape. Layer-wise relevance
    /// propagation uses it to replace a layer's backward by a propagation rule. Outside recording, or when
    /// no input requires a gradient, the result is a plain detached view.
    public func replacingGradient(
        operation: String, inputs: [Tensor], backward: @escaping (_ gradient: Tensor) throws -> [Tensor?]
    ) -> Tensor {
        Tensor.record(detach(), operation: operation, inputs: inputs) { gradient, _ in
            let gradients = try backward(gradient)
            guard gradients.count == inputs.count else {
                throw TensorError(
                    operation, "the custom backward returned \(gradients.count) gradients for \(inputs.count) inputs")
            }
            return gradients
        }
    }
}
