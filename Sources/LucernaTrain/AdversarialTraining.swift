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
/// Adversarial examples are made with the model in evaluation mode; the loss is taken in training mode.
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

    public init(method: Method, inputKey: String, targetKey: String = "labels") throws {
        switch method {
        case .attack(_, let mix):
            guard (0...1).contains(mix) else {
                throw TensorError("train", "adversarial mix must be in [0, 1], got \(mix)")
            }
        case .trades(let beta, let eps, let alpha, let steps, let range):
            guard beta >= 0, eps >= 0, alpha >= 0, steps >= 1, range.0 < range.1 else {
                throw TensorError("train", "trades needs beta, eps, alpha ≥ 0, steps ≥ 1 and clamp_min < clamp_max")
            }
        }
        self.method = method
        self.inputKey = inputKey
        self.targetKey = targetKey
    }

    /// The loss terms of one batch and the logits the metrics and regularizers see.
    func terms(model: TrainableModel, batch: Batch, loss: (Tensor, Batch) throws -> Tensor) throws -> (
        terms: [(String, Tensor)], logits: Tensor
    ) {
        guard let inputs = batch[inputKey], let targets = batch[targetKey] else {
            throw TensorError(
                "train",
                "adversarial training needs the batch's '\(inputKey)' and '\(targetKey)' tensors; it has \(batch.keys.sorted().joined(separator: ", "))"
            )
        }
        var adversarialBatch = batch
        switch method {
        case .attack(let attack, let mix):
            // The attack crafts its examples in evaluation mode and returns the logits in training mode.
            model.setTraining(true)
            let view = BatchView(model: model, batch: batch, inputKey: inputKey)
            let adversarialLogits = try attack.adversarialLogits(model: view, inputs: inputs, targets: targets)
            let adversarialLoss = try loss(adversarialLogits, batch)
            guard mix < 1 else { return ([("adversarial_loss", adversarialLoss)], adversarialLogits) }
            let logits = try model.forward(batch)
            let cleanTerm = try loss(logits, batch) * (1 - mix)
            let adversarialTerm = try adversarialLoss * mix
            return ([("data_loss", cleanTerm), ("adversarial_loss", adversarialTerm)], logits)
        case .trades(let beta, let eps, let alpha, let steps, (let low, let high)):
            model.setTraining(false)
            let natural = try noGrad { try model.forward(batch).softmax(axis: 1) }
            let x = inputs.detach()
            var point = try noGrad { try x + Tensor.normal(x.shape, dtype: x.dtype) * 0.001 }
            for _ in 0..<steps {
                let leaf = try point.detach().requiringGrad()
                adversarialBatch[inputKey] = leaf
                let divergence = try Self.divergence(natural, model.forward(adversarialBatch).logSoftmax(axis: 1)).sum()
                guard let gradient = try Tensor.gradients(of: [divergence], withRespectTo: [leaf]).first ?? nil else {
                    throw TensorError("train", "trades: the model's output does not depend on '\(inputKey)'")
                }
                point = try noGrad {
                    let stepped = try point + gradient.sign() * alpha
                    return try stepped.minimum(x + eps).maximum(x - eps).clamp(min: low, max: high)
                }
            }
            model.setTraining(true)
            adversarialBatch[inputKey] = point.detach()
            let logits = try model.forward(batch)
            let robust =
                try Self.divergence(logits.softmax(axis: 1), model.forward(adversarialBatch).logSoftmax(axis: 1)).sum()
                / Double(x.shape[0])
            let naturalLoss = try loss(logits, batch)
            let robustTerm = try robust * beta
            return ([("data_loss", naturalLoss), ("trades_robust", robustTerm)], logits)
        }
    }

    /// KL(p ‖ q) summed over classes per element, from p and log q (PyTorch's `KLDivLoss` with log-inputs).
    static func divergence(_ p: Tensor, _ logQ: Tensor) throws -> Tensor {
        try p * (p.clamp(min: 1e-12).log() - logQ)
    }
}
