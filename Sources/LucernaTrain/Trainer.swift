import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN

/// Supervised training with the paper's protocol: shuffled mini-batches, a loss plus weighted
/// regularizer terms (each logged), optional gradient clipping, a learning-rate schedule per epoch or
/// per step, validation metrics every epoch, early stopping with restore of the best epoch, an atomic
/// checkpoint every epoch (model, optimizer, schedule, random generator, history) from which an
/// interrupted run resumes to the same result, and a final test evaluation. With `emaDecay`, an exponential
/// moving average of the weights (and floating-point buffers) follows every step, e ← d·e + (1 − d)·w from the
/// initial weights, and is what validation, best-epoch selection, checkpoints of the best epoch and the test see;
/// the model ends with the average (of the best epoch).
///
/// Reference: the training loop of PyTorch Lightning (`Trainer.fit`, `EarlyStopping`, `ModelCheckpoint`); the
/// weight average of `torch.optim.swa_utils.AveragedModel` with `get_ema_multi_avg_fn` and `use_buffers=True`
/// (Polyak & Juditsky 1992; used for robust training by Gowal et al. 2020).
public final class Trainer {
    /// Settings of one `fit`.
    public struct Options {
        public var name = "train"
        public var epochs = 10
        public var batchSize = 64
        public var evaluationBatchSize = 1000
        public var dropLast = false
        /// Rescale gradients to this global L2 norm (`clip_grad_norm_`).
        public var clipGradientNorm: Double?
        /// Clamp every gradient element to ±value (`clip_grad_value_`).
        public var clipGradientValue: Double?
        public var earlyStopping: EarlyStopping?
        /// Load the best validation epoch's weights at the end (when validation data is given).
        public var restoreBest = true
        public var targetKey = "labels"
        /// The protected attribute passed to metrics and regularizers, when the data set has it.
        public var groupKey = "groups"
        /// The tensor regularizers see as `inputs`.
        public var inputKey: String?
        /// Random transformations of the training batches' tensors: each entry's augmentations applied in order to the
        /// batch tensor named `key` (the inputs, or each modality of a multimodal batch), the entries in order, all
        /// drawn from the shared generator (so a resumed run draws the same); validation and test data are never
        /// augmented.
        public var augmentations: [(key: String, augmentations: [Augmentation])] = []
        /// Train on adversarial examples (PGD/fast adversarial training or TRADES).
        public var adversarial: AdversarialTraining?
        /// Robust accuracy under an attack on (evenly spaced samples of) the validation data every epoch,
        /// recorded as `val_robust_accuracy`, so early stopping can select on robustness.
        public var robustValidation: RobustValidation?
        /// Decay of an exponential moving average of the weights that evaluation uses (nil: none).
        public var emaDecay: Double?
        /// Step the schedule after every batch instead of every epoch.
        public var scheduleEveryStep = false
        /// Folder for `<name>-last.safetensors` and `<name>-best.safetensors`; nil writes no checkpoints.
        public var checkpointDirectory: String?
        /// Continue from `<name>-last.safetensors` when it exists (or, when that one is corrupt, from the
        /// checkpoint before it, `<name>-previous.safetensors`).
        public var resume = false
        /// Epochs the interrupted run had finished, by its records: resuming without a checkpoint that
        /// verifies is then an error rather than a silent restart from scratch.
        public var epochsBeforeResume = 0
        /// Print one line per epoch.
        public var verbose = true

        public init() {}
    }

    /// A finished step, passed to ``onStepEnd``.
    public struct StepInfo {
        public let epoch: Int, step: Int, globalStep: Int, batchSize: Int
        public let loss: Double
        public let terms: [String: Double]
        public let learningRate: Double
    }

    /// What `fit` returns.
    public struct Result {
        public var epochsRun = 0
        public var bestEpoch: Int?
        public var bestValue: Double?
        public var stoppedEarly = false
        public var history: [[String: ConfigValue]] = []
        /// `test_<metric>` values (and `test_loss`) of the restored model.
        public var test: [String: Double] = [:]
        /// Each test metric's `report()` (per class, per group, intervals).
        public var testReports: [String: [String: ConfigValue]] = [:]
    }

    public let model: TrainableModel
    public let optimizer: Optimizer
    public let schedule: LearningRateSchedule?
    public let loss: (Tensor, Batch) throws -> Tensor
    public let regularizers: [(name: String, weight: Double, regularizer: Regularizer)]
    public let metrics: [(name: String, metric: Metric)]
    public let options: Options
    /// A bias-aware training method (group DRO, reweighing, adversarial debiasing): it makes the data loss
    /// from ``perSampleLoss`` and may fill the gradients itself.
    public var method: (name: String, method: TrainingMethod)?
    /// The loss of each sample (`[N]`), which a ``method`` needs; evaluation keeps using ``loss``.
    public var perSampleLoss: ((Tensor, Batch) throws -> Tensor)?
    /// Extra loss terms computed from the batch and logits (explanation penalties); each is logged.
    public var extraTerms: ((Batch, Tensor) throws -> [(name: String, value: Tensor)])?
    public var onStepEnd: ((StepInfo) throws -> Void)?
    /// Called with each epoch's record; returning true stops training after this epoch.
    public var onEpochEnd: (([String: ConfigValue]) throws -> Bool)?
    /// Receives every record (epoch and test) for `metrics.jsonl`.
    public var log: (([String: ConfigValue]) throws -> Void)?
    /// Receives the human-readable epoch lines.
    public var print: (String) -> Void = { Swift.print($0) }

    public init(
        model: TrainableModel, optimizer: Optimizer, schedule: LearningRateSchedule?,
        loss: @escaping (Tensor, Batch) throws -> Tensor,
        regularizers: [(name: String, weight: Double, regularizer: Regularizer)] = [],
        metrics: [(name: String, metric: Metric)], options: Options
    ) throws {
        guard options.epochs >= 1 else {
            throw TensorError("train", "epochs must be at least 1, got \(options.epochs)")
        }
        guard options.batchSize >= 1, options.evaluationBatchSize >= 1 else {
            throw TensorError(
                "train", "batch sizes must be positive, got \(options.batchSize) and \(options.evaluationBatchSize)")
        }
        if let norm = options.clipGradientNorm, !(norm > 0 && norm.isFinite) {
            throw TensorError("train", "clip_grad_norm must be a positive number, got \(norm)")
        }
        if let value = options.clipGradientValue, !(value > 0 && value.isFinite) {
            throw TensorError("train", "clip_grad_value must be a positive number, got \(value)")
        }
        if let decay = options.emaDecay, !(decay > 0 && decay < 1) {
            throw TensorError("train", "ema must be a decay in (0, 1) such as 0.999, got \(decay)")
        }
        for (name, weight, _) in regularizers where !weight.isFinite {
            throw TensorError("train", "regularizer \(name) has weight \(weight)")
        }
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.loss = loss
        self.regularizers = regularizers
        self.metrics = metrics
        self.options = options
    }

    // MARK: - Fit

    private var bestState: [Tensor]?
    /// The moving average of ``TrainableModel/state`` when `emaDecay` is set.
    private var averageState: [Tensor]?

    /// Puts `values` into the model's state tensors, in order (a restored best epoch, the average).
    private func assignState(_ values: [Tensor]) throws {
        for ((_, tensor), value) in zip(model.state, values) { try tensor.assign(value) }
    }

    /// Runs `body` with the moving average in the model's tensors (the training weights put back after).
    private func withAverage<R>(_ body: () throws -> R) throws -> R {
        guard let averageState else { return try body() }
        let training = model.state.map { $0.tensor.copy() }
        try assignState(averageState)
        defer { try? assignState(training) }
        return try body()
    }

    /// e ← d·e + (1 − d)·w for floating-point tensors; integer buffers (counters) are copied.
    private func updateAverage(decay: Double) throws {
        guard let averageState else { return }
        try noGrad {
            for ((_, tensor), average) in zip(model.state, averageState) {
                try average.assign(
                    tensor.dtype.isFloatingPoint ? try average * decay + tensor.detach() * (1 - decay) : tensor.detach()
                )
            }
        }
    }

    /// Trains on `train`, validating on `validation` every epoch, then evaluates `test` with the restored
    /// model.
    public func fit(train: TensorDataset, validation: TensorDataset?, test: TensorDataset? = nil) throws -> Result {
        try check(train, "training")
        if let validation { try check(validation, "validation") }
        if let test { try check(test, "test") }
        if let stopping = options.earlyStopping, validation == nil {
            throw TensorError(
                "train",
                "early_stopping on \(stopping.metric) needs validation data (validation = a data set or a fraction)")
        }
        if options.robustValidation != nil, validation == nil {
            throw TensorError(
                "train", "robust_validation needs validation data (validation = a data set or a fraction)")
        }
        // What the regularizers and the method need is checked before the method sees the data.
        let needs = try requirements(of: train)
        if let (name, method) = method {
            guard options.adversarial == nil else {
                throw TensorError("train", "method \(name) cannot be combined with adversarial training")
            }
            guard perSampleLoss != nil else { throw TensorError("train", "method \(name) needs a loss per sample") }
            try method.prepare(train, keys: TrainingKeys(target: options.targetKey, groups: options.groupKey))
        }
        var result = Result()
        var badEpochs = 0
        if options.emaDecay != nil { averageState = model.state.map { $0.tensor.detach().copy() } }
        if options.resume, let restored = try restoreCheckpoint() {
            result = restored.result
            badEpochs = restored.badEpochs
            for record in result.history { try log?(record) }
            if result.epochsRun > 0 {
                self.print("\(options.name): resumed after epoch \(result.epochsRun) of \(options.epochs)")
            }
        }
        let finished = result.stoppedEarly || result.epochsRun >= options.epochs
        var globalStep = result.epochsRun * stepsPerEpoch(train.count)
        var epoch = result.epochsRun
        let watched = try watchedMetric(hasValidation: validation != nil)
        let robustSubset = try validation.flatMap { data in try options.robustValidation.map { try $0.subset(of: data) }
        }
        while !finished && epoch < options.epochs {
            epoch += 1
            let started = Date()
            let (trainLoss, terms) = try trainEpoch(epoch: epoch, data: train, needs: needs, globalStep: &globalStep)
            if let schedule, !options.scheduleEveryStep { try schedule.step() }
            var record: [String: ConfigValue] = [
                "trainer": .string(options.name), "epoch": .number(Double(epoch)),
                "lr": .number(optimizer.groups.first?.learningRate ?? 0),
                "train_loss": .number(trainLoss),
            ]
            for (name, value) in terms { record["train_\(name)"] = .number(value) }
            for (name, value) in try method?.method.epochValues() ?? [] { record["train_\(name)"] = .number(value) }
            let trainSeconds = Date().timeIntervalSince(started)
            record["samples_per_second"] = .number((Double(train.count) / max(trainSeconds, 1e-9)).rounded())
            if let validation {
                try withAverage {
                    for (name, value) in try evaluate(validation, label: "epoch \(epoch)/\(options.epochs) val").values
                    {
                        record["val_\(name)"] = .number(value)
                    }
                    if let robust = options.robustValidation, let robustSubset {
                        record["val_robust_accuracy"] = .number(
                            try robust.accuracy(
                                model: model, data: robustSubset, targetKey: options.targetKey,
                                batchSize: options.evaluationBatchSize, label: "epoch \(epoch)/\(options.epochs) val"))
                    }
                }
            }
            record["epoch_seconds"] = .number((Date().timeIntervalSince(started) * 1000).rounded() / 1000)
            var improved = false
            if let watched {
                guard let value = record[watched.name]?.numberValue else {
                    let available = record.keys.filter { $0.hasPrefix("val_") }.sorted()
                    throw TensorError(
                        "train",
                        "early stopping watches '\(watched.name)', which the epoch record lacks\(suggestion(for: watched.name, in: available)); it has \(available.joined(separator: ", "))"
                    )
                }
                if watched.rule.improves(value, on: result.bestValue) {
                    result.bestValue = value
                    result.bestEpoch = epoch
                    badEpochs = 0
                    improved = true
                    // The weights evaluation saw: the average when there is one.
                    let selected = averageState ?? model.state.map(\.tensor)
                    bestState = selected.map { $0.copy() }
                    try writeBest(selected, epoch: epoch, value: value)
                } else {
                    badEpochs += 1
                }
            }
            result.epochsRun = epoch
            result.history.append(record)
            try log?(record)
            self.print(line(for: record, improved: improved))
            var stop = false
            if let stopping = options.earlyStopping, badEpochs >= stopping.patience {
                self.print(
                    "\(options.name): early stop after epoch \(epoch): \(stopping.metric) has not improved for \(stopping.patience) epochs (best \(format(result.bestValue)) at epoch \(result.bestEpoch ?? 0))"
                )
                stop = true
            }
            if let onEpochEnd, try onEpochEnd(record) {
                self.print("\(options.name): stopped by the epoch callback after epoch \(epoch)")
                stop = true
            }
            result.stoppedEarly = stop
            try writeLast(result: result, badEpochs: badEpochs)
            if stop { break }
        }
        if options.restoreBest, let bestState {
            try assignState(bestState)
        } else if let averageState {
            try assignState(averageState)
        }
        if let test {
            let outcome = try evaluate(test, label: "test", reports: true)
            result.test = outcome.values
            result.testReports = outcome.reports
            var record: [String: ConfigValue] = [
                "trainer": .string(options.name), "phase": .string("test"),
                "epochs_run": .number(Double(result.epochsRun)),
            ]
            if let bestEpoch = result.bestEpoch { record["best_epoch"] = .number(Double(bestEpoch)) }
            for (name, value) in outcome.values { record["test_\(name)"] = .number(value) }
            try log?(record)
            self.print(
                "\(options.name): test "
                    + outcome.values.keys.sorted().map { "\($0) \(format(outcome.values[$0]))" }.joined(separator: "  ")
                    + (result.bestEpoch.map { " (best epoch \($0))" } ?? ""))
        }
        return result
    }

    /// The rule that picks the best epoch: early stopping's metric, else the lowest validation loss.
    private func watchedMetric(hasValidation: Bool) throws -> (name: String, rule: EarlyStopping)? {
        if let stopping = options.earlyStopping { return (stopping.metric, stopping) }
        guard hasValidation else { return nil }
        return ("val_loss", try EarlyStopping(metric: "val_loss", patience: Int.max, mode: .minimize))
    }

    private func stepsPerEpoch(_ count: Int) -> Int {
        options.dropLast ? count / options.batchSize : (count + options.batchSize - 1) / options.batchSize
    }

    private func check(_ data: TensorDataset, _ role: String) throws {
        guard data.count > 0 else { throw TensorError("train", "the \(role) data is empty") }
        guard data.tensor(options.targetKey) != nil else {
            throw TensorError(
                "train",
                "the \(role) data has no '\(options.targetKey)' tensor (target = ...); it has \(data.tensors.map(\.name).joined(separator: ", "))"
            )
        }
        for (name, tensor) in data.tensors where tensor.shape.first != data.count {
            throw TensorError(
                "train",
                "the \(role) data's tensors must share their first axis: \(name) is \(describe(shape: tensor.shape)), expected \(data.count) rows"
            )
        }
    }

    // MARK: - One epoch

    private func trainEpoch(
        epoch: Int, data: TensorDataset, needs: RegularizerRequirements, globalStep: inout Int
    ) throws -> (
        Double, [(String, Double)]
    ) {
        model.setTraining(true)
        let batches = DataSplits.batches(
            Array(0..<data.count), size: options.batchSize, shuffle: true,
            dropLast: options.dropLast, generator: RandomGenerator.shared)
        guard !batches.isEmpty else {
            throw TensorError(
                "train", "no full batch of \(options.batchSize) in \(data.count) training samples (drop_last)")
        }
        let progress = Progress("epoch \(epoch)/\(options.epochs) train", total: batches.reduce(0) { $0 + $1.count })
        defer { progress.finish() }
        var totalLoss = 0.0
        var seen = 0
        var termTotals: [(String, Double)] = []
        let parameters = optimizer.allParameters
        let regularizedModel = self.regularizedModel
        method?.method.beginEpoch()
        for (position, indices) in batches.enumerated() {
            try Interruption.check("train")
            var batch = try select(indices, from: data)
            for (key, augmentations) in options.augmentations {
                guard var inputs = batch[key] else {  // checked with the other requirements before the first epoch
                    throw TensorError("train", "augment needs '\(key)', which the training data lacks")
                }
                for augmentation in augmentations {
                    inputs = try augmentation.augment(inputs, generator: RandomGenerator.shared)
                }
                batch[key] = inputs
            }
            optimizer.zeroGrad()
            let logits: Tensor
            var terms: [(String, Tensor)] = []
            var activations: [String: Tensor] = [:]
            var weightPerturbation: AppliedWeightPerturbation?
            // Undoes an adversarial weight perturbation if the step fails; after a step it is already undone.
            defer { try? weightPerturbation?.restore() }
            if let adversarial = options.adversarial {
                (terms, logits, weightPerturbation) = try adversarial.terms(
                    model: model, batch: batch, epoch: epoch, loss: loss)
            } else {
                // Input-gradient penalties differentiate the logits of this forward pass by its inputs.
                if needs.inputGradients, let key = options.inputKey, let inputs = batch[key] {
                    batch[key] = try inputs.detach().requiringGrad()
                }
                if needs.layers.isEmpty {
                    logits = try model.forward(batch)
                } else {
                    (logits, activations) = try regularizedModel.forward(batch, capturing: needs.layers, owner: "train")
                }
            }
            var context: RegularizerContext?
            if !regularizers.isEmpty || method != nil {
                context = RegularizerContext(
                    parameters: model.namedParameters, inputs: options.inputKey.flatMap { batch[$0] },
                    logits: logits, targets: batch[options.targetKey], groups: batch[options.groupKey],
                    model: regularizedModel, batch: batch, environments: batch[Trainer.environmentKey],
                    modalities: batch.filter {
                        RegularizerContext.isInput($0.key, targetKey: options.targetKey, groupKey: options.groupKey)
                    }, activations: activations, inputKey: options.inputKey, step: globalStep)
            }
            if options.adversarial == nil {
                if let (name, method) = method, let perSampleLoss, let context {
                    let losses = try perSampleLoss(logits, batch)
                    guard losses.rank == 1, losses.shape[0] == indices.count else {
                        throw TensorError(
                            "train",
                            "method \(name) needs the loss of each sample, [\(indices.count)]; the loss gave \(describe(shape: losses.shape))"
                        )
                    }
                    terms = [("data_loss", try method.loss(losses, context))]
                } else {
                    terms = [("data_loss", try loss(logits, batch))]
                }
            }
            if let context {
                for (name, weight, regularizer) in regularizers {
                    terms.append((name, try regularizer.penalty(context) * weight))
                }
            }
            if let extraTerms { terms += try extraTerms(batch, logits).map { ($0.name, $0.value) } }
            var total = terms[0].1
            for (name, term) in terms.dropFirst() {
                guard term.count == 1 else {
                    throw TensorError("train", "loss term \(name) must be a scalar, got \(describe(shape: term.shape))")
                }
                total = try total + term.sum()
            }
            guard total.count == 1 else {
                throw TensorError(
                    "train", "the loss must be a scalar, got \(describe(shape: total.shape)) (use a mean reduction)")
            }
            let scale = regularizers.reduce(1.0) { $0 * $1.regularizer.lossScale(step: globalStep) }
            if scale != 1 { total = try total * scale }
            let value = try total.item()
            let values = try terms.map { ($0.0, try $0.1.sum().item()) }
            guard value.isFinite else {
                func show(_ number: Double) -> String { number.isNaN ? "nan" : "\(number)" }  // not "-nan"
                let parts = values.map { "\($0.0) \(show($0.1))" }.joined(separator: ", ")
                var checkpoint = ""
                if options.checkpointDirectory != nil {
                    if let (path, contents) = verifiedCheckpoint().checkpoint {
                        checkpoint =
                            "; the last good checkpoint is \(path) (epoch \(contents.metadata["epoch"] ?? "?"), verified)"
                    } else {
                        checkpoint = "; no verified checkpoint exists yet"
                    }
                }
                throw TensorError(
                    "train",
                    "the loss became \(show(value)) at epoch \(epoch), step \(position + 1) (global step \(globalStep + 1)): \(parts)\(checkpoint)"
                )
            }
            if let method = method?.method, let context {
                try method.backward(total, context: context, parameters: parameters)
            } else {
                try total.backward()
            }
            if let limit = options.clipGradientValue { try clipValues(parameters, limit) }
            if let norm = options.clipGradientNorm { try Optimizer.clipGradientNorm(parameters, maxNorm: norm) }
            try optimizer.step()
            try weightPerturbation?.restore()
            if let decay = options.emaDecay { try updateAverage(decay: decay) }
            globalStep += 1
            if let schedule, options.scheduleEveryStep { try schedule.step() }
            let weight = Double(indices.count)
            totalLoss += value * weight
            seen += indices.count
            if termTotals.isEmpty { termTotals = values.map { ($0.0, 0) } }
            for index in termTotals.indices where index < values.count {
                termTotals[index].1 += values[index].1 * weight
            }
            try onStepEnd?(
                StepInfo(
                    epoch: epoch, step: position + 1, globalStep: globalStep, batchSize: indices.count,
                    loss: value, terms: Dictionary(values, uniquingKeysWith: { a, _ in a }),
                    learningRate: optimizer.groups.first?.learningRate ?? 0))
            progress.update(seen, note: String(format: "loss %.4f", totalLoss / Double(seen)))
        }
        let terms =
            termTotals.count > 1 || termTotals.first?.0 != "data_loss"
            ? termTotals.map { ($0.0, $0.1 / Double(seen)) } : []
        return (totalLoss / Double(max(seen, 1)), terms)
    }

    /// The batch key of the environment label (IRM, per-environment metrics).
    public static let environmentKey = "environments"

    /// The model as regularizers see it.
    private var regularizedModel: RegularizedModel {
        RegularizedModel(modules: model.modules, forward: model.forward)
    }

    /// What the regularizers need, checked against the training data with the tensors the method and the
    /// augmentations need: a missing field is an error naming it and what needs it.
    private func requirements(of data: TensorDataset) throws -> RegularizerRequirements {
        var union = RegularizerRequirements()
        var model = regularizedModel
        if !regularizers.isEmpty { model.sample = try Evaluation.select([0], from: data) }
        var declared: [(name: String, needs: RegularizerRequirements)] = []
        for (name, _, regularizer) in regularizers {
            declared.append(("regularizer \(name)", try regularizer.requirements(model: model)))
        }
        if let (name, method) = method {
            declared.append(("method \(name)", RegularizerRequirements(fields: method.fields)))
        }
        // Augmentations need the tensors they transform.
        declared += options.augmentations.map { ("augment", RegularizerRequirements(fields: [$0.key])) }
        for (name, needs) in declared {
            try Trainer.check(fields: needs.fields, of: name, in: data, options: options)
            union.inputGradients = union.inputGradients || needs.inputGradients
            union.layers += needs.layers.filter { !union.layers.contains($0) }
        }
        return union
    }

    /// Checks that `data` has the tensors behind context `fields` (`groups` is the group key's tensor,
    /// `targets` the target's, a mask its own name); the error names the field, `owner` (`regularizer <name>`,
    /// `method <name>`, `augment`) and the tensors the data has.
    public static func check(fields: [String], of owner: String, in data: TensorDataset, options: Options) throws {
        let available = Set(data.tensors.map(\.name))
        for field in fields {
            let key: String? =
                switch field {
                case "inputs": options.inputKey
                case "targets": options.targetKey
                case "groups": options.groupKey
                case "environments": Trainer.environmentKey
                case "logits", "model", "parameters": nil
                case "modalities":
                    available.contains {
                        RegularizerContext.isInput($0, targetKey: options.targetKey, groupKey: options.groupKey)
                    } ? nil : "modalities"
                default: field
                }
            if let key, !available.contains(key) {
                throw TensorError(
                    "train",
                    "\(owner) needs \(field == key ? "'\(key)'" : "\(field) (the '\(key)' tensor)"), which the training data lacks; it has \(available.sorted().joined(separator: ", "))"
                )
            }
        }
    }

    private func select(_ indices: [Int], from data: TensorDataset) throws -> Batch {
        try Evaluation.select(indices, from: data)
    }

    private func clipValues(_ parameters: [Tensor], _ limit: Double) throws {
        try noGrad {
            for parameter in parameters {
                if let gradient = parameter.grad { parameter.grad = try gradient.clamp(min: -limit, max: limit) }
            }
        }
    }

    // MARK: - Evaluation

    /// Loss and metric values of the model (in evaluation mode, without recording) on `data`.
    public func evaluate(_ data: TensorDataset, label: String = "eval", reports: Bool = false) throws
        -> (values: [String: Double], reports: [String: [String: ConfigValue]])
    {
        try Evaluation.run(
            model: model, data: data, metrics: metrics, loss: loss, targetKey: options.targetKey,
            groupKey: options.groupKey, batchSize: options.evaluationBatchSize, label: label, reports: reports)
    }

    /// Whether the model (in evaluation mode) gets each sample of `data` wrong: the arg-max class, or a
    /// positive logit for a single-logit model, against the target.
    public func misclassified(_ data: TensorDataset) throws -> [Bool] {
        guard let targetTensor = data.tensor(options.targetKey) else {
            throw TensorError("train", "\(data.name) has no '\(options.targetKey)' tensor")
        }
        let targets = targetTensor.toIntegers()
        var result: [Bool] = []
        try model.evaluating {
            try noGrad {
                for start in stride(from: 0, to: data.count, by: options.evaluationBatchSize) {
                    let indices = Array(start..<min(start + options.evaluationBatchSize, data.count))
                    let logits = try model.forward(try select(indices, from: data))
                    let predicted =
                        logits.rank == 1 || (logits.rank == 2 && logits.shape[1] == 1)
                        ? logits.toDoubles().map { $0 > 0 ? 1 : 0 } : try logits.argmax(axis: 1).toIntegers()
                    guard predicted.count == indices.count else {
                        throw TensorError(
                            "train",
                            "the model gave \(describe(shape: logits.shape)) logits for \(indices.count) samples")
                    }
                    result += zip(indices, predicted).map { targets[$0] != $1 }
                }
            }
        }
        return result
    }

    // MARK: - Checkpoints

    private var lastPath: String? { options.checkpointDirectory.map { "\($0)/\(options.name)-last.safetensors" } }
    /// The checkpoint before the last one, kept until a new last one has been written and verified.
    private var previousPath: String? {
        options.checkpointDirectory.map { "\($0)/\(options.name)-previous.safetensors" }
    }
    private var bestPath: String? { options.checkpointDirectory.map { "\($0)/\(options.name)-best.safetensors" } }
    /// The `format` metadata of its checkpoints (tensors `model.*` and `optimizer.*`).
    public static let format = "lucerna-trainer-1"

    /// Writes `tensors` (the model's state or its average, in the order of ``TrainableModel/state``).
    private func writeBest(_ tensors: [Tensor], epoch: Int, value: Double) throws {
        guard let bestPath else { return }
        try Safetensors.write(
            zip(model.state, tensors).map { ("model.\($0.0.name)", $0.1) }, to: bestPath,
            metadata: [
                "format": Trainer.format, "trainer": options.name, "epoch": "\(epoch)",
                "metric": options.earlyStopping?.metric ?? "", "value": "\(value)",
            ], digest: true)
    }

    private func writeLast(result: Result, badEpochs: Int) throws {
        guard let lastPath else { return }
        var tensors = model.state.map { (name: "model.\($0.name)", tensor: $0.tensor) }
        tensors += try optimizer.stateTensors().map { (name: "optimizer.\($0.name)", tensor: $0.tensor) }
        tensors += (method?.method.state ?? []).map { (name: "method.\($0.name)", tensor: $0.tensor) }
        if let averageState {
            tensors += zip(model.state, averageState).map { (name: "average.\($0.0.name)", tensor: $0.1) }
        }
        var metadata = [
            "format": Trainer.format, "trainer": options.name, "epoch": "\(result.epochsRun)",
            "epochs": "\(options.epochs)", "schedule_step": "\(schedule?.stepCount ?? 0)",
            "random_state": RandomGenerator.shared.stateWords.map { String($0) }.joined(separator: ","),
            "bad_epochs": "\(badEpochs)", "stopped_early": "\(result.stoppedEarly)",
            "history": ConfigValue.list(result.history.map { .table($0) }).json,
        ]
        if let bestEpoch = result.bestEpoch, let bestValue = result.bestValue {
            metadata["best_epoch"] = "\(bestEpoch)"
            metadata["best_value"] = "\(bestValue)"
        }
        // The new checkpoint is written beside the last one and read back (its digest verified) before
        // the last one becomes the previous one and the new one takes its place: a crash or a bad write at
        // any moment leaves a checkpoint that verifies.
        guard let previousPath else { return }
        let nextPath = lastPath.replacingOccurrences(of: "-last.safetensors", with: "-next.safetensors")
        try Safetensors.write(tensors, to: nextPath, metadata: metadata, digest: true)
        _ = try Safetensors.read(nextPath)
        if FileManager.default.fileExists(atPath: lastPath) {
            guard rename(lastPath, previousPath) == 0 else {
                throw TensorError("checkpoint", "cannot move \(lastPath) to \(previousPath) (errno \(errno))")
            }
        }
        guard rename(nextPath, lastPath) == 0 else {
            throw TensorError("checkpoint", "cannot move \(nextPath) to \(lastPath) (errno \(errno))")
        }
    }

    /// The newest checkpoint that reads and verifies against its digest (the last one, else the previous
    /// one), and why each newer one was refused.
    private func verifiedCheckpoint() -> (
        checkpoint: (path: String, contents: (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]))?,
        problems: [String]
    ) {
        var problems: [String] = []
        for path in [lastPath, previousPath].compactMap({ $0 }) where FileManager.default.fileExists(atPath: path) {
            do {
                let contents = try Safetensors.read(path)
                guard contents.metadata[Safetensors.digestKey] != nil else {
                    throw TensorError("resume", "\(path) has no content digest to verify it by")
                }
                return ((path, contents), problems)
            } catch {
                problems.append("\(error)")
            }
        }
        return (nil, problems)
    }

    /// Loads `<name>-last.safetensors` (and the best weights) into the model, optimizer, schedule and
    /// random generator; nil when there is no checkpoint yet.
    private func restoreCheckpoint() throws -> (result: Result, badEpochs: Int)? {
        guard let newestPath = lastPath else { return nil }
        let (found, problems) = verifiedCheckpoint()
        guard let (chosen, (tensors, metadata)) = found else {
            if options.epochsBeforeResume > 0 || !problems.isEmpty {
                throw TensorError(
                    "resume",
                    "the run had finished \(options.epochsBeforeResume) epoch(s) of \(options.name), but no checkpoint of them verifies (\(problems.isEmpty ? "\(newestPath) is missing" : problems.joined(separator: "; "))); start its training over with `lucerna run --resume RUN_DIR --restart`"
                )
            }
            return nil
        }
        if chosen != newestPath {
            self.print(
                "\(options.name): \(problems.first ?? "\(newestPath) is missing"); resuming from the checkpoint before it, \(chosen)"
            )
        }
        let lastPath = chosen
        func fail(_ message: String) -> TensorError { TensorError("resume", "\(lastPath): \(message)") }
        guard metadata["format"] == Trainer.format else {
            throw fail("not a Lucerna training checkpoint (format \(metadata["format"] ?? "missing"))")
        }
        guard let epoch = metadata["epoch"].flatMap(Int.init), epoch >= 0, epoch <= options.epochs,
            let scheduleStep = metadata["schedule_step"].flatMap(Int.init),
            let badEpochs = metadata["bad_epochs"].flatMap(Int.init),
            let words = metadata["random_state"]?.split(separator: ",").compactMap({ UInt64($0) }), words.count == 4,
            case .list(let history)? = try metadata["history"].map(ConfigValue.init(parsingJSON:))
        else {
            throw fail(
                "incomplete metadata (epoch, schedule_step, bad_epochs, random_state, history), or epoch beyond the \(options.epochs) configured"
            )
        }
        var modelEntries: [String: Tensor] = [:]
        var optimizerEntries: [(name: String, tensor: Tensor)] = []
        var averageEntries: [String: Tensor] = [:]
        var methodEntries: [String: Tensor] = [:]
        for (name, tensor) in tensors {
            if name.hasPrefix("model.") {
                modelEntries[String(name.dropFirst(6))] = tensor
            } else if name.hasPrefix("optimizer.") {
                optimizerEntries.append((String(name.dropFirst(10)), tensor))
            } else if name.hasPrefix("average.") {
                averageEntries[String(name.dropFirst(8))] = tensor
            } else if name.hasPrefix("method.") {
                methodEntries[String(name.dropFirst(7))] = tensor
            }
        }
        if averageState != nil {
            // The average goes through the model's tensors (load checks names and shapes), then into place.
            guard !averageEntries.isEmpty else {
                throw fail("has no moving average of the weights (average.*), but train{} has ema set")
            }
            try load(averageEntries, from: lastPath)
            averageState = model.state.map { $0.tensor.copy() }
        }
        try load(modelEntries, from: lastPath)
        try optimizer.loadStateTensors(optimizerEntries)
        for (name, tensor) in method?.method.state ?? [] {
            guard let saved = methodEntries[name], saved.shape == tensor.shape else {
                throw fail(
                    "method \(method?.name ?? "") has state \(name) \(describe(shape: tensor.shape)), which the checkpoint \(methodEntries[name] == nil ? "lacks" : "holds with shape \(describe(shape: methodEntries[name]?.shape ?? []))")"
                )
            }
            try tensor.assign(try saved.to(tensor.dtype))
        }
        if let schedule {
            try schedule.restore(stepCount: scheduleStep)
        }
        RandomGenerator.shared.stateWords = words
        var result = Result()
        result.epochsRun = epoch
        result.stoppedEarly = metadata["stopped_early"] == "true"
        result.history = history.compactMap { if case .table(let fields) = $0 { fields } else { nil } }
        result.bestEpoch = metadata["best_epoch"].flatMap(Int.init)
        result.bestValue = metadata["best_value"].flatMap(Double.init)
        if let bestPath, result.bestEpoch != nil, FileManager.default.fileExists(atPath: bestPath) {
            // Keep the best weights in memory as an uninterrupted run does, without touching the model.
            let current = model.state.map { $0.tensor.copy() }
            let best = try Safetensors.read(bestPath).tensors
            try load(
                Dictionary(best.map { (String($0.name.dropFirst(6)), $0.tensor) }, uniquingKeysWith: { a, _ in a }),
                from: bestPath)
            bestState = model.state.map { $0.tensor.copy() }
            try assignState(current)
        }
        return (result, badEpochs)
    }

    private func load(_ entries: [String: Tensor], from path: String) throws {
        let expected = model.state.map(\.name)
        let missing = expected.filter { entries[$0] == nil }
        guard missing.isEmpty, entries.count == expected.count else {
            throw TensorError(
                "resume",
                "\(path) does not match the model: missing \(missing.prefix(5)), \(entries.count) entries for \(expected.count) tensors"
            )
        }
        for (name, tensor) in model.state {
            guard let saved = entries[name], saved.shape == tensor.shape else {
                throw TensorError(
                    "resume",
                    "\(path): \(name) has shape \(describe(shape: entries[name]?.shape ?? [])), the model \(describe(shape: tensor.shape))"
                )
            }
            try tensor.assign(saved)
        }
    }

    // MARK: - Output

    private func line(for record: [String: ConfigValue], improved: Bool) -> String {
        let keys =
            ["epoch", "lr", "train_loss"] + record.keys.filter { $0.hasPrefix("val_") }.sorted() + ["epoch_seconds"]
        let parts = keys.compactMap { key -> String? in
            guard let value = record[key]?.numberValue else { return nil }
            switch key {
            case "epoch": return "epoch \(Int(value))/\(options.epochs)"
            case "lr": return String(format: "lr %.2e", value)
            case "epoch_seconds": return String(format: "(%.1f s)", value)
            default: return "\(key) \(format(value))"
            }
        }
        return "\(options.name): " + parts.joined(separator: "  ") + (improved ? "  *" : "")
    }

    private func format(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "-" }
}
