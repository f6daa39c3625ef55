import LucernaComponents
import LucernaCore
import LucernaNN

/// Clean and robust accuracy of a model under a list of attacks, each number labelled by its attack and
/// budget. A sample counts as robust to an attack when it is classified correctly both clean and after the
/// attack (AutoAttack's convention); the worst case over the attacks counts it robust only when no attack
/// fools it (AutoAttack-style when the list is APGD-CE, APGD-DLR and Square). The model is evaluated in
/// evaluation mode, in order, in batches, and its modules get their modes back afterwards.
///
/// Reference: Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
/// parameter-free attacks", ICML 2020 (robust accuracy and the per-sample worst case).
public enum RobustnessEvaluation {
    public struct Result {
        public var clean: Double
        public var robust: [(name: String, label: String, accuracy: Double)]
        /// Over all attacks, per sample (nil with fewer than two attacks).
        public var worstCase: Double?
        public var count: Int
    }

    public static func run(
        model: TrainableModel, data: TensorDataset, attacks: [(name: String, attack: Attack)], inputKey: String,
        targetKey: String, batchSize: Int, label: String
    ) throws -> Result {
        guard data.tensor(inputKey) != nil, data.tensor(targetKey) != nil else {
            throw TensorError(
                "evaluate", "robustness evaluation needs the data's '\(inputKey)' and '\(targetKey)' tensors")
        }
        let count = data.count
        var clean = [Bool]()
        var robust = [[Bool]](repeating: [], count: attacks.count)
        let progress = Progress("\(label) attacks", total: count)
        defer { progress.finish() }
        try model.evaluating {
            for start in stride(from: 0, to: count, by: batchSize) {
                let batch = try Evaluation.select(Array(start..<min(start + batchSize, count)), from: data)
                guard let inputs = batch[inputKey], let targets = batch[targetKey] else { continue }
                let truth = targets.toIntegers()
                let predictions = try noGrad { try model.forward(batch).argmax(axis: 1) }.toIntegers()
                let correct = zip(predictions, truth).map { $0 == $1 }
                clean += correct
                for (position, (_, attack)) in attacks.enumerated() {
                    // The view starts in the model's (evaluation) mode, so the attack's forward passes and the
                    // logits it returns are all in evaluation mode.
                    let view = BatchView(model: model, batch: batch, inputKey: inputKey)
                    let logits = try attack.adversarialLogits(model: view, inputs: inputs, targets: targets)
                    let fooled = try logits.detach().argmax(axis: 1).toIntegers()
                    robust[position] += zip(zip(fooled, truth), correct).map { $0.0 == $0.1 && $1 }
                }
                progress.update(clean.count)
            }
        }
        func accuracy(_ values: [Bool]) -> Double {
            values.isEmpty ? 0 : Double(values.filter { $0 }.count) / Double(values.count)
        }
        let worst =
            attacks.count > 1 ? accuracy((0..<clean.count).map { sample in robust.allSatisfy { $0[sample] } }) : nil
        return Result(
            clean: accuracy(clean), robust: zip(attacks, robust).map { ($0.0.name, $0.0.attack.label, accuracy($0.1)) },
            worstCase: worst, count: clean.count)
    }
}

/// Robust validation: robust accuracy under one attack on at most `limit` evenly spaced validation samples,
/// each epoch (PyTorch adversarial-training recipes select the checkpoint on PGD accuracy of held-out data,
/// Rice et al. 2020, since clean accuracy keeps rising while robustness overfits).
///
/// Reference: Rice, Wong & Kolter, "Overfitting in adversarially robust deep learning", ICML 2020.
public struct RobustValidation {
    public let attack: Attack
    public let limit: Int
    public let inputKey: String

    public init(attack: Attack, limit: Int, inputKey: String) throws {
        guard limit >= 1 else { throw TensorError("train", "robust_validation limit must be at least 1, got \(limit)") }
        self.attack = attack
        self.limit = limit
        self.inputKey = inputKey
    }

    /// `limit` samples of `data` spread evenly over it (all of them when it has no more).
    func subset(of data: TensorDataset) throws -> TensorDataset {
        guard data.count > limit else { return data }
        return try data.rows((0..<limit).map { $0 * data.count / limit })
    }

    func accuracy(model: TrainableModel, data: TensorDataset, targetKey: String, batchSize: Int, label: String) throws
        -> Double
    {
        try RobustnessEvaluation.run(
            model: model, data: data, attacks: [("robust", attack)], inputKey: inputKey, targetKey: targetKey,
            batchSize: batchSize, label: label
        ).robust[0].accuracy
    }
}
