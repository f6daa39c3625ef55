import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

/// Trains a conditional GAN: `criticSteps` critic updates per generator update on shuffled real batches,
/// with the WGAN-GP loss (critic D(fake) − D(real) + λ·(‖∇ D(x̂)‖₂ − 1)² at random interpolates x̂, generator
/// −D(G(z, y))) or the hinge loss (critic relu(1 − D(real)) + relu(1 + D(fake)), generator −D(G(z, y))); an
/// exponential moving average of the generator's weights (buffers copied) for evaluation, its decay
/// min(ema, (1 + t)/(10 + t)) at generator step t as TensorFlow's `ExponentialMovingAverage(num_updates)`; a checkpoint of
/// both networks, both optimizers, the average and the random state every `checkpointEvery` generator steps,
/// written atomically and resumable to the same numbers; a non-finite loss stops training naming the step,
/// the last checkpoint left usable. Real images come in [0, 1] and are scaled to the generator's [−1, 1].
///
/// Reference: Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (Algorithm 1:
/// n_critic 5, λ 10, Adam 1e-4, β = (0, 0.9)); Miyato et al. 2018 and Zhang et al. 2019 (hinge loss).
public final class GANTrainer {
    public enum Loss: String, Sendable {
        case wassersteinGradientPenalty = "wgan_gp"
        case hinge
    }

    public struct Options {
        public var name = "gan"
        public var steps = 1000
        public var batchSize = 64
        public var criticSteps = 5
        public var loss = Loss.wassersteinGradientPenalty
        public var penaltyWeight = 10.0
        public var emaDecay: Double? = 0.999
        /// Generator steps between log records and checkpoints.
        public var logEvery = 100
        public var checkpointDirectory: String?
        public var resume = false
        public var verbose = true
        /// Explanation feedback on the generator (``ExplanationFeedback``), or none.
        public var explanationFeedback: ExplanationFeedback?
        /// Bias feedback on the generator (``BiasFeedback``), or none.
        public var biasFeedback: BiasFeedback?
        /// λ of the reconstruction term λ·mean|G(z, c) − x| of a conditioning-vector generator, whose batch
        /// pairs each condition c with its real image x (0: none).
        public var reconstructionWeight = 0.0
        /// The network computing each sample's conditioning vector from its other modalities, trained with the
        /// generator or frozen (``GANConditioner``); `fit` then takes the modalities' tensors as `inputs`.
        public var conditioner: GANConditioner?
        public init() {}
    }

    /// A batch of real samples: images in [−1, 1], their labels and, for a generator conditioned on vectors
    /// (a fused embedding), each sample's conditioning vector.
    public struct Batch {
        public let images: Tensor, labels: Tensor, conditions: Tensor?
        /// The conditioner's modality tensors (modality name → rows), when there is a conditioner.
        public let inputs: [String: Tensor]
        public init(images: Tensor, labels: Tensor, conditions: Tensor? = nil, inputs: [String: Tensor] = [:]) {
            (self.images, self.labels, self.conditions, self.inputs) = (images, labels, conditions, inputs)
        }
        /// Whether the generator is conditioned on vectors from this batch (given or computed).
        var carriesConditions: Bool { conditions != nil || !inputs.isEmpty }
    }

    /// The generator's condition for a batch: its conditioning vectors (given, or the conditioner's embedding
    /// of its modalities — differentiable when `differentiable` and the conditioner is trained), else the labels.
    public func condition(for batch: Batch, differentiable: Bool) throws -> Tensor {
        if let conditions = batch.conditions { return conditions }
        if let conditioner = options.conditioner, !batch.inputs.isEmpty {
            if differentiable && conditioner.trained { return try conditioner.embed(batch.inputs) }
            return try noGrad { try conditioner.embed(batch.inputs).detach() }
        }
        return batch.labels
    }

    /// The state the weight average covers, in a fixed order: the generator's, then a trained conditioner's
    /// (named `conditioner.*`).
    func averagedState() -> [(name: String, tensor: Tensor)] {
        var state = generator.stateDict()
        if let conditioner = options.conditioner, conditioner.trained {
            state += conditioner.model.stateDict().map { (name: "conditioner.\($0.name)", tensor: $0.tensor) }
        }
        return state
    }

    public struct Record {
        public let step: Int
        public let values: [String: Double]
    }

    public let generator: ConditionalModel, critic: ConditionalModel
    public let generatorOptimizer: Optimizer, criticOptimizer: Optimizer
    public let options: Options
    /// Called with every log record (`step`, losses, Wasserstein estimate, penalty, seconds).
    public var log: (([String: ConfigValue]) throws -> Void)?
    /// Called every `logEvery` steps after the record, with the trainer (e.g. to draw image grids).
    public var onLog: ((Int) throws -> Void)?
    public var print: (String) -> Void = { Swift.print($0) }
    /// The moving average of the generator's state (parameters and buffers), in `stateEntries` order.
    private(set) var average: [Tensor]?
    public private(set) var step = 0
    /// The generator's parameter names: the average follows these; buffers are copied.
    private let averagedNames: Set<String>

    public init(
        generator: ConditionalModel, critic: ConditionalModel, generatorOptimizer: Optimizer,
        criticOptimizer: Optimizer, options: Options
    ) throws {
        guard options.steps >= 1, options.batchSize >= 2, options.criticSteps >= 1, options.logEvery >= 1 else {
            throw TensorError(
                "train_gan",
                "steps, critic steps and log interval must be at least 1 and the batch at least 2, got \(options.steps), \(options.criticSteps), \(options.logEvery), \(options.batchSize)"
            )
        }
        guard options.penaltyWeight >= 0, options.penaltyWeight.isFinite, options.reconstructionWeight >= 0,
            options.reconstructionWeight.isFinite
        else {
            throw TensorError(
                "train_gan",
                "gradient_penalty and the reconstruction weight must be non-negative numbers, got \(options.penaltyWeight) and \(options.reconstructionWeight)"
            )
        }
        if let decay = options.emaDecay, !(decay > 0 && decay < 1) {
            throw TensorError("train_gan", "ema must be a decay in (0, 1) such as 0.999, got \(decay)")
        }
        (self.generator, self.critic, self.options) = (generator, critic, options)
        (self.generatorOptimizer, self.criticOptimizer) = (generatorOptimizer, criticOptimizer)
        var names = Set(generator.namedParameters().map(\.name))
        if let conditioner = options.conditioner, conditioner.trained {
            names.formUnion(conditioner.model.namedParameters().map { "conditioner.\($0.name)" })
        }
        averagedNames = names
        if options.emaDecay != nil { average = averagedState().map { $0.tensor.copy() } }
    }

    // MARK: - Steps

    /// The gradient penalty λ·mean((‖∇ₓ D(x̂, y)‖₂ − 1)²) at x̂ = εx + (1 − ε)x̃, ε ~ U(0, 1) per sample.
    public func gradientPenalty(real: Tensor, fake: Tensor, labels: Tensor) throws -> Tensor {
        try wassersteinGradientPenalty(real: real, fake: fake, weight: options.penaltyWeight) {
            try critic.forward($0, condition: labels)
        }
    }

    /// The generator's input noise for `count` samples from the shared random generator (only the noise is
    /// drawn: the conditions come from the data or the drawn labels).
    public func noise(count: Int) throws -> Tensor {
        if let known = generator as? GANGenerator { return try known.noise(count: count, generator: .shared) }
        return try generator.example(batch: count, generator: .shared).input
    }

    /// One critic update on a real batch; returns (loss, Wasserstein estimate D(real) − D(fake), penalty). The
    /// critic sees the labels; the generator its conditioning vectors when the batch has them.
    func criticStep(_ batch: Batch) throws -> (Double, Double, Double) {
        let (real, labels) = (batch.images, batch.labels)
        criticOptimizer.zeroGrad()
        let noise = try noise(count: real.shape[0])
        let fake = try noGrad { try generator.forward(noise, condition: condition(for: batch, differentiable: false)) }
        let realScores = try critic.forward(real, condition: labels)
        let fakeScores = try critic.forward(fake, condition: labels)
        let distance = try realScores.mean().item() - fakeScores.mean().item()
        var loss: Tensor
        var penalty = 0.0
        switch options.loss {
        case .wassersteinGradientPenalty:
            let term = try gradientPenalty(real: real, fake: fake, labels: labels)
            penalty = try term.item()
            loss = try fakeScores.mean() - realScores.mean() + term
        case .hinge:
            loss = try (1 - realScores).relu().mean() + (fakeScores + 1).relu().mean()
        }
        let value = try loss.item()
        guard value.isFinite else { throw nonFinite("critic loss", value) }
        try loss.backward()
        try criticOptimizer.step()
        return (value, distance, penalty)
    }

    /// One generator update with labels drawn uniformly from `classes`, or — for a conditioning-vector
    /// generator — the labels and conditions of the real batch `paired` (the mean L1 distance of the drawings
    /// to its images logged as `reconstruction_l1`, and a term of the loss when `reconstructionWeight` > 0); returns its adversarial loss
    /// (`generator_loss`) and, on feedback steps, `explanation_penalty` and `explanation_iou` and the bias
    /// feedback's values (`bias_penalty`, `fairness_discrepancy`, `class_accuracy_gap`).
    func generatorStep(batch: Int, classes: [Int], paired: Batch? = nil) throws -> [String: Double] {
        generatorOptimizer.zeroGrad()
        // The critic (and the feedback's classifiers) are not trained by this step.
        let frozenConditioner = options.conditioner.map { $0.trained ? [] : $0.model.parameters() } ?? []
        let parameters =
            critic.parameters() + (options.explanationFeedback?.classifier.parameters() ?? [])
            + (options.biasFeedback?.frozenParameters ?? []) + frozenConditioner
        let flags = parameters.map(\.requiresGrad)
        for parameter in parameters { try parameter.requiringGrad(false) }
        defer { for (parameter, flag) in zip(parameters, flags) { _ = try? parameter.requiringGrad(flag) } }
        let labels: Tensor
        if let paired {
            labels = paired.labels
        } else {
            labels = try Tensor(
                shape: [batch],
                integers: (0..<batch).map { _ in classes[RandomGenerator.shared.nextInt(below: classes.count)] })
        }
        let noise = try noise(count: labels.shape[0])
        let fake = try generator.forward(
            noise, condition: paired.map { try condition(for: $0, differentiable: true) } ?? labels)
        var loss = try critic.forward(fake, condition: labels).mean().negated()
        let value = try loss.item()
        guard value.isFinite else { throw nonFinite("generator loss", value) }
        var values = ["generator_loss": value]
        if let paired, paired.carriesConditions {
            // Logged for every conditioning-vector generator; a term of the loss with a positive weight.
            let drawn = options.reconstructionWeight > 0 ? fake : fake.detach()
            let distance = try (drawn - paired.images).abs().mean()
            values["reconstruction_l1"] = try distance.item()
            if options.reconstructionWeight > 0 { loss = try loss + distance * options.reconstructionWeight }
        }
        // The explanation feedback's forward pass of its classifier, for bias feedback with the same one.
        var explained: (classifier: Module, outputs: Tensor)?
        if let feedback = options.explanationFeedback, step % feedback.every == 0 {
            let (term, overlap, outputs) = try feedback.evaluate(images: fake, labels: labels)
            explained = (feedback.classifier, outputs)
            let penalty = try term.item()
            guard penalty.isFinite else { throw nonFinite("explanation penalty", penalty) }
            (values["explanation_penalty"], values["explanation_iou"]) = (penalty, overlap)
            loss = try loss + term
        }
        if let feedback = options.biasFeedback, step % feedback.every == 0 {
            let shared = explained.flatMap { feedback.classifier === $0.classifier ? $0.outputs : nil }
            let (term, logged) = try feedback.evaluate(images: fake, labels: labels, classifierOutputs: shared)
            guard let penalty = logged["bias_penalty"], penalty.isFinite else {
                throw nonFinite("bias penalty", logged["bias_penalty"] ?? .nan)
            }
            values.merge(logged) { $1 }
            loss = try loss + term
        }
        try loss.backward()
        try generatorOptimizer.step()
        if let target = options.emaDecay, let average {
            // TensorFlow's warm-up (ExponentialMovingAverage with num_updates): early on the average follows
            // the weights closely instead of staying near the initialisation.
            let decay = min(target, Double(1 + step) / Double(10 + step))
            for ((name, tensor), mean) in zip(averagedState(), average) {
                if averagedNames.contains(name) {
                    try noGrad { try mean.assign(mean * decay + tensor.detach() * (1 - decay)) }
                } else {
                    try mean.assign(tensor)  // buffers (batch-norm statistics) are copied
                }
            }
        }
        return values
    }

    /// One training step: `n_critic` critic updates, each on the batch `nextBatch` gives, then one generator
    /// update — with labels drawn from `classes`, or on one more batch's conditions when the batches carry
    /// conditioning vectors. Returns the step's `critic_loss`, `wasserstein` and `gradient_penalty` (means over
    /// the critic updates) and the generator step's values.
    public func trainStep(classes: [Int], nextBatch: () throws -> Batch) throws -> [String: Double] {
        var values = ["critic_loss": 0.0, "wasserstein": 0.0, "gradient_penalty": 0.0]
        let share = 1 / Double(options.criticSteps)
        var conditioned = false
        for _ in 0..<options.criticSteps {
            let batch = try nextBatch()
            conditioned = batch.carriesConditions
            let (loss, distance, penalty) = try criticStep(batch)
            values["critic_loss", default: 0] += loss * share
            values["wasserstein", default: 0] += distance * share
            values["gradient_penalty", default: 0] += penalty * share
        }
        let paired = conditioned ? try nextBatch() : nil
        values.merge(try generatorStep(batch: options.batchSize, classes: classes, paired: paired)) { $1 }
        return values
    }

    func nonFinite(_ what: String, _ value: Double) -> TensorError {
        TensorError(
            "train_gan",
            "\(options.name): the \(what) is \(value) at generator step \(step + 1); training stopped\(options.checkpointDirectory.map { " (the last checkpoint in \($0) is from step \(lastCheckpointStep))" } ?? "")"
        )
    }

    private var lastCheckpointStep = 0
    /// The shuffled order of the real samples being drawn from and the position in it (checkpointed, so a
    /// resumed run draws the same batches).
    private var order: [Int] = []
    private var position = 0

    /// Runs `body` with the generator's weights replaced by their moving average (the generator itself
    /// when there is none), restored afterwards.
    /// Puts the weight average into the generator (its buffers too): the generator then draws as the
    /// EMA generator that evaluation uses. The checkpoint keeps the raw weights and the average apart.
    public func adoptAverage() throws {
        guard let average else { return }
        for (tensor, mean) in zip(averagedState().map(\.tensor), average) { try tensor.assign(mean) }
    }

    public func withAverage<R>(_ body: () throws -> R) throws -> R {
        guard let average else { return try body() }
        let state = averagedState().map(\.tensor)
        let saved = state.map { $0.copy() }
        for (tensor, mean) in zip(state, average) { try tensor.assign(mean) }
        defer { for (tensor, value) in zip(state, saved) { try? tensor.assign(value) } }
        return try body()
    }

    // MARK: - Fit

    /// Trains on real `images` `[N, C, H, W]` in [0, 1] with their `labels` `[N]` and, for a generator
    /// conditioned on vectors, each sample's `conditions` `[N, D]` or — with a conditioner — the conditioner's
    /// modality tensors `inputs` (modality name → `[N, ...]`); returns the log records.
    @discardableResult
    public func fit(images: Tensor, labels: Tensor, conditions: Tensor? = nil, inputs: [String: Tensor] = [:]) throws
        -> [Record]
    {
        guard images.rank == 4, labels.rank == 1, labels.shape[0] == images.shape[0],
            images.shape[0] >= options.batchSize
        else {
            throw TensorError(
                "train_gan",
                "needs images [N, C, H, W] with labels [N] and at least one batch (\(options.batchSize)), got \(describe(shape: images.shape)) and \(describe(shape: labels.shape))"
            )
        }
        let vectorDimension: Int? =
            if case .vector(let dimension) = (generator as? GANGenerator)?.conditioning { dimension } else { nil }
        if let conditioner = options.conditioner {
            guard conditions == nil, Set(inputs.keys) == Set(conditioner.inputs.keys),
                inputs.values.allSatisfy({ $0.rank >= 1 && $0.shape[0] == images.shape[0] })
            else {
                throw TensorError(
                    "train_gan",
                    "a conditioner takes its modalities (\(conditioner.inputs.keys.sorted().joined(separator: ", "))) with one row per image instead of conditions, got \(inputs.keys.sorted().joined(separator: ", "))\(conditions == nil ? "" : " and conditions")"
                )
            }
            // One probe through the conditioner: its embedding must fit the generator.
            let probe = try noGrad { try conditioner.embed(inputs.mapValues { try $0.sliced(axis: 0, end: 2) }) }
            guard let vectorDimension, probe.shape == [2, vectorDimension] else {
                throw TensorError(
                    "train_gan",
                    "the conditioner's embedding is \(describe(shape: probe.shape)) for 2 samples; the generator takes \(vectorDimension.map { "[N, \($0)]" } ?? "labels (conditioning = \"fused\" takes vectors)")"
                )
            }
        } else if !inputs.isEmpty {
            throw TensorError("train_gan", "modality inputs are for a conditioner (train_gan{conditioner = {...}})")
        } else if let conditions {
            guard let vectorDimension, conditions.shape == [images.shape[0], vectorDimension] else {
                throw TensorError(
                    "train_gan",
                    vectorDimension.map {
                        "conditions must be [\(images.shape[0]), \($0)] (a vector per image), got \(describe(shape: conditions.shape))"
                    } ?? "conditions are for a generator with conditioning = \"fused\"; this one takes labels")
            }
        }
        if options.conditioner == nil, conditions == nil, let vectorDimension {
            throw TensorError(
                "train_gan",
                "the generator is conditioned on vectors [N, \(vectorDimension)]: give the data's conditions (train_gan{conditions = \"key\"})"
            )
        }
        guard options.reconstructionWeight == 0 || conditions != nil || options.conditioner != nil else {
            throw TensorError("train_gan", "reconstruction needs conditions paired with the images")
        }
        let classes = Array(Set(labels.toIntegers())).sorted()
        let scaled = try images * 2 - 1
        var records: [Record] = []
        if options.resume { try restore(into: &records) }
        let count = images.shape[0]
        guard order.isEmpty || (order.count == count && order.allSatisfy { (0..<count).contains($0) } && position >= 0)
        else {
            throw TensorError(
                "resume", "the checkpoint's data order is for \(order.count) samples, the data has \(count)")
        }
        let progress = Progress(options.name, total: options.steps, unit: "steps")
        func nextBatch() throws -> Batch {
            if position + options.batchSize > order.count {
                order = RandomGenerator.shared.permutation(images.shape[0])
                position = 0
            }
            let chosen = Array(order[position..<(position + options.batchSize)])
            position += options.batchSize
            return Batch(
                images: try scaled.indexSelect(axis: 0, indices: chosen),
                labels: try labels.indexSelect(axis: 0, indices: chosen),
                conditions: try conditions?.indexSelect(axis: 0, indices: chosen),
                inputs: try inputs.mapValues { try $0.indexSelect(axis: 0, indices: chosen) })
        }
        var sums = [String: Double]()
        var counts = [String: Int]()
        var counted = 0
        var started = Date()
        while step < options.steps {
            for (key, value) in try trainStep(classes: classes, nextBatch: nextBatch) {
                sums[key, default: 0] += value
                counts[key, default: 0] += 1
            }
            counted += 1
            step += 1
            progress.update(step, note: String(format: "W %.3f", (sums["wasserstein"] ?? 0) / Double(counted)))
            if step % options.logEvery == 0 || step == options.steps {
                // Each value's mean over the steps that gave it (feedback runs every `every` steps).
                var values = Dictionary(
                    uniqueKeysWithValues: sums.map { ($0.key, $0.value / Double(counts[$0.key] ?? 1)) })
                values["seconds"] = Date().timeIntervalSince(started)
                let record = Record(step: step, values: values)
                records.append(record)
                var fields = values.mapValues(ConfigValue.number)
                fields["step"] = .number(Double(step))
                fields["trainer"] = .string(options.name)
                try log?(fields)
                if options.verbose {
                    self.print(
                        String(
                            format: "%@: step %d/%d  critic %.4f  generator %.4f  W %.4f  GP %.4f  (%.1f s)",
                            options.name, step, options.steps, values["critic_loss"] ?? 0,
                            values["generator_loss"] ?? 0,
                            values["wasserstein"] ?? 0, values["gradient_penalty"] ?? 0, values["seconds"] ?? 0)
                            + (values["explanation_penalty"].map {
                                String(format: "  explanation %.4f  IoU %.3f", $0, values["explanation_iou"] ?? 0)
                            } ?? "")
                            + (values["bias_penalty"].map { String(format: "  bias %.4f", $0) } ?? "")
                            + (values["reconstruction_l1"].map { String(format: "  L1 %.4f", $0) } ?? ""))
                }
                try onLog?(step)
                try writeCheckpoint(records: records)
                (sums, counts, counted, started) = ([:], [:], 0, Date())
            }
        }
        progress.finish()
        return records
    }

    // MARK: - Checkpoints

    /// The `format` metadata of GAN checkpoints.
    public static let format = "lucerna-gan-1"

    var lastPath: String? { options.checkpointDirectory.map { "\($0)/\(options.name)-last.safetensors" } }

    private func writeCheckpoint(records: [Record]) throws {
        guard let directory = options.checkpointDirectory, let lastPath else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var tensors = generator.stateDict().map { (name: "generator.\($0.name)", tensor: $0.tensor) }
        tensors += critic.stateDict().map { (name: "critic.\($0.name)", tensor: $0.tensor) }
        if let conditioner = options.conditioner, conditioner.trained {
            tensors += conditioner.model.stateDict().map { (name: "conditioner.\($0.name)", tensor: $0.tensor) }
        }
        tensors += try generatorOptimizer.stateTensors().map {
            (name: "generator_optimizer.\($0.name)", tensor: $0.tensor)
        }
        tensors += try criticOptimizer.stateTensors().map { (name: "critic_optimizer.\($0.name)", tensor: $0.tensor) }
        if let average {
            tensors += zip(averagedState(), average).map { (name: "average.\($0.0.name)", tensor: $0.1) }
        }
        if !order.isEmpty {
            tensors.append((name: "data.order", tensor: try Tensor(shape: [order.count], integers: order)))
        }
        let history = ConfigValue.list(
            records.map { record in
                var fields = record.values.mapValues(ConfigValue.number)
                fields["step"] = .number(Double(record.step))
                return .table(fields)
            })
        let metadata = [
            "format": GANTrainer.format, "trainer": options.name, "step": "\(step)", "steps": "\(options.steps)",
            "random_state": RandomGenerator.shared.stateWords.map { String($0) }.joined(separator: ","),
            "history": history.json, "data_position": "\(position)",
        ]
        // Written beside the last one, read back, then moved into place: a crash leaves one that verifies.
        let nextPath = "\(directory)/\(options.name)-next.safetensors"
        try Safetensors.write(tensors, to: nextPath, metadata: metadata, digest: true)
        _ = try Safetensors.read(nextPath)
        guard rename(nextPath, lastPath) == 0 else {
            throw TensorError("checkpoint", "cannot move \(nextPath) to \(lastPath) (errno \(errno))")
        }
        lastCheckpointStep = step
    }

    private func restore(into records: inout [Record]) throws {
        guard let lastPath, FileManager.default.fileExists(atPath: lastPath) else { return }
        let contents = try Safetensors.read(lastPath)
        func fail(_ message: String) -> TensorError { TensorError("resume", "\(lastPath): \(message)") }
        guard contents.metadata["format"] == GANTrainer.format else {
            throw fail("not a Lucerna GAN checkpoint (format \(contents.metadata["format"] ?? "missing"))")
        }
        guard let saved = contents.metadata["step"].flatMap(Int.init), saved >= 0, saved <= options.steps,
            let words = contents.metadata["random_state"]?.split(separator: ",").compactMap({ UInt64($0) }),
            words.count == 4,
            case .list(let history)? = try contents.metadata["history"].map(ConfigValue.init(parsingJSON:))
        else {
            throw fail(
                "incomplete metadata (step, random_state, history) or a step beyond the \(options.steps) configured")
        }
        var groups: [String: [String: Tensor]] = [:]
        var optimizerStates: [String: [(name: String, tensor: Tensor)]] = [:]
        for (name, tensor) in contents.tensors {
            guard let dot = name.firstIndex(of: ".") else { continue }
            let (prefix, rest) = (String(name[..<dot]), String(name[name.index(after: dot)...]))
            if prefix.hasSuffix("_optimizer") {
                optimizerStates[prefix, default: []].append((rest, tensor))
            } else {
                groups[prefix, default: [:]][rest] = tensor
            }
        }
        try generator.loadStateDict(groups["generator"] ?? [:], convertingDtypes: false)
        try critic.loadStateDict(groups["critic"] ?? [:], convertingDtypes: false)
        if let conditioner = options.conditioner, conditioner.trained {
            try conditioner.model.loadStateDict(groups["conditioner"] ?? [:], convertingDtypes: false)
        }
        try generatorOptimizer.loadStateTensors(optimizerStates["generator_optimizer"] ?? [])
        try criticOptimizer.loadStateTensors(optimizerStates["critic_optimizer"] ?? [])
        if let average {
            let saved = groups["average"] ?? [:]
            for ((name, _), mean) in zip(averagedState(), average) {
                guard let value = saved[name], value.shape == mean.shape else {
                    throw fail("has no moving average for \(name), but train_gan has ema set")
                }
                try mean.assign(value)
            }
        }
        if let saved = groups["data"]?["order"] {
            order = saved.toIntegers()
            position = Int(contents.metadata["data_position"] ?? "") ?? order.count
        }
        RandomGenerator.shared.stateWords = words
        step = saved
        lastCheckpointStep = saved
        records = history.compactMap { entry in
            guard case .table(let fields) = entry, case .number(let step)? = fields["step"] else { return nil }
            var values: [String: Double] = [:]
            for (key, value) in fields where key != "step" {
                if case .number(let number) = value { values[key] = number }
            }
            return Record(step: Int(step), values: values)
        }
        if options.verbose { self.print("\(options.name): resumed at step \(step) of \(options.steps)") }
    }
}
