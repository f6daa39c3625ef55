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
