import LucernaComponents
import LucernaCore
import LucernaNN

/// A trainable model as a module of one batch tensor, the batch's other tensors held: what attacks need to
/// perturb the inputs of a model whose forward pass takes a whole batch. Switching its mode switches the
/// model; its children are the model's modules (a single module's under `model`), so attacks find layers.
final class BatchView: Module {
    let model: TrainableModel, batch: Batch, inputKey: String

    init(model: TrainableModel, batch: Batch, inputKey: String) {
        self.model = model
        self.batch = batch
        self.inputKey = inputKey
        super.init()
        for (name, module) in model.modules { registerModule(name.isEmpty ? "model" : name, module) }
        // In the model's mode: an attack's `evaluating` then gives the model back the mode it had (a new
        // module is in training mode, which would switch a model in evaluation mode to training).
        if !model.isTraining { train(false) }
    }

    /// The view of the batch's rows `rows` (attacks that query the inputs they have not yet fooled).
    override func restricted(toRows rows: [Int]) throws -> Module {
        BatchView(
            model: model, batch: try batch.mapValues { try $0.indexSelect(axis: 0, indices: rows) }, inputKey: inputKey)
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        var replaced = batch
        replaced[inputKey] = input
        return try model.forward(replaced)
    }

    override func trainingModeChanged(_ training: Bool) { model.setTraining(training) }
}

/// Adversarial training inside ``Trainer``: each batch's inputs (`inputKey`) replaced by adversarial ones.
/// - `pgd` (Madry et al.): the data loss on examples from any registered attack (PGD for Madry et al., FGSM
///   with a random start and α = 1.25ε for Wong et al.'s fast training), mixed with the clean loss by `mix`
///   (1: adversarial only);
/// - `trades` (Zhang et al.): cross-entropy on clean inputs + β · KL(p(x) ‖ p(x′)), x′ from `steps` signed
///   steps of size α ascending that KL inside the L∞ ball of radius ε from x + 0.001·N(0, 1), as the
///   reference implementation does.
/// Adversarial examples are made with the model in evaluation mode; the loss is taken in training mode. Either
/// method can add adversarial weight perturbation (``AdversarialWeightPerturbation``).
///
/// Reference: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018;
/// Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy", ICML 2019; Wong,
/// Rice & Kolter, "Fast is better than free", ICLR 2020.
public struct AdversarialTraining {
    public enum Method {
        case attack(Attack, mix: Double)
        case trades(beta: Double, eps: Double, alpha: Double, steps: Int, clampRange: (Double, Double))
    }

    public let method: Method
    public let inputKey: String, targetKey: String
    /// Adversarial weight perturbation on top of the method (nil: none).
    public let weightPerturbation: AdversarialWeightPerturbation?

    public init(
        method: Method, inputKey: String, targetKey: String = "labels",
        weightPerturbation: AdversarialWeightPerturbation? = nil
    ) throws {
        switch method {
        case .attack(let attack, let mix):
            guard (0...1).contains(mix) else {
                throw TensorError("train", "adversarial mix must be in [0, 1], got \(mix)")
            }
            if weightPerturbation != nil, attack is TokenAttack {
                throw TensorError(
                    "train",
                    "adversarial: awp needs an attack on the inputs themselves; \(attack.label) perturbs token embeddings"
                )
            }
        case .trades(let beta, let eps, let alpha, let steps, let range):
            guard beta >= 0, eps >= 0, alpha >= 0, steps >= 1, range.0 < range.1 else {
                throw TensorError("train", "trades needs beta, eps, alpha ≥ 0, steps ≥ 1 and clamp_min < clamp_max")
            }
        }
        self.method = method
        self.inputKey = inputKey
        self.targetKey = targetKey
        self.weightPerturbation = weightPerturbation
    }

    /// The loss terms of one batch and the logits the metrics and regularizers see; with weight perturbation
    /// active at `epoch`, taken at the perturbed weights, and the perturbation to undo after the step.
    func terms(model: TrainableModel, batch: Batch, epoch: Int = 1, loss: @escaping (Tensor, Batch) throws -> Tensor)
        throws -> (terms: [(String, Tensor)], logits: Tensor, perturbation: AppliedWeightPerturbation?)
    {
        guard let inputs = batch[inputKey], batch[targetKey] != nil else {
            throw TensorError(
                "train",
                "adversarial training needs the batch's '\(inputKey)' and '\(targetKey)' tensors; it has \(batch.keys.sorted().joined(separator: ", "))"
            )
        }
        if case .attack(let attack, let mix) = method, attack is TokenAttack, let targets = batch[targetKey] {
            // Token attacks perturb embeddings inside the forward pass: their logits, once. The attack crafts
            // its examples in evaluation mode and returns the logits in training mode.
            model.setTraining(true)
            let view = BatchView(model: model, batch: batch, inputKey: inputKey)
            let adversarialLogits = try attack.adversarialLogits(model: view, inputs: inputs, targets: targets)
            let (terms, logits) = try Self.attackTerms(
                adversarialLogits, mix: mix, model: model, batch: batch, loss: loss)
            return (terms, logits, nil)
        }
        let points = try adversarialInputs(model: model, batch: batch)
        let objective = try objective(model: model, batch: batch, points: points, loss: loss)
        guard let weightPerturbation, weightPerturbation.isActive(epoch: epoch) else {
            let (terms, logits) = try objective()
            return (terms, logits, nil)
        }
        // The ascent direction: the whole objective's gradient by the weights, at the unperturbed weights. Its
        // forward passes leave the buffers (batch-norm running statistics, spectral-norm vectors) as they were,
        // as the reference's proxy copy of the model does.
        let parameters = Set(model.namedParameters.map { ObjectIdentifier($0.tensor) })
        let buffers = model.state.map(\.tensor).filter { !parameters.contains(ObjectIdentifier($0)) }
        let saved = buffers.map { $0.copy() }
        var ascent: Tensor?
        for (_, term) in try objective().terms { ascent = try ascent.map { try $0 + term.sum() } ?? term.sum() }
        for (buffer, value) in zip(buffers, saved) { try buffer.assign(value) }
        let weights = AdversarialWeightPerturbation.perturbedWeights(model.namedParameters)
        guard let ascent, !weights.isEmpty else {
            let (terms, logits) = try objective()
            return (terms, logits, nil)
        }
        let directions = try AdversarialWeightPerturbation.directions(ascending: ascent, weights: weights)
        let applied = try weightPerturbation.perturb(weights, along: directions)
        do {
            let (terms, logits) = try objective()
            return (terms, logits, applied)
        } catch {
            try applied.restore()
            throw error
        }
    }

    /// The batch's adversarial inputs, made at the model's current weights in evaluation mode.
    func adversarialInputs(model: TrainableModel, batch: Batch) throws -> Tensor {
        guard let inputs = batch[inputKey]?.detach() else {
            throw TensorError("train", "adversarial training needs the batch's '\(inputKey)' tensor")
        }
        switch method {
        case .attack(let attack, _):
            model.setTraining(true)
            let view = BatchView(model: model, batch: batch, inputKey: inputKey)
            guard let targets = batch[targetKey] else { throw TensorError("train", "no '\(targetKey)' in the batch") }
            return try attack.perturb(model: view, inputs: inputs, targets: targets).detach()
        case .trades(_, let eps, let alpha, let steps, (let low, let high)):
            model.setTraining(false)
            defer { model.setTraining(true) }
            var adversarialBatch = batch
            let natural = try noGrad { try model.forward(batch).softmax(axis: 1) }
            var point = try noGrad { try inputs + Tensor.normal(inputs.shape, dtype: inputs.dtype) * 0.001 }
            for _ in 0..<steps {
                let leaf = try point.detach().requiringGrad()
                adversarialBatch[inputKey] = leaf
                let divergence = try Self.divergence(natural, model.forward(adversarialBatch).logSoftmax(axis: 1)).sum()
                guard let gradient = try Tensor.gradients(of: [divergence], withRespectTo: [leaf]).first ?? nil else {
                    throw TensorError("train", "trades: the model's output does not depend on '\(inputKey)'")
                }
                point = try noGrad {
                    let stepped = try point + gradient.sign() * alpha
                    return try stepped.minimum(inputs + eps).maximum(inputs - eps).clamp(min: low, max: high)
                }
            }
            return point.detach()
        }
    }

    /// The training objective's terms at the adversarial inputs `points`, in training mode, recomputed at the
    /// model's current weights on each call.
    func objective(
        model: TrainableModel, batch: Batch, points: Tensor, loss: @escaping (Tensor, Batch) throws -> Tensor
    ) throws -> () throws -> (terms: [(String, Tensor)], logits: Tensor) {
        var adversarialBatch = batch
        adversarialBatch[inputKey] = points
        switch method {
        case .attack(_, let mix):
            return {
                model.setTraining(true)
                return try Self.attackTerms(
                    model.forward(adversarialBatch), mix: mix, model: model, batch: batch, loss: loss)
            }
        case .trades(let beta, _, _, _, _):
            return {
                model.setTraining(true)
                let logits = try model.forward(batch)
                let robust =
                    try Self.divergence(logits.softmax(axis: 1), model.forward(adversarialBatch).logSoftmax(axis: 1))
                    .sum() / Double(points.shape[0])
                let naturalLoss = try loss(logits, batch)
                let robustTerm = try robust * beta
                return ([("data_loss", naturalLoss), ("trades_robust", robustTerm)], logits)
            }
        }
    }

    /// PGD training's terms from the adversarial logits: the adversarial loss, or with `mix` < 1 the clean
    /// and adversarial losses weighted by 1 − mix and mix (the clean logits are then the ones returned).
    static func attackTerms(
        _ adversarialLogits: Tensor, mix: Double, model: TrainableModel, batch: Batch,
        loss: (Tensor, Batch) throws -> Tensor
    ) throws -> (terms: [(String, Tensor)], logits: Tensor) {
        let adversarialLoss = try loss(adversarialLogits, batch)
        guard mix < 1 else { return ([("adversarial_loss", adversarialLoss)], adversarialLogits) }
        let logits = try model.forward(batch)
        let cleanTerm = try loss(logits, batch) * (1 - mix)
        let adversarialTerm = try adversarialLoss * mix
        return ([("data_loss", cleanTerm), ("adversarial_loss", adversarialTerm)], logits)
    }

    /// KL(p ‖ q) summed over classes per element, from p and log q (PyTorch's `KLDivLoss` with log-inputs).
    static func divergence(_ p: Tensor, _ logQ: Tensor) throws -> Tensor {
        try p * (p.clamp(min: 1e-12).log() - logQ)
    }
}
