import Foundation
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
    func toyData(count: Int) throws -> (Tensor, Tensor) {
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

    func makeTrainer(_ options: GANTrainer.Options, seed: UInt64 = 5) throws -> GANTrainer {
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
        let (images, labels) = try toyData(count: 64)
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
        let straight = try makeTrainer(options)
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
        _ = try makeTrainer(options).fit(images: images, labels: labels)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/gan-last.safetensors"))
        options.steps = 6
        options.resume = true
        RandomGenerator.shared.reseed(999)  // the checkpoint's random state replaces this
        let resumed = try makeTrainer(options, seed: 77)  // and its weights replace these
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

    func testANonFiniteLossStopsNamingTheStep() throws {
        let (images, labels) = try toyData(count: 32)
        var options = GANTrainer.Options()
        options.steps = 2
        options.batchSize = 16
        options.verbose = false
        let trainer = try makeTrainer(options)
        trainer.critic.parameters()[0].fill(.nan)
        XCTAssertThrowsError(try trainer.fit(images: images, labels: labels)) { error in
            XCTAssertTrue("\(error)".contains("critic loss is nan at generator step 1"), "\(error)")
        }
        XCTAssertThrowsError(try makeTrainer(options).fit(images: images, labels: try Tensor.zeros([3]))) { error in
            XCTAssertTrue("\(error)".contains("labels [N]"), "\(error)")
        }
    }
}
