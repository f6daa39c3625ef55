import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN
import XCTest

@testable import LucernaTrain

/// A linear conditional critic D(x, y) = wᵀx + b_y: its input gradient is w everywhere, so WGAN-GP's penalty
/// is λ(‖w‖ − 1)² whatever the interpolates.
final class LinearCritic: Module, ConditionalModel {
    let linear: Linear
    let offsets: Embedding
    init(features: Int, classes: Int, dtype: DType) throws {
        linear = try Linear(features, 1, bias: false, dtype: dtype, generator: RandomGenerator(seed: 2))
        offsets = try Embedding(classes, 1, dtype: dtype, generator: RandomGenerator(seed: 3))
        super.init()
        registerModule("linear", linear)
        registerModule("offsets", offsets)
    }
    func forward(_ input: Tensor, condition: Tensor) throws -> Tensor {
        let count = input.shape[0]
        return try linear(input.reshaped([count, -1])).reshaped([count]) + offsets(condition).reshaped([count])
    }
    func example(batch: Int, generator: RandomGenerator) throws -> (input: Tensor, condition: Tensor) {
        (
            try Tensor.normal([batch, 1, 8, 8], dtype: linear.weight.dtype, generator: generator),
            try Tensor(shape: [batch], integers: (0..<batch).map { $0 % 2 })
        )
    }
}

final class GANTrainerTests: XCTestCase {
    /// Two classes of 8×8 images: a bright top half or a bright bottom half, with noise, in [0, 1].
    static func toyData(count: Int) throws -> (Tensor, Tensor) {
        let generator = RandomGenerator(seed: 11)
        var values: [Double] = []
        var labels: [Int] = []
        for sample in 0..<count {
            let label = sample % 2
            labels.append(label)
            for row in 0..<8 {
                for _ in 0..<8 {
                    let base = (row < 4) == (label == 0) ? 0.8 : 0.1
                    values.append(min(1, max(0, base + 0.1 * (generator.nextUniform() - 0.5))))
                }
            }
        }
        return (
            try Tensor(shape: [count, 1, 8, 8], values: values, dtype: .float32),
            try Tensor(shape: [count], integers: labels)
        )
    }

    /// A trainer of a generator conditioned on 3-vectors for the 8×8 toy images (Adam 5e-3, β (0.5, 0.9)),
    /// its optimizer training `alsoTraining` too.
    static func makeVectorTrainer(_ options: GANTrainer.Options, alsoTraining: [Tensor] = []) throws -> GANTrainer {
        let generator = RandomGenerator(seed: 5)
        let model = try GANGenerator(
            latent: 4, conditioning: .vector(dimension: 3), embedding: 4, channels: (4, 4), attentionResolution: nil,
            imageSize: 8, generator: generator)
        let critic = try GANCritic(
            classes: 2, channels: (4, 4), attentionResolution: nil, imageSize: 8, generator: generator)
        return try GANTrainer(
            generator: model, critic: critic,
            generatorOptimizer: try Adam(
                parameters: model.parameters() + alsoTraining, learningRate: 5e-3, betas: (0.5, 0.9)),
            criticOptimizer: try Adam(parameters: critic.parameters(), learningRate: 1e-3, betas: (0, 0.9)),
            options: options)
    }

    static func makeTrainer(_ options: GANTrainer.Options, seed: UInt64 = 5) throws -> GANTrainer {
        let generator = RandomGenerator(seed: seed)
        let model = try GANGenerator(
            latent: 4, conditioning: .labels(classes: 2), embedding: 2, channels: (4, 4), attentionResolution: 4,
            imageSize: 8, generator: generator)
        let critic = try GANCritic(
            classes: 2, channels: (4, 4), attentionResolution: 4, imageSize: 8, generator: generator)
        return try GANTrainer(
            generator: model, critic: critic,
            generatorOptimizer: try Adam(parameters: model.parameters(), learningRate: 1e-3, betas: (0, 0.9)),
            criticOptimizer: try Adam(parameters: critic.parameters(), learningRate: 1e-3, betas: (0, 0.9)),
            options: options)
    }

    func testGradientPenaltyOfALinearCriticIsLambdaTimesTheSquaredNormGap() throws {
        let critic = try LinearCritic(features: 64, classes: 2, dtype: .float64)
        let model = try GANGenerator(
            latent: 2, conditioning: .labels(classes: 2), channels: (2, 2), attentionResolution: nil, imageSize: 8,
            dtype: .float64)
        var options = GANTrainer.Options()
        options.penaltyWeight = 7
        let trainer = try GANTrainer(
            generator: model, critic: critic,
            generatorOptimizer: try Adam(parameters: model.parameters(), learningRate: 1e-4),
            criticOptimizer: try Adam(parameters: critic.parameters(), learningRate: 1e-4), options: options)
        let (real, labels) = try critic.example(batch: 5, generator: RandomGenerator(seed: 1))
        let (fake, _) = try critic.example(batch: 5, generator: RandomGenerator(seed: 2))
        let penalty = try trainer.gradientPenalty(real: real, fake: fake, labels: labels)
        let norm = try (critic.linear.weight * critic.linear.weight).sum().item().squareRoot()
        XCTAssertEqual(try penalty.item(), 7 * (norm - 1) * (norm - 1), accuracy: 1e-9)
        // It trains the critic: its gradient by w is 2λ(‖w‖ − 1)·w/‖w‖.
        try penalty.backward()
        let expected = try critic.linear.weight.detach() * (2 * 7 * (norm - 1) / norm)
        XCTAssertEqual(
            try (XCTUnwrap(critic.linear.weight.grad) - expected).abs().max().item(), 0, accuracy: 1e-9)
    }

    func testTrainingMovesTheCriticsEstimateAndResumesToTheSameWeights() throws {
        let (images, labels) = try Self.toyData(count: 64)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gan-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = GANTrainer.Options()
        options.steps = 6
        options.batchSize = 16
        options.criticSteps = 2
        options.logEvery = 3
        options.verbose = false
        // Straight through.
        RandomGenerator.shared.reseed(21)
        let straight = try Self.makeTrainer(options)
        let records = try straight.fit(images: images, labels: labels)
        XCTAssertEqual(records.map(\.step), [3, 6])
        for record in records {
            for key in ["critic_loss", "generator_loss", "wasserstein", "gradient_penalty"] {
                XCTAssertTrue(record.values[key]?.isFinite == true, "\(key) at step \(record.step)")
            }
        }
        // Interrupted after 3 steps (a checkpoint), then resumed by a fresh trainer.
        options.checkpointDirectory = directory
        options.steps = 3
        RandomGenerator.shared.reseed(21)
        _ = try Self.makeTrainer(options).fit(images: images, labels: labels)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/gan-last.safetensors"))
        options.steps = 6
        options.resume = true
        RandomGenerator.shared.reseed(999)  // the checkpoint's random state replaces this
        let resumed = try Self.makeTrainer(options, seed: 77)  // and its weights replace these
        let resumedRecords = try resumed.fit(images: images, labels: labels)
        XCTAssertEqual(resumedRecords.map(\.step), [3, 6])
        for (a, b) in zip(straight.generator.stateDict(), resumed.generator.stateDict()) {
            XCTAssertEqual(a.tensor.toDoubles(), b.tensor.toDoubles(), "generator \(a.name)")
        }
        for (a, b) in zip(straight.critic.stateDict(), resumed.critic.stateDict()) {
            XCTAssertEqual(a.tensor.toDoubles(), b.tensor.toDoubles(), "critic \(a.name)")
        }
        XCTAssertEqual(records.last?.values["wasserstein"], resumedRecords.last?.values["wasserstein"])
        // The average differs from the weights, and swapping it in is undone afterwards.
        let before = straight.generator.stateDict().map { $0.tensor.toDoubles() }
        let averaged = try straight.withAverage { straight.generator.stateDict().map { $0.tensor.toDoubles() } }
        XCTAssertNotEqual(before, averaged)
        XCTAssertEqual(before, straight.generator.stateDict().map { $0.tensor.toDoubles() })
        // Adopting it keeps it.
        try straight.adoptAverage()
        XCTAssertEqual(averaged, straight.generator.stateDict().map { $0.tensor.toDoubles() })
    }

    /// A generator conditioned on vectors trains on each real sample's own condition (the critic on its
    /// label); the reconstruction term pulls each drawing to its sample's image.
    func testConditioningVectorsAndReconstructionPullDrawingsToTheirImages() throws {
        let (images, labels) = try Self.toyData(count: 32)
        // Each sample's condition: its top and bottom halves' mean brightness and its label.
        let pixels = images.toDoubles()
        let conditions = try Tensor(
            shape: [32, 3],
            values: (0..<32).flatMap { sample -> [Double] in
                let plane = pixels[(sample * 64)..<((sample + 1) * 64)]
                return [plane.prefix(32).reduce(0, +) / 32, plane.suffix(32).reduce(0, +) / 32, Double(sample % 2)]
            }, dtype: .float32)
        var options = GANTrainer.Options()
        (options.steps, options.batchSize, options.criticSteps, options.logEvery, options.verbose) = (
            100, 8, 1, 10, false
        )
        options.reconstructionWeight = 10
        func makeTrainer() throws -> GANTrainer { try Self.makeVectorTrainer(options) }
        RandomGenerator.shared.reseed(4)
        let records = try makeTrainer().fit(images: images, labels: labels, conditions: conditions)
        options.reconstructionWeight = 0  // the same training with the distance only logged
        RandomGenerator.shared.reseed(4)
        let adversarial = try makeTrainer().fit(images: images, labels: labels, conditions: conditions)
        let first = try XCTUnwrap(records.first?.values["reconstruction_l1"])
        let last = try XCTUnwrap(records.last?.values["reconstruction_l1"])
        let without = try XCTUnwrap(adversarial.last?.values["reconstruction_l1"])
        XCTAssertLessThan(last, 0.4 * first, "the drawings approach their images (\(first) → \(last))")
        XCTAssertLessThan(last, 0.5 * without, "closer than the critic alone brings them (\(without))")
        // Conditions must match the generator: vectors for a fused one, none for a label one.
        XCTAssertThrowsError(try makeTrainer().fit(images: images, labels: labels)) {
            XCTAssertTrue("\($0)".contains("give the data's conditions"), "\($0)")
        }
        XCTAssertThrowsError(
            try makeTrainer().fit(images: images, labels: labels, conditions: conditions.sliced(axis: 1, end: 2))
        ) { XCTAssertTrue("\($0)".contains("conditions must be [32, 3]"), "\($0)") }
        XCTAssertThrowsError(try Self.makeTrainer(options).fit(images: images, labels: labels, conditions: conditions))
        {
            XCTAssertTrue("\($0)".contains("conditioning = \"fused\""), "\($0)")
        }
    }

    /// A conditioner trained with the generator: its embedding of each image learns what drawing the image
    /// needs, so the reconstruction comes closer than through the same network frozen; it is checkpointed and
    /// resumes to the same weights.
    func testATrainedConditionerLearnsWithTheGeneratorAndResumes() throws {
        let (images, labels) = try Self.toyData(count: 32)
        func makeTrainer(trained: Bool, steps: Int, directory: String? = nil, resume: Bool = false) throws
            -> GANTrainer
        {
            var options = GANTrainer.Options()
            (options.steps, options.batchSize, options.criticSteps, options.logEvery, options.verbose) = (
                steps, 8, 1, steps >= 10 ? 10 : steps, false
            )
            (options.reconstructionWeight, options.checkpointDirectory, options.resume) = (10, directory, resume)
            let classifier = try XCTUnwrap(
                try Registry.standard().build(
                    .model, "multimodal_classifier",
                    options: [
                        "encoders": .table([
                            "image": .table([
                                "type": .string("conv_encoder"), "channels": .list([.number(2), .number(2)]),
                                "dim": .number(3), "input_size": .number(8),
                            ])
                        ]),
                        "fusion": .boolean(false), "classes": .number(2),
                    ]) as? MultimodalClassifier)
            options.conditioner = try GANConditioner(model: classifier, inputs: ["image": "images"], trained: trained)
            return try Self.makeVectorTrainer(options, alsoTraining: trained ? classifier.parameters() : [])
        }
        var distances: [Bool: Double] = [:]
        for trained in [true, false] {
            RandomGenerator.shared.reseed(4)
            let trainer = try makeTrainer(trained: trained, steps: 100)
            let model = try XCTUnwrap(trainer.options.conditioner?.model)
            let before = model.parameters().map { $0.toDoubles() }
            let records = try trainer.fit(images: images, labels: labels, inputs: ["image": images])
            distances[trained] = records.last?.values["reconstruction_l1"]
            let moved = zip(before, model.parameters().map { $0.toDoubles() }).contains { $0 != $1 }
            XCTAssertEqual(moved, trained, "the conditioner learns only when trained")
        }
        let (trained, frozen) = (try XCTUnwrap(distances[true]), try XCTUnwrap(distances[false]))
        XCTAssertLessThan(trained, 0.8 * frozen, "trained \(trained), frozen \(frozen)")
        // Interrupted after 3 steps and resumed to 6: the conditioner's weights as straight through.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cond-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        RandomGenerator.shared.reseed(9)
        let straight = try makeTrainer(trained: true, steps: 6)
        try straight.fit(images: images, labels: labels, inputs: ["image": images])
        RandomGenerator.shared.reseed(9)
        try makeTrainer(trained: true, steps: 3, directory: directory).fit(
            images: images, labels: labels, inputs: ["image": images])
        RandomGenerator.shared.reseed(1)
        let resumed = try makeTrainer(trained: true, steps: 6, directory: directory, resume: true)
        try resumed.fit(images: images, labels: labels, inputs: ["image": images])
        for (a, b) in zip(
            try XCTUnwrap(straight.options.conditioner?.model.stateDict()),
            try XCTUnwrap(resumed.options.conditioner?.model.stateDict()))
        {
            XCTAssertEqual(a.tensor.toDoubles(), b.tensor.toDoubles(), "conditioner \(a.name)")
        }
        XCTAssertThrowsError(try makeTrainer(trained: true, steps: 1).fit(images: images, labels: labels)) {
            XCTAssertTrue("\($0)".contains("a conditioner takes its modalities (image)"), "\($0)")
        }
    }

    func testANonFiniteLossStopsNamingTheStep() throws {
        let (images, labels) = try Self.toyData(count: 32)
        var options = GANTrainer.Options()
        options.steps = 2
        options.batchSize = 16
        options.verbose = false
        let trainer = try Self.makeTrainer(options)
        trainer.critic.parameters()[0].fill(.nan)
        XCTAssertThrowsError(try trainer.fit(images: images, labels: labels)) { error in
            XCTAssertTrue("\(error)".contains("critic loss is nan at generator step 1"), "\(error)")
        }
        XCTAssertThrowsError(try Self.makeTrainer(options).fit(images: images, labels: try Tensor.zeros([3]))) {
            error in
            XCTAssertTrue("\(error)".contains("labels [N]"), "\(error)")
        }
    }
}

/// Explanation feedback: the CAM of an auditing classifier on generated samples kept on their foreground.
final class ExplanationFeedbackTests: XCTestCase {
    /// A classifier whose `relu` layer keeps the 8×8 resolution, so the CAM needs no resizing.
    func makeClassifier() throws -> Sequential {
        let generator = RandomGenerator(seed: 8)
        return Sequential([
            try Conv2d(1, 3, kernelSize: (3, 3), padding: (1, 1), dtype: .float64, generator: generator), ReLU(),
            Flatten(), try Linear(3 * 64, 2, dtype: .float64, generator: generator),
        ])
    }

    func makeFeedback(_ classifier: Module, weight: Double = 2, form: String = "share") throws -> ExplanationFeedback {
        let penalty = try CAMPenalty(
            method: .gradCAMPlusPlus,
            config: Config(
                owner: "test",
                values: [
                    "weight": .number(weight), "layer": .string("1"), "mask": .string("foreground"),
                    "invert": .boolean(true), "form": .string(form), "target": .string("label"),
                ]))
        return try ExplanationFeedback(penalty: penalty, classifier: classifier, layer: "1", threshold: 0.1, every: 1)
    }

    func testPenaltyIsTheWeightedShareOfTheMapOffTheForegroundAndReachesTheGenerator() throws {
        let classifier = try makeClassifier()
        let feedback = try makeFeedback(classifier)
        let generator = try GANGenerator(
            latent: 4, conditioning: .labels(classes: 2), embedding: 2, channels: (4, 4), attentionResolution: nil,
            imageSize: 8, dtype: .float64, generator: RandomGenerator(seed: 9))
        let labels = try Tensor(shape: [6], integers: [0, 1, 0, 1, 0, 1])
        let noise = try generator.noise(count: 6, generator: RandomGenerator(seed: 10))
        let images = try generator.forward(noise, condition: labels)
        for parameter in classifier.parameters() { try parameter.requiringGrad(false) }  // as the trainer does
        let (term, overlap, _) = try feedback.evaluate(images: images, labels: labels)
        // By hand: the same maps, the foreground of the [0, 1] images, Σ cam·(1 − fg) / Σ cam, averaged, × 2.
        let scaled = try images.affine(scale: 0.5, shift: 0.5)
        let context = RegularizerContext(
            inputs: scaled, targets: labels, model: RegularizedModel(module: classifier, inputKey: "inputs"),
            batch: ["inputs": scaled, "targets": labels], inputKey: "inputs")
        let maps = try classifier.evaluating { try feedback.penalty.maps(context, layer: "1") }.toDoubles()
        let pixels = scaled.toDoubles()
        var shares = 0.0
        var overlaps = 0.0
        for sample in 0..<6 {
            let range = (sample * 64)..<((sample + 1) * 64)
            let total = range.reduce(0.0) { $0 + maps[$1] }
            let outside = range.reduce(0.0) { $0 + (pixels[$1] > 0.1 ? 0 : maps[$1]) }
            shares += outside / (total + 1e-8)
            let peak = range.map { maps[$0] }.max() ?? 0
            let lit = range.filter { peak > 0 && maps[$0] >= 0.5 * peak }
            let object = range.filter { pixels[$0] > 0.1 }
            let union = Set(lit).union(object).count
            overlaps += union == 0 ? 1 : Double(Set(lit).intersection(object).count) / Double(union)
        }
        XCTAssertEqual(try term.item(), 2 * shares / 6, accuracy: 1e-10)
        XCTAssertEqual(overlap, overlaps / 6, accuracy: 1e-12)
        // The gradient reaches the generator, not the classifier.
        try term.backward()
        for parameter in classifier.parameters() { try parameter.requiringGrad(true) }
        let reached = generator.parameters().compactMap(\.grad).map { $0.toDoubles().map(abs).max() ?? 0 }
        XCTAssertGreaterThan(reached.max() ?? 0, 0)
        XCTAssertTrue(classifier.parameters().allSatisfy { $0.grad == nil }, "the classifier gets no gradient")
        XCTAssertTrue(classifier.isTraining, "the classifier's mode is restored")
    }

    func testTrainingWithFeedbackLogsThePenaltyOnFeedbackSteps() throws {
        let (images, labels) = try GANTrainerTests.toyData(count: 32)
        var options = GANTrainer.Options()
        (options.steps, options.batchSize, options.criticSteps, options.logEvery, options.verbose) = (4, 8, 1, 4, false)
        let float = Sequential([
            try Conv2d(1, 3, kernelSize: (3, 3), padding: (1, 1), generator: RandomGenerator(seed: 8)), ReLU(),
            Flatten(), try Linear(3 * 64, 2, generator: RandomGenerator(seed: 8)),
        ])
        options.explanationFeedback = try makeFeedback(float)
        RandomGenerator.shared.reseed(3)
        let records = try GANTrainerTests.makeTrainer(options).fit(images: images, labels: labels)
        let values = try XCTUnwrap(records.last?.values)
        XCTAssertTrue(values["explanation_penalty"].map { $0 >= 0 && $0 <= 2 } == true, "\(values)")
        XCTAssertTrue(values["explanation_iou"].map { $0 >= 0 && $0 <= 1 } == true, "\(values)")
        XCTAssertTrue(
            float.parameters().allSatisfy { $0.grad == nil && $0.requiresGrad }, "the classifier is not trained")
        XCTAssertThrowsError(
            try ExplanationFeedback(
                penalty: makeFeedback(float).penalty, classifier: float, layer: "conv9", threshold: 0.1, every: 1)
        ) { XCTAssertTrue("\($0)".contains("no layer 'conv9'"), "\($0)") }
    }

    /// An identity layer that counts its forward passes.
    final class CountingIdentity: Module {
        var calls = 0
        override func forward(_ input: Tensor) throws -> Tensor {
            calls += 1
            return input
        }
    }

    /// With explanation and bias feedback on the same classifier, a generator step runs it once: bias feedback
    /// takes the outputs of the explanation's forward pass, and gets the same values as from its own.
    func testBothFeedbacksShareOneForwardPassOfTheirClassifier() throws {
        let counter = CountingIdentity()
        let classifier = Sequential([
            counter, try Conv2d(1, 3, kernelSize: (3, 3), padding: (1, 1), generator: RandomGenerator(seed: 8)),
            ReLU(), Flatten(), try Linear(3 * 64, 2, generator: RandomGenerator(seed: 8)),
        ])
        let (images, labels) = try GANTrainerTests.toyData(count: 32)
        var options = GANTrainer.Options()
        (options.steps, options.batchSize, options.criticSteps, options.logEvery, options.verbose) = (4, 8, 1, 4, false)
        options.explanationFeedback = try makeFeedback(classifier)
        options.biasFeedback = try BiasFeedback(
            groups: nil, target: nil, weight: 1, classifier: classifier, accuracyWeight: 1, every: 1)
        RandomGenerator.shared.reseed(3)
        let records = try GANTrainerTests.makeTrainer(options).fit(images: images, labels: labels)
        XCTAssertEqual(counter.calls, 4, "one forward pass of the classifier per generator step")
        XCTAssertNotNil(records.last?.values["class_accuracy_gap"])
        // The shared outputs give the bias feedback the values of its own forward pass.
        let drawn = try images.sliced(axis: 0, start: 0, end: 8).affine(scale: 2, shift: -1)
        let drawnLabels = try labels.sliced(axis: 0, start: 0, end: 8)
        let outputs = try options.explanationFeedback?.evaluate(images: drawn, labels: drawnLabels).outputs
        let bias = try XCTUnwrap(options.biasFeedback)
        let shared = try bias.evaluate(images: drawn, labels: drawnLabels, classifierOutputs: outputs)
        let own = try bias.evaluate(images: drawn, labels: drawnLabels)
        XCTAssertEqual(try shared.term.item(), try own.term.item(), accuracy: 1e-12)
        XCTAssertEqual(
            shared.values["class_accuracy_gap"] ?? -1, own.values["class_accuracy_gap"] ?? -2, accuracy: 1e-12)
    }
}
