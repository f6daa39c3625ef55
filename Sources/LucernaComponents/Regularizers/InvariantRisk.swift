import LucernaCore
import LucernaNN

/// IRMv1: for each environment e of the batch, the squared gradient of its risk R_e(w · logits) with respect
/// to a dummy scale w at 1.0, averaged over the environments present (the reference code's mean of the two
/// training environments; `reduction = "sum"` adds them up as the paper's formula writes it). The risk is
/// binary cross-entropy on logits for a single logit per sample (the Colored MNIST model), cross-entropy
/// for `[N, C]` logits. Annealing as the reference: the penalty weighs 1 until `anneal_steps` optimizer
/// steps have been taken, then `weight`; from then on the whole training loss is divided by `weight` (when
/// it exceeds 1) so the step size stays comparable.
///
/// Reference: Arjovsky, Bottou, Gulrajani & Lopez-Paz, "Invariant Risk Minimization", 2019
/// (facebookresearch/InvariantRiskMinimization, `colored_mnist/main.py`: penalty weight 91257.18,
/// anneal 190 steps).
public final class InvariantRisk: Regularizer {
    public static let options = [
        OptionSpec(
            "weight", .number, default: .number(91257.18613115903), "λ after annealing (the reference's tuned value)"),
        OptionSpec("anneal_steps", .integer, default: .number(190), "optimizer steps with weight 1 before λ applies"),
        OptionSpec(
            "rescale", .boolean, default: .boolean(true),
            "divide the whole loss by λ once it applies (as the reference does)"),
        OptionSpec("reduction", .string, default: .string("mean"), "over environments: \"mean\" or \"sum\""),
    ]
    public let weight: Double
    public let annealSteps: Int
    public let rescale: Bool
    public let sums: Bool

    public init(weight: Double = 91257.18613115903, annealSteps: Int = 190, rescale: Bool = true, sums: Bool = false) {
        self.weight = weight
        self.annealSteps = annealSteps
        self.rescale = rescale
        self.sums = sums
    }

    public convenience init(config: Config) throws {
        let steps = try config.integer("anneal_steps")
        guard steps >= 0 else { throw ConfigurationError(config.owner, "anneal_steps must be ≥ 0, got \(steps)") }
        self.init(
            weight: try config.nonNegativeNumber("weight"), annealSteps: steps, rescale: try config.boolean("rescale"),
            sums: try config.choice("reduction", ["mean", "sum"]) == "sum")
    }

    /// The penalty's weight at `step`.
    public func currentWeight(step: Int) -> Double { step >= annealSteps ? weight : 1 }

    public func lossScale(step: Int) -> Double {
        let current = currentWeight(step: step)
        return rescale && current > 1 ? 1 / current : 1
    }

    public func requirements(model: RegularizedModel?) throws -> RegularizerRequirements {
        RegularizerRequirements(fields: ["environments", "targets"])
    }

    /// Σ_e or mean_e of (∂R_e(w · logits)/∂w at w = 1)², unweighted.
    public func environmentPenalty(logits: Tensor, targets: Tensor, environments: Tensor) throws -> Tensor {
        let name = "irm"
        let count = logits.shape.first ?? 0
        let labels = try FairnessPenaltyInputs.labels(environments, count: count, "environments", owner: name)
        guard targets.shape.first == count else {
            throw TensorError(name, "\(targets.shape.first ?? 0) targets for \(count) logits")
        }
        let binary = logits.rank == 1 || (logits.rank == 2 && logits.shape[1] == 1)
        guard binary || logits.rank == 2 else {
            throw TensorError(name, "logits must be [N], [N, 1] or [N, classes], got \(describe(shape: logits.shape))")
        }
        var terms: [Tensor] = []
        for (_, rows) in FairnessPenaltyInputs.groupRows(labels, among: Array(0..<count)) {
            let scale = try Tensor(shape: [], values: [1], dtype: logits.dtype).requiringGrad()
            let scaled = try logits.indexSelect(axis: 0, indices: rows) * scale
            let selected = try targets.indexSelect(axis: 0, indices: rows)
            let risk =
                binary
                ? try Losses.binaryCrossEntropyWithLogits(
                    scaled.reshaped([rows.count]), selected.reshaped([rows.count]).to(logits.dtype))
                : try Losses.crossEntropy(scaled, selected.to(.int64))
            guard
                let gradient = try Tensor.gradients(of: [risk], withRespectTo: [scale], createGraph: true).first ?? nil
            else { throw TensorError(name, "the risk does not depend on the logits") }
            terms.append(try gradient * gradient)
        }
        guard var total = terms.first else { throw TensorError(name, "the batch is empty") }
        for term in terms.dropFirst() { total = try total + term }
        return sums ? total : try total / Double(terms.count)
    }

    public func penalty(_ context: RegularizerContext) throws -> Tensor {
        let name = "irm"
        return try environmentPenalty(
            logits: context.require(context.logits, "logits", name),
            targets: context.require(context.targets, "targets", name),
            environments: context.require(context.environments, "environments", name)
        ) * currentWeight(step: context.step)
    }
}

extension InvariantRisk: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .regularizer, "irm",
            "IRMv1: squared gradient of each environment's risk by a dummy scale, with the reference's annealing",
            reference: "Arjovsky, Bottou, Gulrajani & Lopez-Paz, \"Invariant Risk Minimization\", 2019",
            options: options, build: InvariantRisk.init)
    ]
}
