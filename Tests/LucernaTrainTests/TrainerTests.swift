import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTrain
import XCTest

/// The protocol trainer: early stopping and best-epoch restore, clipping, logged regularizer terms, the
/// schedule, NaN handling with a usable checkpoint, and resume equal to an uninterrupted run.
final class TrainerTests: XCTestCase {
    let registry = Registry.standard()

    /// Four Gaussian blobs (σ 0.7) at (±2, ±2) in an XOR layout: two classes.
    func blobs(_ count: Int, seed: UInt64) throws -> TensorDataset {
        try xorBlobs(count, seed: seed, spread: 0.7)
    }

    func folder(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    struct Setup {
        let trainer: Trainer
        let model: MLP
        var records: [[String: ConfigValue]] = []
    }

    /// A fresh model and trainer from seed 5 (the model's initialisation and the shuffles).
    func makeTrainer(
        _ options: Trainer.Options, learningRate: Double = 1e-2,
        regularizers: [(name: String, weight: Double, regularizer: Regularizer)] = [],
        loss: ((Tensor, Batch) throws -> Tensor)? = nil, method: TrainingMethod? = nil
    ) throws -> (Trainer, MLP) {
        RandomGenerator.shared.reseed(5)
        let model = try MLP(inputFeatures: 2, hidden: (16, 16), classes: 2, generator: RandomGenerator.shared)
        let optimizer = try AdamW(parameters: model.parameters(), learningRate: learningRate)
        let schedule = try LearningRateSchedule(
            .cosine(maximumSteps: options.epochs, minimumRate: 0), optimizer: optimizer)
        let accuracy = try registry.build(.metric, "accuracy", options: [:])
        let trainer = try Trainer(
            model: TrainableModel(module: model, inputKey: "features"), optimizer: optimizer, schedule: schedule,
            loss: loss ?? { logits, batch in try Losses.crossEntropy(logits, batch["labels"]!) },
            regularizers: regularizers, metrics: [("accuracy", accuracy)], options: options)
        trainer.print = { _ in }
        if let method {
            trainer.method = ("method", method)
            trainer.perSampleLoss = { logits, batch in
                try Losses.crossEntropy(logits, batch["labels"]!, reduction: .none)
            }
        }
        return (trainer, model)
    }

    func testTrainsValidatesAndEvaluatesTheTestSet() throws {
        var options = Trainer.Options()
        options.epochs = 6
        options.batchSize = 32
        let (trainer, _) = try makeTrainer(options)
        var records: [[String: ConfigValue]] = []
        trainer.log = { records.append($0) }
        let result = try trainer.fit(
            train: try blobs(600, seed: 1), validation: try blobs(200, seed: 2), test: try blobs(400, seed: 3))
        XCTAssertEqual(result.epochsRun, 6)
        XCTAssertEqual(records.count, 7, "six epochs and the test record")
        XCTAssertGreaterThan(result.test["accuracy"] ?? 0, 0.9)
        XCTAssertEqual(records.last?["phase"]?.description, "\"test\"")
        // The cosine schedule is stepped once per epoch: the lr logged after epoch e is the rate at step e.
        for (index, record) in records.dropLast().enumerated() {
            let expected = 1e-2 * (1 + cos(Double.pi * Double(index + 1) / 6)) / 2
            XCTAssertEqual(record["lr"]?.numberValue ?? -1, expected, accuracy: 1e-12)
        }
        // Without early stopping the best epoch is the one with the lowest validation loss.
        let losses = records.dropLast().compactMap { $0["val_loss"]?.numberValue }
        XCTAssertEqual(result.bestEpoch, (losses.indices.min { losses[$0] < losses[$1] } ?? -1) + 1)
    }

    func testEarlyStoppingStopsAfterPatienceAndRestoresTheBestEpoch() throws {
        var options = Trainer.Options()
        options.epochs = 40
        options.batchSize = 32
        options.earlyStopping = try EarlyStopping(metric: "val_loss", patience: 2, mode: .minimize)
        options.checkpointDirectory = try folder("early")
        // A high rate: validation loss soon stops improving.
        let (trainer, model) = try makeTrainer(options, learningRate: 0.3)
        var records: [[String: ConfigValue]] = []
        trainer.log = { records.append($0) }
        let result = try trainer.fit(train: try blobs(200, seed: 1), validation: try blobs(200, seed: 2))
        let losses = records.compactMap { $0["val_loss"]?.numberValue }
        XCTAssertTrue(result.stoppedEarly)
        XCTAssertLessThan(result.epochsRun, 40)
        let best = try XCTUnwrap(result.bestEpoch)
        XCTAssertEqual(result.epochsRun, best + 2, "stops once two epochs in a row fail to improve")
        XCTAssertEqual(losses.min(), losses[best - 1])
        // The model now holds the best epoch's weights, as saved in <name>-best.safetensors.
        let saved = try Safetensors.read("\(options.checkpointDirectory!)/train-best.safetensors")
        XCTAssertEqual(saved.metadata["epoch"], "\(best)")
        for (name, tensor) in model.stateDict() {
            let stored = try XCTUnwrap(saved.tensors.first { $0.name == "model.\(name)" }?.tensor)
            XCTAssertEqual(stored.toFloats(), tensor.toFloats(), name)
        }
        // Re-evaluating the restored model on the validation set gives the best validation loss.
        let again = try trainer.evaluate(try blobs(200, seed: 2)).values["loss"] ?? -1
        XCTAssertEqual(again, losses[best - 1], accuracy: 1e-9)
    }

    func testRegularizerTermsAreWeightedAndLoggedSeparately() throws {
        var options = Trainer.Options()
        options.epochs = 1
        options.batchSize = 50
        let l2 = try registry.build(.regularizer, "l2", options: [:])
        let (trainer, model) = try makeTrainer(options, regularizers: [("l2", 0.5, l2)])
        let before = try l2.penalty(RegularizerContext(parameters: model.namedParameters())).item()
        var steps: [Trainer.StepInfo] = []
        trainer.onStepEnd = { steps.append($0) }
        var records: [[String: ConfigValue]] = []
        trainer.log = { records.append($0) }
        _ = try trainer.fit(train: try blobs(100, seed: 1), validation: nil)
        XCTAssertEqual(steps.count, 2)
        // The first step's l2 term is the weight times the penalty of the initial parameters.
        XCTAssertEqual(steps[0].terms["l2"] ?? -1, 0.5 * before, accuracy: 1e-6 * before)
        XCTAssertEqual(steps[0].loss, (steps[0].terms["data_loss"] ?? 0) + (steps[0].terms["l2"] ?? 0), accuracy: 1e-6)
        let record = try XCTUnwrap(records.first)
        let mean = (steps[0].terms["l2"]! + steps[1].terms["l2"]!) / 2
        XCTAssertEqual(record["train_l2"]?.numberValue ?? -1, mean, accuracy: 1e-9)
        XCTAssertNotNil(record["train_data_loss"])
    }

    func testGradientNormClippingBoundsTheUpdate() throws {
        // SGD with lr 1 from a known state: the update equals the clipped gradient, whose norm is the limit.
        let linear = try Linear(2, 1, bias: false, dtype: .float64)
        let weight = linear.weight
        weight.fill(0)
        let optimizer = try SGD(parameters: [weight], learningRate: 1)
        var options = Trainer.Options()
        options.epochs = 1
        options.batchSize = 1
        options.clipGradientNorm = 0.1
        let trainer = try Trainer(
            model: TrainableModel(module: linear, inputKey: "features"), optimizer: optimizer, schedule: nil,
            loss: { output, _ in try (output.sum() * 100) }, metrics: [], options: options)
        trainer.print = { _ in }
        let data = TensorDataset(
            name: "one",
            tensors: [
                ("features", try Tensor(shape: [1, 2], doubles: [3, 4])),
                ("labels", try Tensor(shape: [1], integers: [0])),
            ])
        _ = try trainer.fit(train: data, validation: nil)
        // The raw gradient is 100·(3, 4), norm 500; clipped to norm 0.1 it is (0.06, 0.08).
        let values = weight.toDoubles()
        XCTAssertEqual(values[0], -0.06, accuracy: 1e-6)
        XCTAssertEqual(values[1], -0.08, accuracy: 1e-6)
    }

    func testANaNLossStopsNamingTheStepAndTheLastCheckpointLoads() throws {
        var options = Trainer.Options()
        options.epochs = 3
        options.batchSize = 25
        options.checkpointDirectory = try folder("nan")
        var calls = 0
        let (trainer, model) = try makeTrainer(
            options,
            loss: { logits, batch in
                calls += 1
                let loss = try Losses.crossEntropy(logits, batch["labels"]!)
                return calls == 7 ? try loss * Double.nan : loss  // the third step of epoch 2 (4 steps per epoch)
            })
        XCTAssertThrowsError(try trainer.fit(train: try blobs(100, seed: 1), validation: nil)) { error in
            let message = "\(error)"
            XCTAssert(message.contains("loss became nan at epoch 2, step 3 (global step 7)"), message)
            XCTAssert(message.contains("train-last.safetensors (epoch 1, verified)"), message)
        }
        // The checkpoint holds epoch 1 and loads into a fresh model of the same shape.
        let checkpoint = try Safetensors.read("\(options.checkpointDirectory!)/train-last.safetensors")
        XCTAssertEqual(checkpoint.metadata["epoch"], "1")
        let state = Dictionary(
            checkpoint.tensors.filter { $0.name.hasPrefix("model.") }.map { (String($0.name.dropFirst(6)), $0.tensor) },
            uniquingKeysWith: { a, _ in a })
        let fresh = try MLP(inputFeatures: 2, hidden: (16, 16), classes: 2, generator: RandomGenerator(seed: 9))
        XCTAssertNoThrow(try fresh.loadStateDict(state))
        XCTAssert(fresh.parameters().allSatisfy { $0.toFloats().allSatisfy(\.isFinite) })
        XCTAssert(
            model.parameters().allSatisfy { $0.toFloats().allSatisfy(\.isFinite) },
            "the NaN step never updated the model")
    }

    /// With `emaDecay`, the model ends with e_T, e_t = d·e_(t−1) + (1 − d)·w_t from the initial weights (the
    /// weights after every step taken from the step callback), and validation sees the average.
    func testTheMovingAverageOfTheWeightsIsWhatEvaluationSees() throws {
        var options = Trainer.Options()
        options.epochs = 3
        options.batchSize = 32
        options.emaDecay = 0.9
        let train = try blobs(200, seed: 1)
        let validation = try blobs(100, seed: 2)
        let (trainer, model) = try makeTrainer(options)
        var average = model.parameters().map { $0.toDoubles() }
        trainer.onStepEnd = { _ in
            for (index, parameter) in model.parameters().enumerated() {
                average[index] = zip(average[index], parameter.toDoubles()).map { 0.9 * $0 + 0.1 * $1 }
            }
        }
        var validationAccuracy: [Double] = []
        trainer.log = { record in
            if let value = record["val_accuracy"]?.numberValue { validationAccuracy.append(value) }
        }
        // Without validation the model ends with the last average.
        _ = try trainer.fit(train: train, validation: nil)
        for (parameter, expected) in zip(model.parameters(), average) {
            for (a, b) in zip(parameter.toDoubles(), expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        }
        // With validation, each epoch's record is the accuracy of the averaged weights.
        options.restoreBest = false
        let (second, secondModel) = try makeTrainer(options)
        var averages: [[Double]] = secondModel.parameters().map { $0.toDoubles() }
        var epochAccuracy: [Double] = []
        var epochLoss: [Double] = []
        second.onStepEnd = { _ in
            for (index, parameter) in secondModel.parameters().enumerated() {
                averages[index] = zip(averages[index], parameter.toDoubles()).map { 0.9 * $0 + 0.1 * $1 }
            }
        }
        second.onEpochEnd = { _ in
            let training = secondModel.parameters().map { $0.copy() }
            for (parameter, values) in zip(secondModel.parameters(), averages) {
                try parameter.assign(try Tensor(shape: parameter.shape, values: values, dtype: parameter.dtype))
            }
            let logits = try noGrad { try secondModel(try XCTUnwrap(validation.tensor("features"))) }
            let predicted = try logits.argmax(axis: 1).toIntegers()
            let labels = try XCTUnwrap(validation.tensor("labels")).toIntegers()
            epochAccuracy.append(Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count))
            epochLoss.append(try Losses.crossEntropy(logits, try XCTUnwrap(validation.tensor("labels"))).item())
            for (parameter, saved) in zip(secondModel.parameters(), training) { try parameter.assign(saved) }
            return false
        }
        var validationLoss: [Double] = []
        second.log = { record in
            if let value = record["val_accuracy"]?.numberValue { validationAccuracy.append(value) }
            if let value = record["val_loss"]?.numberValue { validationLoss.append(value) }
        }
        _ = try second.fit(train: train, validation: validation)
        XCTAssertEqual(validationAccuracy.count, 3)
        for (logged, expected) in zip(validationAccuracy, epochAccuracy) {
            XCTAssertEqual(logged, expected, accuracy: 1e-12)
        }
        // The loss is continuous: it tells the average from the training weights even where accuracy cannot.
        XCTAssertEqual(validationLoss.count, 3)
        for (logged, expected) in zip(validationLoss, epochLoss) { XCTAssertEqual(logged, expected, accuracy: 1e-5) }
        options.emaDecay = 1
        XCTAssertThrowsError(try makeTrainer(options))
    }

    func testResumingFromAnEpochCheckpointMatchesAnUninterruptedRun() throws {
        for decay in [nil, 0.95] { try checkResume(emaDecay: decay) }
        // A method's state (group DRO's weights, logged every epoch) comes back from the checkpoint too.
        try checkResume(emaDecay: nil, method: { GroupDRO(stepSize: 0.5) })
        // Augmentations draw from the run's generator, whose state the checkpoint restores.
        try checkResume(emaDecay: nil, augmentations: [Jitter()])
    }

    /// Adds uniform noise in [-0.1, 0.1) to every input, drawn from the generator, and records each call's shape.
    final class Jitter: Augmentation {
        var shapes: [[Int]] = []
        func augment(_ inputs: Tensor, generator: RandomGenerator) throws -> Tensor {
            shapes.append(inputs.shape)
            let noise = (0..<inputs.count).map { _ in 0.2 * generator.nextUniform() - 0.1 }
            return try inputs + (try Tensor(shape: inputs.shape, values: noise, dtype: inputs.dtype))
        }
    }

    func testAugmentationsTransformEveryTrainingBatchAndNothingElse() throws {
        var options = Trainer.Options()
        options.epochs = 2
        options.batchSize = 32
        options.evaluationBatchSize = 50
        let jitter = Jitter()
        options.augmentations = [("features", [jitter, jitter])]
        let (trainer, _) = try makeTrainer(options)
        _ = try trainer.fit(
            train: try blobs(100, seed: 1), validation: try blobs(100, seed: 2), test: try blobs(100, seed: 3))
        // 100 samples in batches of 32, 32, 32, 4 each epoch, each batch through both augmentations in order.
        let batches = [32, 32, 32, 4].flatMap { [[$0, 2], [$0, 2]] }
        XCTAssertEqual(jitter.shapes, batches + batches)
        // They change the training: the same seed without them ends with other weights.
        let (plain, plainModel) = try makeTrainer(
            {
                var plain = options
                plain.augmentations = []
                return plain
            }())
        _ = try plain.fit(train: try blobs(100, seed: 1), validation: nil)
        let (augmented, augmentedModel) = try makeTrainer(options)
        _ = try augmented.fit(train: try blobs(100, seed: 1), validation: nil)
        XCTAssertNotEqual(
            plainModel.parameters().flatMap { $0.toFloats() }, augmentedModel.parameters().flatMap { $0.toFloats() })
        // Without the tensor to transform, training stops with a message.
        options.augmentations = [("missing", [jitter])]
        let (missing, _) = try makeTrainer(options)
        XCTAssertThrowsError(try missing.fit(train: try blobs(100, seed: 1), validation: nil)) {
            XCTAssertTrue(
                "\($0)".contains("augment needs 'missing', which the training data lacks; it has features, labels"),
                "\($0)")
        }
    }

    func testAMethodNeedingAFieldTheDataLacksStopsBeforeItSeesTheData() throws {
        var options = Trainer.Options()
        options.epochs = 1
        let (trainer, _) = try makeTrainer(options, method: GroupDRO())
        XCTAssertThrowsError(try trainer.fit(train: try blobs(40, seed: 1), validation: nil)) {
            XCTAssertTrue("\($0)".contains("method method needs 'groups', which the training data lacks"), "\($0)")
        }
    }

    func checkResume(
        emaDecay: Double?, method: (() -> TrainingMethod)? = nil, augmentations: [Augmentation] = []
    ) throws {
        var options = Trainer.Options()
        options.epochs = 5
        options.batchSize = 32
        options.emaDecay = emaDecay
        options.augmentations = augmentations.isEmpty ? [] : [("features", augmentations)]
        options.earlyStopping = try EarlyStopping(metric: "val_accuracy", patience: 10, mode: .maximize)
        func grouped(_ data: TensorDataset) throws -> TensorDataset {
            guard method != nil else { return data }
            let groups = try Tensor(shape: [data.count], integers: (0..<data.count).map { ($0 * 7) % 3 })
            return TensorDataset(name: data.name, tensors: data.tensors + [("groups", groups)])
        }
        let train = try grouped(try blobs(300, seed: 1))
        let validation = try grouped(try blobs(100, seed: 2))
        let test = try grouped(try blobs(200, seed: 3))

        options.checkpointDirectory = try folder("straight")
        let (straight, straightModel) = try makeTrainer(options, method: method?())
        var straightRecords: [String] = []
        straight.log = { straightRecords.append(ConfigValue.table($0.filter { !$0.key.contains("seconds") }).json) }
        let expected = try straight.fit(train: train, validation: validation, test: test)

        // Interrupted: an epoch callback stops after epoch 3 (the checkpoint is written, as after a kill
        // during epoch 4); then a fresh process-like set-up resumes.
        options.checkpointDirectory = try folder("resumed")
        let (first, _) = try makeTrainer(options, method: method?())
        first.onEpochEnd = { record in record["epoch"]?.numberValue == 3 }
        _ = try first.fit(train: train, validation: validation, test: nil)
        // Rewrite the checkpoint's stop flag, as if the process had died instead of stopping.
        let path = "\(options.checkpointDirectory!)/train-last.safetensors"
        let contents = try Safetensors.read(path)
        var metadata = contents.metadata
        metadata["stopped_early"] = "false"
        try Safetensors.write(contents.tensors, to: path, metadata: metadata)

        options.resume = true
        let (second, resumedModel) = try makeTrainer(options, method: method?())
        RandomGenerator.shared.reseed(12345)  // whatever the recipe did before, the checkpoint's generator state wins
        var resumedRecords: [String] = []
        second.log = { resumedRecords.append(ConfigValue.table($0.filter { !$0.key.contains("seconds") }).json) }
        let result = try second.fit(train: train, validation: validation, test: test)
        func strip(_ lines: [String]) -> [String] {
            lines.map {
                $0.replacingOccurrences(
                    of: #""samples_per_second": [0-9.e+]+, "#, with: "", options: .regularExpression)
            }
        }
        XCTAssertEqual(strip(resumedRecords), strip(straightRecords))
        if method != nil { XCTAssert(straightRecords.last { $0.contains("train_group_weight_5") } != nil) }
        XCTAssertEqual(result.test, expected.test)
        XCTAssertEqual(result.bestEpoch, expected.bestEpoch)
        XCTAssertEqual(
            resumedModel.parameters().flatMap { $0.toFloats() }, straightModel.parameters().flatMap { $0.toFloats() })
    }

    func testRejectsBadSettingsAndData() throws {
        var options = Trainer.Options()
        options.epochs = 0
        XCTAssertThrowsError(try makeTrainer(options))
        options.epochs = 1
        options.clipGradientNorm = -1
        XCTAssertThrowsError(try makeTrainer(options))
        options.clipGradientNorm = nil
        options.earlyStopping = try EarlyStopping(metric: "val_f1", patience: 1, mode: .maximize)
        let (trainer, _) = try makeTrainer(options)
        XCTAssertThrowsError(try trainer.fit(train: try blobs(40, seed: 1), validation: nil)) { error in
            XCTAssert("\(error)".contains("needs validation data"), "\(error)")
        }
        XCTAssertThrowsError(try trainer.fit(train: try blobs(40, seed: 1), validation: try blobs(40, seed: 2))) {
            error in
            XCTAssert("\(error)".contains("early stopping watches 'val_f1'"), "\(error)")
        }
        let unlabeled = TensorDataset(name: "x", tensors: [("features", try Tensor.zeros([4, 2]))])
        XCTAssertThrowsError(try trainer.fit(train: unlabeled, validation: nil)) { error in
            XCTAssert("\(error)".contains("no 'labels' tensor"), "\(error)")
        }
        XCTAssertThrowsError(try EarlyStopping(metric: "val_loss", patience: 0, mode: .minimize))
        XCTAssertEqual(EarlyStopping.defaultMode(for: "val_loss"), .minimize)
        XCTAssertEqual(EarlyStopping.defaultMode(for: "val_f1"), .maximize)
    }
}
