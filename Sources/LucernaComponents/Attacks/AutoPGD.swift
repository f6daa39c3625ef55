import LucernaCore
import LucernaNN

/// APGD (auto-PGD): PGD without a step-size parameter. From a random point on the ball's surface, steps of
/// initial size 2ε with momentum 0.75; at checkpoints (every 22 % of the budget, shrinking by 3 % to at least
/// 6 %) the step size halves — and the iterate returns to the best point so far — for inputs whose loss rose
/// in at most 75 % of the steps since the last checkpoint, or which did not improve and were not halved at
/// the last one. Loss `ce` (cross-entropy) or `dlr` (the difference-of-logits ratio −(z_y − maxⱼ≠y zⱼ) /
/// (z_π1 − z_π3), invariant to shifts and scales of the logits; needs three or more classes). Inputs already
/// misclassified are left as they are; each of `restarts` runs attacks the inputs not yet fooled. L∞ or L2.
public final class AutoPGD: RangeBoundedAttack {
    public enum Loss: String, Sendable {
        case crossEntropy = "ce"
        case differenceOfLogitsRatio = "dlr"
    }

    static func options(loss: Loss) -> [OptionSpec] {
        [
            OptionSpec("eps", .number, default: .number(8.0 / 255), "budget: the ball's radius"),
            OptionSpec("norm", .string, default: .string("linf"), "linf or l2"),
            OptionSpec("steps", .integer, default: .number(100), "iterations per restart"),
            OptionSpec(
                "restarts", .integer, default: .number(1), "runs from new random starts on the inputs not yet fooled"),
            OptionSpec(
                "rho", .number, default: .number(0.75),
                "the fraction of increasing steps below which the step size halves"),
            OptionSpec("clamp_min", .number, default: .number(0), "lowest valid input value"),
            OptionSpec("clamp_max", .number, default: .number(1), "highest valid input value"),
        ]
    }

    public let loss: Loss, eps: Double, norm: GradientSignAttack.Norm, steps: Int, restarts: Int, rho: Double
    public let validRange: ValidRange
    public var budget: Double? { eps }

    init(config: Config, loss: Loss) throws {
        self.loss = loss
        eps = try config.number("eps")
        guard let norm = GradientSignAttack.Norm(rawValue: try config.choice("norm", ["linf", "l2"])) else {
            throw config.error("norm must be linf or l2")
        }
        self.norm = norm
        steps = try config.positiveInteger("steps")
        restarts = try config.positiveInteger("restarts")
        rho = try config.number("rho")
        let (low, high) = (try config.number("clamp_min"), try config.number("clamp_max"))
        guard eps >= 0, (0...1).contains(rho) else { throw config.error("eps must be non-negative and rho in [0, 1]") }
        guard low < high else { throw config.error("clamp_min must be below clamp_max") }
        validRange = ValidRange(low: low, high: high)
    }

    static func builder(_ loss: Loss) -> (Config) throws -> AutoPGD { { try AutoPGD(config: $0, loss: loss) } }

    public var label: String {
        "apgd_\(loss.rawValue) \(norm == .l2 ? "L2" : "Linf") eps=\(eps) steps=\(steps) restarts=\(restarts) rho=\(rho)"
    }

    /// The per-sample loss (CE or DLR) of `logits` for `labels`, differentiable.
    public func sampleLosses(_ logits: Tensor, labels: [Int]) throws -> Tensor {
        let (count, classes) = (logits.shape[0], logits.shape[1])
        func gather(_ indices: [Int]) throws -> Tensor {
            try logits.gathering(axis: 1, indices: Tensor(shape: [count, 1], integers: indices)).reshaped([count])
        }
        switch loss {
        case .crossEntropy:
            return try Losses.crossEntropy(logits, Tensor(shape: [count], integers: labels), reduction: .none)
        case .differenceOfLogitsRatio:
            guard classes >= 3 else {
                throw TensorError("attacks.apgd_dlr", "the DLR loss needs at least 3 classes, got \(classes)")
            }
            let values = logits.toDoubles()
            var first = [Int]()
            var third = [Int]()
            var other = [Int]()
            for row in 0..<count {
                let order = (0..<classes).sorted { values[row * classes + $0] > values[row * classes + $1] }
                first.append(order[0])
                third.append(order[2])
                other.append(order[0] == labels[row] ? order[1] : order[0])
            }
            let margin = try gather(labels) - gather(other)
            return try (margin / (gather(first) - gather(third) + 1e-12)).negated()
        }
    }

    public func perturb(model: Module, inputs: Tensor, targets labels: Tensor, within range: ValidRange) throws
        -> Tensor
    {
        guard inputs.dtype.isFloatingPoint, inputs.rank >= 2, labels.count == inputs.shape[0] else {
            throw TensorError(
                "attacks.apgd_\(loss.rawValue)", "needs floating-point inputs [N, ...] and one label per input")
        }
        return try model.evaluating {
            let count = inputs.shape[0]
            let size = inputs.count / max(count, 1)
            let sampleShape = Array(inputs.shape.dropFirst())
            let x = inputs.toDoubles()
            let truth = labels.toIntegers()
            try range.check(x, size: size, owner: "attacks.apgd_\(loss.rawValue)")
            var result = x
            let predictions = try noGrad { try model(inputs).argmax(axis: 1) }.toIntegers()
            _ = try AttackRestarts.keepFirstSuccess(
                result: &result, sampleSize: size, pending: (0..<count).filter { predictions[$0] == truth[$0] },
                times: restarts
            ) { rows in
                try run(
                    model: model.restricted(toRows: rows), x: rows.flatMap { x[$0 * size..<($0 + 1) * size] },
                    shape: [rows.count] + sampleShape,
                    labels: rows.map { truth[$0] }, dtype: inputs.dtype, range: range)
            }
            return try Tensor(shape: inputs.shape, values: result, dtype: inputs.dtype)
        }
    }

    /// One APGD run: the first adversarial point found per input, and whether one was.
    func run(model: Module, x: [Double], shape: [Int], labels: [Int], dtype: DType, range: ValidRange) throws -> (
        [Double], [Bool]
    ) {
        let count = shape[0]
        let size = x.count / max(count, 1)
        let firstInterval = max(Int(0.22 * Double(steps)), 1)
        let minimumInterval = max(Int(0.06 * Double(steps)), 1)
        let decrease = max(Int(0.03 * Double(steps)), 1)
        func sampleNorm(_ values: [Double], _ sample: Int) -> Double {
            (sample * size..<(sample + 1) * size).reduce(0) { $0 + values[$1] * values[$1] }.squareRoot()
        }
        /// Projection onto the ball around x and the valid range.
        func project(_ point: [Double]) -> [Double] {
            if norm == .linf {
                return point.indices.map {
                    range.clamp(min(max(point[$0], x[$0] - eps), x[$0] + eps), index: $0, size: size)
                }
            }
            let delta = point.indices.map { point[$0] - x[$0] }
            var projected = point
            for sample in 0..<count {
                let length = sampleNorm(delta, sample)
                let scale = min(eps, length + 1e-12) / (length + 1e-12)
                for index in sample * size..<(sample + 1) * size {
                    projected[index] = range.clamp(x[index] + delta[index] * scale, index: index, size: size)
                }
            }
            return projected
        }
        // 1. A random start on the ball's surface.
        var start = [Double](repeating: 0, count: x.count)
        if norm == .linf {
            let t = try Tensor.uniform(shape, low: -1, high: 1, dtype: .float64).toDoubles()
            for sample in 0..<count {
                let top = (sample * size..<(sample + 1) * size).reduce(0) { max($0, abs(t[$1])) }
                for index in sample * size..<(sample + 1) * size {
                    start[index] = range.clamp(x[index] + eps * t[index] / top, index: index, size: size)
                }
            }
        } else {
            let t = try Tensor.normal(shape, dtype: .float64).toDoubles()
            for sample in 0..<count {
                let length = sampleNorm(t, sample) + 1e-12
                for index in sample * size..<(sample + 1) * size {
                    start[index] = range.clamp(x[index] + eps * t[index] / length, index: index, size: size)
                }
            }
        }
        func evaluate(_ point: [Double]) throws -> (losses: [Double], gradient: [Double], correct: [Bool]) {
            let leaf = try Tensor(shape: shape, values: point, dtype: dtype).requiringGrad()
            let logits = try model(leaf)
            let losses = try sampleLosses(logits, labels: labels)
            guard let gradient = try Tensor.gradients(of: [losses.sum()], withRespectTo: [leaf]).first ?? nil else {
                throw TensorError("attacks.apgd_\(loss.rawValue)", "the loss does not depend on the inputs")
            }
            let predicted = try logits.argmax(axis: 1).toIntegers()
            return (losses.toDoubles(), gradient.toDoubles(), zip(predicted, labels).map { $0 == $1 })
        }
        var current = start
        var previous = start
        var (lossValues, gradient, correct) = try evaluate(current)
        var adversarial = start
        var fooled = correct.map { !$0 }
        var best = current
        var bestGradient = gradient
        var bestLoss = lossValues
        var stepSize = [Double](repeating: 2 * eps, count: count)
        var history: [[Double]] = Array(repeating: [Double](repeating: 0, count: count), count: steps)
        var interval = firstInterval
        var sinceCheck = 0
        var lastCheckBest = bestLoss
        var reducedLastCheck = [Bool](repeating: true, count: count)
        for step in 0..<steps {
            // 2. A step with momentum 0.75 (none at the first), projected.
            let momentum = step > 0 ? 0.75 : 1.0
            var stepped = current
            if norm == .linf {
                for index in current.indices {
                    stepped[index] =
                        current[index] + stepSize[index / size]
                        * (gradient[index] > 0 ? 1 : gradient[index] < 0 ? -1 : 0)
                }
            } else {
                for sample in 0..<count {
                    let length = sampleNorm(gradient, sample) + 1e-12
                    for index in sample * size..<(sample + 1) * size {
                        stepped[index] = current[index] + stepSize[sample] * gradient[index] / length
                    }
                }
            }
            stepped = project(stepped)
            var next = current.indices.map {
                current[$0] + (stepped[$0] - current[$0]) * momentum + (current[$0] - previous[$0]) * (1 - momentum)
            }
            next = project(next)
            previous = current
            current = next
            (lossValues, gradient, correct) = try evaluate(current)
            for sample in 0..<count where !correct[sample] {
                fooled[sample] = true
                for index in sample * size..<(sample + 1) * size { adversarial[index] = current[index] }
            }
            history[step] = lossValues
            for sample in 0..<count where lossValues[sample] > bestLoss[sample] {
                bestLoss[sample] = lossValues[sample]
                for index in sample * size..<(sample + 1) * size {
                    best[index] = current[index]
                    bestGradient[index] = gradient[index]
                }
            }
            // 3. At a checkpoint, halve the step where progress stalled and go back to the best point.
            sinceCheck += 1
            guard sinceCheck == interval else { continue }
            for sample in 0..<count {
                var increases = 0
                for back in 0..<interval {
                    // The reference implementation reads row −1 (the last, still zero) before the first step.
                    let later = history[step - back][sample]
                    let earlier = step - back - 1 >= 0 ? history[step - back - 1][sample] : history[steps - 1][sample]
                    if later > earlier { increases += 1 }
                }
                let oscillating = Double(increases) <= Double(interval) * rho
                let stalled = !reducedLastCheck[sample] && lastCheckBest[sample] >= bestLoss[sample]
                let reduce = oscillating || stalled
                reducedLastCheck[sample] = reduce
                if reduce {
                    stepSize[sample] /= 2
                    for index in sample * size..<(sample + 1) * size {
                        current[index] = best[index]
                        gradient[index] = bestGradient[index]
                    }
                }
            }
            lastCheckBest = bestLoss
            sinceCheck = 0
            interval = max(interval - decrease, minimumInterval)
        }
        return (adversarial, fooled)
    }
}

extension AutoPGD: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .attack, "apgd_ce",
            "auto-PGD on the cross-entropy: step-size schedule without parameters, momentum, restarts",
            reference: "Croce & Hein, ICML 2020; torchattacks APGD", options: AutoPGD.options(loss: .crossEntropy),
            build: AutoPGD.builder(.crossEntropy)),
        ComponentEntry(
            .attack, "apgd_dlr", "auto-PGD on the difference-of-logits ratio (shift- and scale-invariant)",
            reference: "Croce & Hein, ICML 2020; torchattacks APGD(loss='dlr')",
            options: AutoPGD.options(loss: .differenceOfLogitsRatio),
            build: AutoPGD.builder(.differenceOfLogitsRatio)),
    ]
}
