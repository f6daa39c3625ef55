import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

@testable import LucernaTrain

/// Adversarial training (PGD/Madry and TRADES) inside the trainer, and the robustness evaluation.
final class AdversarialTrainingTests: XCTestCase {
    let registry = Registry.standard()

    /// Four Gaussian blobs (σ 0.5) at (±2, ±2) in an XOR layout: two classes.
    func blobs(_ count: Int, seed: UInt64) throws -> TensorDataset {
        try xorBlobs(count, seed: seed, spread: 0.5)
    }

    func attack(_ options: [String: ConfigValue]) throws -> Attack {
        var options = options
        options["clamp_min"] = .number(-50)
        options["clamp_max"] = .number(50)
        return try registry.build(.attack, "pgd", options: options)
    }

    func train(adversarial: AdversarialTraining.Method?, data: TensorDataset, epochs: Int = 12) throws -> (
        TrainableModel, MLP
    ) {
        RandomGenerator.shared.reseed(3)
        let model = try MLP(inputFeatures: 2, hidden: (16, 16), classes: 2, generator: RandomGenerator.shared)
        let trainable = TrainableModel(module: model, inputKey: "features")
        let optimizer = try AdamW(parameters: model.parameters(), learningRate: 1e-2)
        var options = Trainer.Options()
        options.epochs = epochs
        options.batchSize = 32
        options.verbose = false
        options.adversarial = try adversarial.map { try AdversarialTraining(method: $0, inputKey: "features") }
        let accuracy = try registry.build(.metric, "accuracy", options: [:])
        let trainer = try Trainer(
            model: trainable, optimizer: optimizer, schedule: nil,
            loss: { logits, batch in try Losses.crossEntropy(logits, batch["labels"]!) },
            metrics: [("accuracy", accuracy)], options: options)
        trainer.print = { _ in }
        _ = try trainer.fit(train: data, validation: nil)
        return (trainable, model)
    }

    func testTermsFollowTheirDefinitions() throws {
        let data = try blobs(64, seed: 1)
        RandomGenerator.shared.reseed(2)
        let model = try MLP(inputFeatures: 2, hidden: (8, 8), classes: 2, generator: RandomGenerator.shared)
        let trainable = TrainableModel(module: model, inputKey: "features")
        let batch = try Evaluation.select(Array(0..<32), from: data)
        let loss: (Tensor, Batch) throws -> Tensor = { logits, batch in
            try Losses.crossEntropy(logits, batch["labels"]!)
        }
        let clean = try loss(trainable.forward(batch), batch).item()
        // PGD examples raise the loss; a zero budget leaves it; mix 0 is the clean loss.
        let pgd = try AdversarialTraining(
            method: .attack(attack(["eps": .number(0.5), "alpha": .number(0.1), "steps": .number(10)]), mix: 1),
            inputKey: "features")
        let adversarial = try pgd.terms(model: trainable, batch: batch, loss: loss)
        XCTAssertEqual(adversarial.terms.map(\.0), ["adversarial_loss"])
        XCTAssertGreaterThan(try adversarial.terms[0].1.item(), clean)
        let none = try AdversarialTraining(
            method: .attack(attack(["eps": .number(0), "random_start": .boolean(false)]), mix: 1), inputKey: "features")
        XCTAssertEqual(
            try none.terms(model: trainable, batch: batch, loss: loss).terms[0].1.item(), clean, accuracy: 1e-6)
        let mixed = try AdversarialTraining(
            method: .attack(attack(["eps": .number(0.5)]), mix: 0), inputKey: "features")
        let mixedTerms = try mixed.terms(model: trainable, batch: batch, loss: loss).terms
        XCTAssertEqual(try mixedTerms[0].1.item(), clean, accuracy: 1e-6)
        XCTAssertEqual(try mixedTerms[1].1.item(), 0, accuracy: 1e-12)
        // TRADES: the clean cross-entropy plus β · a non-negative divergence, zero at ε = 0 up to the start noise.
        let trades = try AdversarialTraining(
            method: .trades(beta: 6, eps: 0.5, alpha: 0.1, steps: 5, clampRange: (-50, 50)), inputKey: "features")
        let tradesTerms = try trades.terms(model: trainable, batch: batch, loss: loss).terms
        XCTAssertEqual(try tradesTerms[0].1.item(), clean, accuracy: 1e-6)
        XCTAssertGreaterThan(try tradesTerms[1].1.item(), 0)
        let flat = try AdversarialTraining(
            method: .trades(beta: 6, eps: 0, alpha: 0.1, steps: 5, clampRange: (-50, 50)), inputKey: "features")
        XCTAssertLessThan(try flat.terms(model: trainable, batch: batch, loss: loss).terms[1].1.item(), 1e-4)
        XCTAssertThrowsError(try AdversarialTraining(method: .attack(attack([:]), mix: 2), inputKey: "features"))
    }

    func testAdversarialTrainingBuysRobustnessThatTheEvaluationMeasures() throws {
        let data = try blobs(512, seed: 4)
        let test = try blobs(512, seed: 5)
        let evaluation = try attack(["eps": .number(1.2), "alpha": .number(0.15), "steps": .number(20)])
        let weak = try attack(["eps": .number(0.4), "alpha": .number(0.05), "steps": .number(10)])
        let zero = try attack(["eps": .number(0), "random_start": .boolean(false), "steps": .number(1)])
        var robust: [String: Double] = [:]
        for (name, method) in [
            ("standard", nil), ("pgd", AdversarialTraining.Method.attack(evaluation, mix: 1)),
            ("trades", .trades(beta: 6, eps: 1.2, alpha: 0.15, steps: 10, clampRange: (-50, 50))),
        ] as [(String, AdversarialTraining.Method?)] {
            let (model, _) = try train(adversarial: method, data: data)
            let result = try RobustnessEvaluation.run(
                model: model, data: test, attacks: [("pgd", evaluation), ("weak", weak), ("none", zero)],
                inputKey: "features", targetKey: "labels", batchSize: 200, label: name)
            XCTAssertEqual(result.count, 512)
            XCTAssertEqual(
                result.robust[2].accuracy, result.clean, accuracy: 1e-12, "\(name): a zero budget changes nothing")
            XCTAssertLessThanOrEqual(
                result.robust[0].accuracy, result.robust[1].accuracy + 1e-12,
                "\(name): the larger budget is at least as strong")
            XCTAssertLessThanOrEqual(try XCTUnwrap(result.worstCase), result.robust.map(\.accuracy).min()! + 1e-12)
            XCTAssert(result.robust[0].label.contains("eps=1.2"), result.robust[0].label)
            robust[name] = result.robust[0].accuracy
        }
        // Measured with these seeds: standard 0.836, PGD training 0.885, TRADES 0.879 at ε = 1.2.
        XCTAssertGreaterThan(robust["pgd"]!, robust["standard"]! + 0.03)
        XCTAssertGreaterThan(robust["trades"]!, robust["standard"]! + 0.03)
    }

    /// Robust validation: a PGD accuracy on evenly spaced validation samples every epoch, which early stopping
    /// can select on, equal to the robustness evaluation of that subset with the epoch's weights.
    func testRobustValidationRecordsAndSelectsOnRobustAccuracy() throws {
        let data = try blobs(256, seed: 6)
        let validation = try blobs(120, seed: 7)
        let pgd = try attack([
            "eps": .number(1.2), "alpha": .number(0.15), "steps": .number(10), "random_start": .boolean(false),
        ])
        RandomGenerator.shared.reseed(3)
        let model = try MLP(inputFeatures: 2, hidden: (16, 16), classes: 2, generator: RandomGenerator.shared)
        let trainable = TrainableModel(module: model, inputKey: "features")
        var options = Trainer.Options()
        options.epochs = 4
        options.batchSize = 32
        options.verbose = false
        options.restoreBest = false
        options.adversarial = try AdversarialTraining(method: .attack(pgd, mix: 1), inputKey: "features")
        options.robustValidation = try RobustValidation(attack: pgd, limit: 40, inputKey: "features")
        options.earlyStopping = try EarlyStopping(metric: "val_robust_accuracy", patience: 10, mode: .maximize)
        let accuracy = try registry.build(.metric, "accuracy", options: [:])
        let trainer = try Trainer(
            model: trainable, optimizer: try AdamW(parameters: model.parameters(), learningRate: 1e-2), schedule: nil,
            loss: { logits, batch in try Losses.crossEntropy(logits, batch["labels"]!) },
            metrics: [("accuracy", accuracy)], options: options)
        trainer.print = { _ in }
        let result = try trainer.fit(train: data, validation: validation)
        let values = try result.history.map { try XCTUnwrap($0["val_robust_accuracy"]?.numberValue) }
        XCTAssertEqual(values.count, 4)
        XCTAssertEqual(result.bestValue, values.max())
        XCTAssertEqual(result.bestEpoch, try XCTUnwrap(values.firstIndex(of: values.max()!)) + 1)
        // The last epoch's value is the evaluation of samples 0, 3, 6, ... (120 / 40 apart) with the last weights.
        let subset = try RobustValidation(attack: pgd, limit: 40, inputKey: "features").subset(of: validation)
        XCTAssertEqual(subset.count, 40)
        XCTAssertEqual(
            try XCTUnwrap(subset.tensor("features")).toDoubles(),
            try XCTUnwrap(validation.tensor("features")).indexSelect(axis: 0, indices: (0..<40).map { $0 * 3 })
                .toDoubles())
        let direct = try RobustnessEvaluation.run(
            model: trainable, data: subset, attacks: [("pgd", pgd)], inputKey: "features",
            targetKey: "labels", batchSize: 1000, label: "check")
        XCTAssertEqual(direct.robust[0].accuracy, values.last!, accuracy: 1e-12)
        // Without validation data it is an error, not a silent no-op.
        XCTAssertThrowsError(try trainer.fit(train: data, validation: nil))
    }

    /// Embedding-space PGD through the trainer and the evaluation: the adversarial loss is the loss of the
    /// perturbed embeddings (above the clean loss, differentiable in the weights), a zero budget changes
    /// nothing, and word substitution queries the batch view with rows of its own.
    func testTextAttacksThroughTheTrainerAndTheEvaluation() throws {
        let generator = RandomGenerator(seed: 9)
        let count = 48
        var ids: [Int] = []
        var labels: [Int] = []
        for _ in 0..<count {
            let row = (0..<5).map { _ in 2 + Int(generator.next() % 18) }
            ids += row
            labels.append(row.filter { $0 < 11 }.count >= 3 ? 1 : 0)
        }
        let data = TensorDataset(
            name: "tokens",
            tensors: [
                ("tokens", try Tensor(shape: [count, 5], integers: ids)),
                ("labels", try Tensor(shape: [count], integers: labels)),
            ])
        RandomGenerator.shared.reseed(4)
        let module = try Sequential([EmbeddingBagEncoder(vocabulary: 20, dimension: 4), Linear(4, 2)])
        let model = TrainableModel(module: module, inputKey: "tokens")
        let batch = try Evaluation.select(Array(0..<count), from: data)
        let loss: (Tensor, Batch) throws -> Tensor = { logits, batch in
            try Losses.crossEntropy(logits, batch["labels"]!)
        }
        let clean = try loss(model.forward(batch), batch).item()
        func attack(_ name: String, _ options: [String: ConfigValue]) throws -> Attack {
            try registry.build(.attack, name, options: options)
        }
        let pgd = try attack("embedding_pgd", ["eps": .number(1), "alpha": .number(0.5), "steps": .number(3)])
        let training = try AdversarialTraining(method: .attack(pgd, mix: 1), inputKey: "tokens")
        let (terms, _, _) = try training.terms(model: model, batch: batch, loss: loss)
        XCTAssertThrowsError(
            try AdversarialTraining(
                method: .attack(pgd, mix: 1), inputKey: "tokens",
                weightPerturbation: AdversarialWeightPerturbation(gamma: 0.01)), "AWP needs an input-space attack")
        let adversarial = try XCTUnwrap(terms.first { $0.0 == "adversarial_loss" }?.1)
        XCTAssertGreaterThan(try adversarial.item(), clean + 1e-3)
        let weights = module.namedParameters().map(\.tensor)
        XCTAssert(
            try Tensor.gradients(of: [adversarial], withRespectTo: weights).allSatisfy { $0 != nil },
            "the loss reaches every weight")
        let zero = try attack("embedding_pgd", ["eps": .number(0), "alpha": .number(0), "steps": .number(1)])
        let result = try RobustnessEvaluation.run(
            model: model, data: data,
            attacks: [
                ("zero", zero), ("pgd", pgd),
                ("words", try attack("word_substitution", ["budget": .number(2)])),
            ],
            inputKey: "tokens", targetKey: "labels", batchSize: 20, label: "text")
        XCTAssertEqual(result.robust[0].accuracy, result.clean, accuracy: 1e-12)
        XCTAssertLessThan(result.robust[1].accuracy, result.clean)
        XCTAssertLessThan(result.robust[2].accuracy, result.clean)
    }

    // MARK: - Adversarial weight perturbation

    /// The fixture's float64 MLP (3 → 6 → 5 → 4) with the weights stored under `prefix`.
    func awpModel(_ fixture: Fixture, _ prefix: String) throws -> (TrainableModel, MLP) {
        let module = try MLP(inputFeatures: 3, hidden: (6, 5), classes: 4, dtype: .float64)
        try module.loadStateDict(fixture.state(prefix: prefix))
        return (TrainableModel(module: module, inputKey: "features"), module)
    }

    func assertState(_ module: MLP, _ fixture: Fixture, _ prefix: String, _ message: String) throws {
        let expected = fixture.state(prefix: prefix)
        for (name, tensor) in module.namedParameters() {
            assertClose(tensor, try XCTUnwrap(expected[name]), tolerance: 1e-12, "\(message): \(name)")
        }
    }

    /// AWP with TRADES at fixed adversarial inputs against the reference's algorithm (scripts/golden/
    /// make_awp_golden.py): the per-layer directions, the terms at the perturbed weights, and the weights after
    /// one SGD step and the restore.
    func testWeightPerturbationMatchesTheReferenceWithTRADES() throws {
        let fixture = try Fixture("awp.safetensors")
        let (model, module) = try awpModel(fixture, "trades.model.")
        let batch: Batch = ["features": try fixture["inputs"], "labels": try fixture["labels"].to(.int64)]
        let loss: (Tensor, Batch) throws -> Tensor = { logits, batch in
            try Losses.crossEntropy(logits, batch["labels"]!)
        }
        let awp = try AdversarialWeightPerturbation(gamma: 0.005)
        let training = try AdversarialTraining(
            method: .trades(beta: 6, eps: 0.1, alpha: 0.03, steps: 1, clampRange: (-50, 50)), inputKey: "features",
            weightPerturbation: awp)
        let objective = try training.objective(
            model: model, batch: batch, points: try fixture["trades.adversarial_inputs"], loss: loss)
        let ascent = try objective().terms.map(\.1).reduce(try Tensor.zeros([], dtype: .float64)) { try $0 + $1.sum() }
        let names = module.namedParameters().filter { $0.tensor.rank >= 2 }.map(\.name)
        XCTAssertEqual(names, ["fc1.weight", "fc2.weight", "fc3.weight"])
        let weights = AdversarialWeightPerturbation.perturbedWeights(model.namedParameters)
        XCTAssertEqual(weights.count, 3, "the weights of rank 2, not the biases")
        let directions = try AdversarialWeightPerturbation.directions(ascending: ascent, weights: weights)
        for (name, direction) in zip(names, directions) {
            assertClose(direction, try fixture["trades.direction.\(name)"], tolerance: 1e-10, "direction of \(name)")
        }
        let optimizer = try SGD(parameters: module.parameters(), learningRate: 0.1)
        let applied = try awp.perturb(weights, along: directions)
        let (terms, _) = try objective()
        XCTAssertEqual(terms.map(\.0), ["data_loss", "trades_robust"])
        XCTAssertEqual(try terms[0].1.item(), try fixture["trades.natural"].item(), accuracy: 1e-12)
        XCTAssertEqual(try terms[1].1.item(), try fixture["trades.robust"].item(), accuracy: 1e-12)
        optimizer.zeroGrad()
        try (terms[0].1 + terms[1].1).backward()
        try optimizer.step()
        try applied.restore()
        try applied.restore()  // once only
        try assertState(module, fixture, "trades.after.", "after the step")
    }

    /// PGD training with AWP through the trainer, one SGD step on one batch (a zero budget: the adversarial
    /// inputs are the inputs), against the reference; without AWP, or before its warm-up, the step differs.
    func testTrainerStepsAtThePerturbedWeightsAndRestoresThem() throws {
        let fixture = try Fixture("awp.safetensors")
        let data = TensorDataset(
            name: "fixed",
            tensors: [("features", try fixture["inputs"]), ("labels", try fixture["labels"].to(.int64))])
        let zero = try attack([
            "eps": .number(0), "alpha": .number(0), "steps": .number(1), "random_start": .boolean(false),
        ])
        func step(_ perturbation: AdversarialWeightPerturbation?) throws -> MLP {
            let (model, module) = try awpModel(fixture, "pgd.model.")
            var options = Trainer.Options()
            options.epochs = 1
            options.batchSize = 8
            options.verbose = false
            options.adversarial = try AdversarialTraining(
                method: .attack(zero, mix: 1), inputKey: "features", weightPerturbation: perturbation)
            let trainer = try Trainer(
                model: model, optimizer: try SGD(parameters: module.parameters(), learningRate: 0.1), schedule: nil,
                loss: { logits, batch in try Losses.crossEntropy(logits, batch["labels"]!) }, metrics: [],
                options: options)
            trainer.print = { _ in }
            _ = try trainer.fit(train: data, validation: nil)
            return module
        }
        try assertState(step(try AdversarialWeightPerturbation(gamma: 0.01)), fixture, "pgd.after.", "AWP step")
        let plain = try step(nil)
        let warming = try step(try AdversarialWeightPerturbation(gamma: 0.01, warmup: 2))
        let perturbed = try step(try AdversarialWeightPerturbation(gamma: 0.01))
        XCTAssertEqual(plain.fc1.weight.toDoubles(), warming.fc1.weight.toDoubles(), "AWP starts at epoch 2")
        XCTAssertGreaterThan(
            zip(plain.fc1.weight.toDoubles(), perturbed.fc1.weight.toDoubles()).map { abs($0 - $1) }.max() ?? 0, 1e-6)
        XCTAssertThrowsError(try AdversarialWeightPerturbation(gamma: 0))
        XCTAssertThrowsError(try AdversarialWeightPerturbation(gamma: 0.01, warmup: -1))
    }

    /// The ascent pass does not update batch-norm running statistics: after a step's terms they hold one update,
    /// from the batch at the perturbed weights (momentum 0.1 from zero: a tenth of that batch's mean).
    func testTheAscentLeavesBatchNormStatisticsAlone() throws {
        let data = try blobs(32, seed: 9)
        RandomGenerator.shared.reseed(5)
        let first = try Linear(2, 6)
        let norm = try BatchNorm(6, rank: 2)
        let module = try Sequential([first, norm, ReLU(), Linear(6, 2)])
        let model = TrainableModel(module: module, inputKey: "features")
        let batch = try Evaluation.select(Array(0..<32), from: data)
        let zero = try attack([
            "eps": .number(0), "alpha": .number(0), "steps": .number(1), "random_start": .boolean(false),
        ])
        let training = try AdversarialTraining(
            method: .attack(zero, mix: 1), inputKey: "features",
            weightPerturbation: try AdversarialWeightPerturbation(gamma: 0.05))
        let (_, _, applied) = try training.terms(
            model: model, batch: batch, loss: { logits, batch in try Losses.crossEntropy(logits, batch["labels"]!) })
        let perturbed = try XCTUnwrap(applied)
        XCTAssertFalse(perturbed.isRestored)
        let mean = try noGrad { try first(XCTUnwrap(batch["features"])).mean(axes: [0]) }
        assertClose(norm.runningMean, try mean * 0.1, tolerance: 1e-6, "running mean")
        XCTAssertEqual(try norm.batchesTracked.item(), 1)
        try perturbed.restore()
        XCTAssertTrue(perturbed.isRestored)
    }
}
