import LucernaCore
import LucernaNN

/// The first-order attacks on the cross-entropy, one engine that differs in its start and step:
/// - `fgsm`: one step of size ε along sign(∇);
/// - `fgsm_rs`: a uniform random start in the ε-ball, then one step of size α (default 1.25ε) along
///   sign(∇), projected back (Wong et al.'s fast adversarial training attack);
/// - `bim`: `steps` steps of size α from the input, each projected onto the ε-ball;
/// - `pgd`: like BIM from a random start in the ball (`random_start`), in the L∞ ball (sign steps) or the
///   L2 ball (steps along ∇/‖∇‖₂, projection by rescaling), with `restarts` (a sample keeps the first
///   restart that fools the model);
/// - `mifgsm`: BIM with momentum on the per-sample L1-normalised gradient (g ← ∇/mean|∇| + decay · g).
/// Every iterate is clamped to the valid range [`clamp_min`, `clamp_max`] (inputs outside it are an error). With `targeted = true` the
/// labels passed to `perturb` are the targets and the attack descends their cross-entropy. The model runs in
/// evaluation mode (restored afterwards), as torchattacks runs it.
public final class GradientSignAttack: RangeBoundedAttack {
    public enum Method: String, Sendable {
        case fgsm
        case fgsmRandomStart = "fgsm_rs"
        case bim, pgd, mifgsm
    }
    public enum Norm: String, Sendable { case linf, l2 }

    public let method: Method
    public let eps: Double, alpha: Double, steps: Int, restarts: Int, decay: Double
    public let randomStart: Bool, norm: Norm, targeted: Bool
    public let validRange: ValidRange
    public var budget: Double? { eps }

    static let common = [
        OptionSpec(
            "eps", .number, default: .number(8.0 / 255),
            "budget: the radius of the ball around each input (L∞ unless norm = \"l2\")"),
        OptionSpec("clamp_min", .number, default: .number(0), "lowest valid input value"),
        OptionSpec("clamp_max", .number, default: .number(1), "highest valid input value"),
        OptionSpec("targeted", .boolean, default: .boolean(false), "the labels given to perturb are targets to reach"),
    ]
    static let iterative = [
        OptionSpec("alpha", .number, default: .number(2.0 / 255), "step size"),
        OptionSpec("steps", .integer, default: .number(10), "iterations"),
    ]
    static let fgsmOptions = common
    static let fgsmRandomStartOptions =
        common + [OptionSpec("alpha", .number, "step size after the random start (default 1.25 eps)")]
    static let bimOptions = common + iterative
    static let pgdOptions =
        common + iterative + [
            OptionSpec("norm", .string, default: .string("linf"), "linf or l2"),
            OptionSpec(
                "random_start", .boolean, default: .boolean(true), "start from a uniform random point of the ball"),
            OptionSpec(
                "restarts", .integer, default: .number(1),
                "random restarts; a sample keeps the first that fools the model"),
        ]
    static let mifgsmOptions =
        common + iterative + [OptionSpec("decay", .number, default: .number(1), "momentum decay")]

    public init(
        method: Method, eps: Double, alpha: Double, steps: Int, restarts: Int = 1, decay: Double = 1, randomStart: Bool,
        norm: Norm = .linf, targeted: Bool = false, clampRange: (Double, Double) = (0, 1)
    ) throws {
        let name = method.rawValue
        guard eps >= 0, eps.isFinite, alpha >= 0, alpha.isFinite, steps >= 1, restarts >= 1, clampRange.0 < clampRange.1
        else {
            throw TensorError(
                "attacks.\(name)",
                "eps and alpha must be finite and non-negative, steps and restarts at least 1, clamp_min below clamp_max; got eps \(eps), alpha \(alpha), steps \(steps), restarts \(restarts), range \(clampRange)"
            )
        }
        self.method = method
        self.eps = eps
        self.alpha = alpha
        self.steps = steps
        self.restarts = restarts
        self.decay = decay
        self.randomStart = randomStart
        self.norm = norm
        self.targeted = targeted
        validRange = ValidRange(low: clampRange.0, high: clampRange.1)
    }

    static func builder(_ method: Method) -> (Config) throws -> GradientSignAttack {
        { config in
            let eps = try config.number("eps")
            let range = (try config.number("clamp_min"), try config.number("clamp_max"))
            let targeted = try config.boolean("targeted")
            switch method {
            case .fgsm:
                return try GradientSignAttack(
                    method: method, eps: eps, alpha: eps, steps: 1, randomStart: false, targeted: targeted,
                    clampRange: range)
            case .fgsmRandomStart:
                return try GradientSignAttack(
                    method: method, eps: eps, alpha: config.number("alpha", default: 1.25 * eps) ?? 1.25 * eps,
                    steps: 1,
                    randomStart: true, targeted: targeted, clampRange: range)
            case .bim:
                return try GradientSignAttack(
                    method: method, eps: eps, alpha: config.number("alpha"), steps: config.positiveInteger("steps"),
                    randomStart: false, targeted: targeted, clampRange: range)
            case .pgd:
                guard let norm = Norm(rawValue: try config.choice("norm", ["linf", "l2"])) else {
                    throw config.error("norm must be linf or l2")
                }
                return try GradientSignAttack(
                    method: method, eps: eps, alpha: config.number("alpha"), steps: config.positiveInteger("steps"),
                    restarts: config.positiveInteger("restarts"), randomStart: config.boolean("random_start"),
                    norm: norm, targeted: targeted, clampRange: range)
            case .mifgsm:
                return try GradientSignAttack(
                    method: method, eps: eps, alpha: config.number("alpha"), steps: config.positiveInteger("steps"),
                    decay: config.number("decay"), randomStart: false, targeted: targeted, clampRange: range)
            }
        }
    }

    /// A one-line description of the attack and its budget, for reports.
    public var label: String {
        var parts = ["\(method.rawValue)", "\(norm == .l2 ? "L2" : "Linf") eps=\(eps)"]
        if method != .fgsm { parts += ["alpha=\(alpha)", "steps=\(steps)"] }
        if method == .pgd { parts += ["random_start=\(randomStart)", "restarts=\(restarts)"] }
        if method == .mifgsm { parts.append("decay=\(decay)") }
        if targeted { parts.append("targeted") }
        return parts.joined(separator: " ")
    }

    public func perturb(model: Module, inputs: Tensor, targets: Tensor, within range: ValidRange) throws -> Tensor {
        guard inputs.dtype.isFloatingPoint, inputs.rank >= 2 else {
            throw TensorError(
                "attacks.\(method.rawValue)",
                "inputs must be a floating-point batch [N, ...], got \(inputs.dtype) \(describe(shape: inputs.shape))")
        }
        guard targets.rank == 1, targets.count == inputs.shape[0] else {
            throw TensorError("attacks.\(method.rawValue)", "\(targets.count) labels for \(inputs.shape[0]) inputs")
        }
        try range.check(
            inputs.toDoubles(), size: inputs.count / max(inputs.shape[0], 1), owner: "attacks.\(method.rawValue)")
        return try model.evaluating {
            let original = inputs.detach()
            let first = try run(model: model, original: original, labels: targets, range: range)
            guard restarts > 1 else { return first }
            // Further restarts only for the inputs the first run did not fool.
            var result = first.toDoubles()
            let size = original.count / original.shape[0]
            let fooled = try succeeded(model: model, adversarial: first, labels: targets)
            _ = try AttackRestarts.keepFirstSuccess(
                result: &result, sampleSize: size, pending: fooled.indices.filter { !fooled[$0] },
                times: restarts - 1
            ) { rows in
                let (subset, subsetLabels) = (
                    try original.indexSelect(axis: 0, indices: rows), try targets.indexSelect(axis: 0, indices: rows)
                )
                let restricted = try model.restricted(toRows: rows)
                let candidate = try run(model: restricted, original: subset, labels: subsetLabels, range: range)
                return (
                    candidate.toDoubles(),
                    try succeeded(model: restricted, adversarial: candidate, labels: subsetLabels)
                )
            }
            return try Tensor(shape: original.shape, values: result, dtype: original.dtype)
        }
    }

    /// Whether each adversarial input is misclassified (or, targeted, classified as its target).
    func succeeded(model: Module, adversarial: Tensor, labels: Tensor) throws -> [Bool] {
        let predictions = try noGrad { try model(adversarial).argmax(axis: 1) }.toIntegers()
        return zip(predictions, labels.toIntegers()).map { targeted ? $0 == $1 : $0 != $1 }
    }

    /// ∇ₓ of the batch-mean cross-entropy (negated when targeted).
    func lossGradient(model: Module, at point: Tensor, labels: Tensor) throws -> Tensor {
        let leaf = try point.detach().requiringGrad()
        let loss = try Losses.crossEntropy(model(leaf), labels)
        guard
            let gradient = try Tensor.gradients(of: [targeted ? loss.negated() : loss], withRespectTo: [leaf]).first
                ?? nil
        else {
            throw TensorError("attacks.\(method.rawValue)", "the loss does not depend on the inputs")
        }
        return gradient
    }

    /// Per-sample L2 norms of `values` (`[N]`), for a batch of `count` samples.
    static func norms(_ values: [Double], count: Int) -> [Double] {
        let size = values.count / max(count, 1)
        return (0..<count).map { n in values[n * size..<(n + 1) * size].reduce(0) { $0 + $1 * $1 }.squareRoot() }
    }

    /// One attack from its start: the iterates as flat arrays (the update rules are element-wise or per sample).
    func run(model: Module, original: Tensor, labels: Tensor, range: ValidRange) throws -> Tensor {
        let x = original.toDoubles()
        let count = original.shape[0]
        let size = x.count / max(count, 1)
        var adversarial = x
        if randomStart {
            if norm == .linf {
                let noise = try Tensor.uniform(original.shape, low: -eps, high: eps, dtype: .float64).toDoubles()
                adversarial = x.indices.map { range.clamp(x[$0] + noise[$0], index: $0, size: size) }
            } else {
                let direction = try Tensor.normal(original.shape, dtype: .float64).toDoubles()
                let radii = try Tensor.uniform([count], dtype: .float64).toDoubles()
                let lengths = Self.norms(direction, count: count)
                adversarial = x.indices.map { index in
                    let sample = index / size
                    return range.clamp(
                        x[index] + direction[index] * radii[sample] / lengths[sample] * eps, index: index, size: size)
                }
            }
        }
        var momentum = [Double](repeating: 0, count: x.count)
        for _ in 0..<steps {
            var gradient = try lossGradient(
                model: model, at: Tensor(shape: original.shape, values: adversarial, dtype: original.dtype),
                labels: labels
            ).toDoubles()
            switch (method, norm) {
            case (.pgd, .l2):
                let lengths = Self.norms(gradient, count: count)
                for index in adversarial.indices {
                    adversarial[index] += alpha * gradient[index] / (lengths[index / size] + 1e-10)
                }
                var delta = zip(adversarial, x).map { $0 - $1 }
                let deltaLengths = Self.norms(delta, count: count)
                for index in delta.indices { delta[index] *= min(eps / deltaLengths[index / size], 1) }
                adversarial = x.indices.map { range.clamp(x[$0] + delta[$0], index: $0, size: size) }
                continue
            case (.mifgsm, _):
                for sample in 0..<count {
                    let range = sample * size..<(sample + 1) * size
                    let meanAbsolute = gradient[range].reduce(0) { $0 + abs($1) } / Double(size)
                    for index in range { gradient[index] = gradient[index] / meanAbsolute + momentum[index] * decay }
                }
                momentum = gradient
            default: break
            }
            for index in adversarial.indices {
                let stepped = adversarial[index] + alpha * (gradient[index] > 0 ? 1 : gradient[index] < 0 ? -1 : 0)
                let delta = min(max(stepped - x[index], -eps), eps)
                adversarial[index] = range.clamp(x[index] + delta, index: index, size: size)
            }
        }
        return try Tensor(shape: original.shape, values: adversarial, dtype: original.dtype)
    }
}

extension GradientSignAttack: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .attack, "fgsm", "one signed-gradient step of size eps (L∞)",
            reference: "Goodfellow et al., ICLR 2015; torchattacks FGSM",
            options: GradientSignAttack.fgsmOptions, build: GradientSignAttack.builder(.fgsm)),
        ComponentEntry(
            .attack, "fgsm_rs", "FGSM from a uniform random start in the ball, step alpha, projected",
            reference: "Wong, Rice & Kolter, ICLR 2020; torchattacks FFGSM",
            options: GradientSignAttack.fgsmRandomStartOptions,
            build: GradientSignAttack.builder(.fgsmRandomStart)),
        ComponentEntry(
            .attack, "bim", "iterative FGSM with projection onto the ε-ball",
            reference: "Kurakin et al., 2017; torchattacks BIM",
            options: GradientSignAttack.bimOptions, build: GradientSignAttack.builder(.bim)),
        ComponentEntry(
            .attack, "pgd", "projected gradient descent in the L∞ or L2 ball, random start and restarts",
            reference: "Madry et al., ICLR 2018; torchattacks PGD / PGDL2", options: GradientSignAttack.pgdOptions,
            build: GradientSignAttack.builder(.pgd)),
        ComponentEntry(
            .attack, "mifgsm", "momentum iterative FGSM", reference: "Dong et al., CVPR 2018; torchattacks MIFGSM",
            options: GradientSignAttack.mifgsmOptions, build: GradientSignAttack.builder(.mifgsm)),
    ]
}
