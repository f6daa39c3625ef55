import LucernaCore

/// Adversarial weight perturbation (AWP) for adversarial training: before each step every layer's weight w
/// (the parameters of rank ≥ 2 whose own name is `weight`: convolution, linear and embedding weights, not
/// biases or normalisation scales, as the reference's `diff_in_weights`) moves by γ · ‖w‖ · g / ‖g‖, g the
/// gradient of the training objective at the batch's adversarial examples (one ascent step, normalised layer
/// by layer); the step's gradient is taken at the perturbed weights, the optimizer steps, and the same
/// perturbation is subtracted again. Active from epoch `warmup` on (epochs count from 1, as the reference's
/// `--awp-warmup`; 0 and 1 both mean every epoch). The adversarial examples are made at the unperturbed
/// weights first, and the ascent's forward passes leave the model's buffers (batch-norm running statistics) as
/// they were, as the reference's proxy copy does. Its defaults: γ = 0.005 with TRADES, 0.01 with PGD training.
///
/// Reference: Wu, Xia & Wang, "Adversarial Weight Perturbation Helps Robust Generalization", NeurIPS 2020
/// (github.com/csdongxian/AWP, `utils_awp.py`: `AdvWeightPerturb`, `TradesAWP`).
public struct AdversarialWeightPerturbation {
    public let gamma: Double, warmup: Int

    public init(gamma: Double, warmup: Int = 0) throws {
        guard gamma.isFinite, gamma > 0, warmup >= 0 else {
            throw TensorError(
                "train",
                "adversarial: awp_gamma must be a positive number and awp_warmup ≥ 0, got \(gamma) and \(warmup)")
        }
        self.gamma = gamma
        self.warmup = warmup
    }

    func isActive(epoch: Int) -> Bool { epoch >= warmup }

    /// The weights AWP perturbs, from a model's named parameters.
    static func perturbedWeights(_ parameters: [(name: String, tensor: Tensor)]) -> [Tensor] {
        parameters.filter { $0.tensor.rank >= 2 && $0.name.split(separator: ".").last == "weight" }.map(\.tensor)
    }

    /// The per-layer directions ‖w‖ · g / ‖g‖ of `objective`'s gradient g by each weight (zero where g is).
    static func directions(ascending objective: Tensor, weights: [Tensor]) throws -> [Tensor] {
        let gradients = try Tensor.gradients(of: [objective], withRespectTo: weights)
        return try noGrad {
            try zip(weights, gradients).map { weight, gradient in
                guard let gradient else { return try Tensor.zeros(weight.shape, dtype: weight.dtype) }
                let weightNorm = try weight.detach().square().sum().item().squareRoot()
                let gradientNorm = try gradient.square().sum().item().squareRoot()
                return try gradient * (weightNorm / (gradientNorm + 1e-20))
            }
        }
    }

    /// Moves `weights` by γ · `directions` and returns what undoes it after the optimizer's step.
    func perturb(_ weights: [Tensor], along directions: [Tensor]) throws -> AppliedWeightPerturbation {
        let applied = AppliedWeightPerturbation(
            weights: weights, offsets: try noGrad { try directions.map { try $0 * gamma } })
        try applied.add(sign: 1)
        return applied
    }
}

/// A perturbation added to weights in place, subtracted again (once) by ``restore()``: the reference adds and
/// subtracts, so the weights after the step are the optimizer's update up to rounding.
final class AppliedWeightPerturbation {
    let weights: [Tensor], offsets: [Tensor]
    private(set) var isRestored = false

    init(weights: [Tensor], offsets: [Tensor]) {
        self.weights = weights
        self.offsets = offsets
    }

    fileprivate func add(sign: Double) throws {
        try noGrad {
            for (weight, offset) in zip(weights, offsets) {
                try weight.assign(sign > 0 ? try weight.detach() + offset : try weight.detach() - offset)
            }
        }
    }

    func restore() throws {
        guard !isRestored else { return }
        isRestored = true
        try add(sign: -1)
    }
}
