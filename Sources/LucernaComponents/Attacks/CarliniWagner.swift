import Foundation
import LucernaCore
import LucernaNN

/// Carlini-Wagner L2: optimise w with Adam, the adversarial input x′ = (tanh(w) + 1)/2 (inside [0, 1] by
/// construction), minimising ‖x′ − x‖² + c · max(Z_y − maxⱼ≠y Zⱼ, −κ) (targeted: max(maxⱼ≠t Zⱼ − Z_t, −κ)),
/// keeping per input the smallest successful perturbation (the input itself if none succeeds); the
/// optimisation stops early when the total cost rose since the last of ten checkpoints. With
/// `binary_search_steps` > 1, c is searched per input as Carlini & Wagner do (halved towards the last
/// success, ×10 until the first); 1 step is torchattacks' fixed-c attack. Inputs must lie in [0, 1].
public final class CarliniWagner: Attack {
    static let options = [
        OptionSpec("c", .number, default: .number(1), "weight of the margin term (the binary search's start)"),
        OptionSpec("kappa", .number, default: .number(0), "confidence margin κ"),
        OptionSpec("steps", .integer, default: .number(50), "Adam steps per value of c"),
        OptionSpec("lr", .number, default: .number(0.01), "Adam learning rate"),
        OptionSpec("binary_search_steps", .integer, default: .number(1), "values of c tried per input (1: fixed c)"),
        OptionSpec("targeted", .boolean, default: .boolean(false), "the labels given to perturb are targets to reach"),
    ]
    let initialConstant: Double, kappa: Double, steps: Int, learningRate: Double, searchSteps: Int, targeted: Bool

    init(config: Config) throws {
        initialConstant = try config.number("c")
        kappa = try config.number("kappa")
        steps = try config.positiveInteger("steps")
        learningRate = try config.number("lr")
        searchSteps = try config.positiveInteger("binary_search_steps")
        targeted = try config.boolean("targeted")
        guard initialConstant > 0, kappa >= 0, learningRate > 0 else {
            throw config.error("c and lr must be positive and kappa non-negative")
        }
    }

    /// The margin term per sample and whether each prediction already succeeds.
    func margins(_ logits: Tensor, labels: [Int]) throws -> Tensor {
        let classes = logits.shape[1]
        let values = logits.toDoubles()
        // The strongest other class per sample (its index, for a differentiable gather).
        var others: [Int] = []
        for (row, label) in labels.enumerated() {
            var strongest = -1
            for k in 0..<classes
            where k != label && (strongest < 0 || values[row * classes + k] > values[row * classes + strongest]) {
                strongest = k
            }
            others.append(max(strongest, 0))
        }
        let real = try logits.gathering(axis: 1, indices: Tensor(shape: [labels.count, 1], integers: labels))
        let other = try logits.gathering(axis: 1, indices: Tensor(shape: [labels.count, 1], integers: others))
        let margin = targeted ? try other - real : try real - other
        return try margin.clamp(min: -kappa).reshaped([labels.count])
    }

    public var label: String {
        "cw L2 c=\(initialConstant) kappa=\(kappa) steps=\(steps) lr=\(learningRate) binary_search_steps=\(searchSteps)\(targeted ? " targeted" : "")"
    }

    public func perturb(model: Module, inputs: Tensor, targets labels: Tensor) throws -> Tensor {
        guard inputs.dtype.isFloatingPoint, labels.count == inputs.shape.first else {
            throw TensorError(
                "attacks.cw",
                "needs floating-point inputs and one label per input, got \(describe(shape: inputs.shape)) and \(labels.count) labels"
            )
        }
        let x = inputs.toDoubles()
        guard x.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
            throw TensorError("attacks.cw", "inputs must lie in [0, 1] (the tanh change of variables)")
        }
        return try model.evaluating {
            let count = inputs.shape[0]
            let size = x.count / max(count, 1)
            let truth = labels.toIntegers()
            var best = x
            var bestDistance = [Double](repeating: 1e10, count: count)
            var constants = [Double](repeating: initialConstant, count: count)
            var lower = [Double](repeating: 0, count: count)
            var upper = [Double](repeating: 1e10, count: count)
            let start = x.map { value -> Double in
                let scaled = min(max(value * 2 - 1, -1), 1)
                return 0.5 * log((1 + scaled) / (1 - scaled))
            }
            for _ in 0..<searchSteps {
                var w = start
                var m = [Double](repeating: 0, count: x.count)
                var v = m
                var succeeded = [Bool](repeating: false, count: count)
                var previousCost = 1e10
                let constantTensor = try Tensor(shape: [count], values: constants, dtype: inputs.dtype)
                for step in 0..<steps {
                    let leaf = try Tensor(shape: inputs.shape, values: w, dtype: inputs.dtype).requiringGrad()
                    let adversarial = try (leaf.tanh() + 1) * 0.5
                    let distances = try (adversarial - inputs).square().reshaped([count, size]).sum(axes: [1])
                    let logits = try model(adversarial)
                    let cost = try distances.sum() + (constantTensor * margins(logits, labels: truth)).sum()
                    guard let gradient = try Tensor.gradients(of: [cost], withRespectTo: [leaf]).first ?? nil else {
                        throw TensorError("attacks.cw", "the cost does not depend on the inputs")
                    }
                    // Adam (PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8).
                    let g = gradient.toDoubles()
                    let t = Double(step + 1)
                    let correction1 = 1 - pow(0.9, t)
                    let correction2 = 1 - pow(0.999, t)
                    for index in w.indices {
                        m[index] = 0.9 * m[index] + 0.1 * g[index]
                        v[index] = 0.999 * v[index] + 0.001 * g[index] * g[index]
                        w[index] -=
                            learningRate / correction1 * m[index]
                            / ((v[index]).squareRoot() / correction2.squareRoot() + 1e-8)
                    }
                    // Keep the smallest successful perturbation per input (from this step's forward pass).
                    let predictions = try logits.argmax(axis: 1).toIntegers()
                    let distance = distances.toDoubles()
                    let points = adversarial.toDoubles()
                    for sample in 0..<count
                    where (targeted ? predictions[sample] == truth[sample] : predictions[sample] != truth[sample]) {
                        succeeded[sample] = true
                        if distance[sample] < bestDistance[sample] {
                            bestDistance[sample] = distance[sample]
                            for index in sample * size..<(sample + 1) * size { best[index] = points[index] }
                        }
                    }
                    if step % max(steps / 10, 1) == 0 {
                        let total = try cost.item()
                        if total > previousCost { break }
                        previousCost = total
                    }
                }
                // Carlini & Wagner's search over c, per input.
                for sample in 0..<count {
                    if succeeded[sample] {
                        upper[sample] = min(upper[sample], constants[sample])
                        if upper[sample] < 1e9 { constants[sample] = (lower[sample] + upper[sample]) / 2 }
                    } else {
                        lower[sample] = max(lower[sample], constants[sample])
                        constants[sample] =
                            upper[sample] < 1e9 ? (lower[sample] + upper[sample]) / 2 : constants[sample] * 10
                    }
                }
            }
            return try Tensor(shape: inputs.shape, values: best, dtype: inputs.dtype)
        }
    }
}

extension CarliniWagner: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .attack, "cw", "Carlini-Wagner L2 with Adam in tanh space and a binary search over c",
            reference:
                "Carlini & Wagner, \"Towards Evaluating the Robustness of Neural Networks\", IEEE S&P 2017; torchattacks `CW`; the binary search of the Adversarial Robustness Toolbox's `CarliniL2Method`",
            options: CarliniWagner.options, build: CarliniWagner.init)
    ]
}
