import LucernaCore
import LucernaNN

/// DeepFool: for each still correctly classified input, linearise the classifier around the current point
/// and step to the nearest linearised decision boundary, (1 + overshoot) · |f′ₗ| wₗ / ‖wₗ‖² with
/// f′ₖ = fₖ − f_label and wₖ = ∇fₖ − ∇f_label for the class l minimising |f′ₖ| / ‖wₖ‖₂, clamped to the valid
/// range; an input stops once it is misclassified, or after `steps`. Batched: the Jacobian rows of all active
/// inputs come from one backward pass per class. Minimal L2 perturbations, no budget.
public final class DeepFool: RangeBoundedAttack {
    static let options = [
        OptionSpec("steps", .integer, default: .number(50), "maximum iterations"),
        OptionSpec("overshoot", .number, default: .number(0.02), "step beyond the linearised boundary"),
        OptionSpec("clamp_min", .number, default: .number(0), "lowest valid input value"),
        OptionSpec("clamp_max", .number, default: .number(1), "highest valid input value"),
    ]
    let steps: Int, overshoot: Double
    public let validRange: ValidRange
    /// None: DeepFool looks for the smallest perturbation.
    public var budget: Double? { nil }

    init(config: Config) throws {
        steps = try config.positiveInteger("steps")
        overshoot = try config.number("overshoot")
        let (low, high) = (try config.number("clamp_min"), try config.number("clamp_max"))
        validRange = ValidRange(low: low, high: high)
        guard overshoot >= 0, low < high else {
            throw config.error("overshoot must be non-negative and clamp_min below clamp_max")
        }
    }

    public var label: String { "deepfool L2 steps=\(steps) overshoot=\(overshoot)" }

    public func perturb(model: Module, inputs: Tensor, targets labels: Tensor, within range: ValidRange) throws
        -> Tensor
    {
        guard inputs.dtype.isFloatingPoint, inputs.rank >= 1, labels.count == inputs.shape.first else {
            throw TensorError(
                "attacks.deepfool",
                "needs floating-point inputs and one label per input, got \(describe(shape: inputs.shape)) and \(labels.count) labels"
            )
        }
        try range.check(inputs.toDoubles(), size: inputs.count / max(inputs.shape[0], 1), owner: "attacks.deepfool")
        return try model.evaluating {
            let count = inputs.shape[0]
            let size = inputs.count / max(count, 1)
            let sampleShape = Array(inputs.shape.dropFirst())
            let truth = labels.toIntegers()
            var current = inputs.toDoubles()
            var active = Array(0..<count)
            for _ in 0..<steps where !active.isEmpty {
                let batch = try Tensor(
                    shape: [active.count] + sampleShape,
                    values: active.flatMap { current[$0 * size..<($0 + 1) * size] }, dtype: inputs.dtype
                ).requiringGrad()
                let logits = try model.restricted(toRows: active)(batch)
                let classes = logits.shape[1]
                let values = logits.toDoubles()
                // An input that is already misclassified stops, unchanged.
                let predicted = (0..<active.count).map { row in
                    (0..<classes).max { values[row * classes + $0] < values[row * classes + $1] } ?? 0
                }
                let stepping = (0..<active.count).filter { predicted[$0] == truth[active[$0]] }
                guard !stepping.isEmpty else {
                    active = []
                    break
                }
                // ∇fₖ for every class, rows of all active inputs at once.
                var jacobian: [[Double]] = []
                for k in 0..<classes {
                    let column = try logits.sliced(axis: 1, start: k, end: k + 1).sum()
                    guard let gradient = try Tensor.gradients(of: [column], withRespectTo: [batch]).first ?? nil else {
                        throw TensorError("attacks.deepfool", "the logits do not depend on the inputs")
                    }
                    jacobian.append(gradient.toDoubles())
                }
                for row in stepping {
                    let sample = active[row]
                    let label = truth[sample]
                    var bestClass = -1
                    var bestValue = Double.infinity
                    var bestNorm = 0.0
                    var bestDifference = 0.0
                    for k in 0..<classes where k != label {
                        let difference = values[row * classes + k] - values[row * classes + label]
                        var squared = 0.0
                        for index in 0..<size {
                            let w = jacobian[k][row * size + index] - jacobian[label][row * size + index]
                            squared += w * w
                        }
                        let value = abs(difference) / squared.squareRoot()
                        if value < bestValue {
                            (bestClass, bestValue, bestNorm, bestDifference) = (k, value, squared, difference)
                        }
                    }
                    guard bestClass >= 0 else { continue }
                    for index in 0..<size {
                        let w = jacobian[bestClass][row * size + index] - jacobian[label][row * size + index]
                        let stepped =
                            current[sample * size + index] + (1 + overshoot) * abs(bestDifference) * w / bestNorm
                        current[sample * size + index] = range.clamp(stepped, feature: index)
                    }
                }
                active = stepping.map { active[$0] }
            }
            return try Tensor(shape: inputs.shape, values: current, dtype: inputs.dtype)
        }
    }
}

extension DeepFool: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .attack, "deepfool", "steps to the nearest linearised decision boundary (minimal L2)",
            reference:
                "Moosavi-Dezfooli, Fawzi & Frossard, \"DeepFool: a simple and accurate method to fool deep neural networks\", CVPR 2016; torchattacks `DeepFool`",
            options: DeepFool.options, build: DeepFool.init)
    ]
}
