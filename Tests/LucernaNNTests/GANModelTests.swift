import LucernaCore
import XCTest

@testable import LucernaNN

/// The conditional attention GAN's generator and critic: shapes, conditioning, the projection formula, errors,
/// and first- and second-order gradient checks in Float64.
final class GANModelTests: XCTestCase {
    func testGeneratorDrawsImagesInRangeForEveryAttentionPlacementAndConditioning() throws {
        let generator = RandomGenerator(seed: 3)
        for resolution in [nil, 7, 14] as [Int?] {
            let model = try GANGenerator(
                latent: 16, channels: (8, 4), attentionResolution: resolution, generator: generator)
            let (noise, labels) = try model.example(batch: 3, generator: generator)
            let images = try model.forward(noise, condition: labels)
            XCTAssertEqual(images.shape, [3, 1, 28, 28])
            XCTAssertLessThanOrEqual(images.toDoubles().map(abs).max() ?? 2, 1, "tanh output")
            XCTAssertEqual(model.attention != nil, resolution != nil)
        }
        let fused = try GANGenerator(
            latent: 8, conditioning: .vector(dimension: 5), channels: (4, 4), attentionResolution: nil, imageSize: 12,
            outputChannels: 3, generator: generator)
        let (noise, condition) = try fused.example(batch: 2, generator: generator)
        XCTAssertEqual(condition.shape, [2, 5])
        XCTAssertEqual(try fused.forward(noise, condition: condition).shape, [2, 3, 12, 12])
        // The label changes the image.
        let model = try GANGenerator(latent: 4, channels: (4, 4), attentionResolution: 14, generator: generator)
        model.eval()
        let same = try Tensor.normal([1, 4], generator: generator)
        let zero = try model.forward(same, condition: try Tensor(shape: [1], integers: [0]))
        let one = try model.forward(same, condition: try Tensor(shape: [1], integers: [1]))
        XCTAssertGreaterThan(try (zero - one).abs().max().item(), 0)
    }

    func testCriticScoresAndTheProjectionTerm() throws {
        let generator = RandomGenerator(seed: 4)
        for conditioning in [GANCritic.Conditioning.projection, .concat] {
            for spectral in [false, true] {
                let critic = try GANCritic(
                    conditioning: conditioning, channels: (4, 8), attentionResolution: 7, spectralNorm: spectral,
                    generator: generator)
                let (images, labels) = try critic.example(batch: 3, generator: generator)
                XCTAssertEqual(try critic.forward(images, condition: labels).shape, [3], "\(conditioning) \(spectral)")
            }
        }
        // Projection: D(x, y) = ψ(φ(x)) + embed(y)ᵀφ(x). With the embedding zeroed the label has no effect; with
        // it, changing the label changes the score by (embed(y₁) − embed(y₂))ᵀφ(x), which is not zero.
        let critic = try GANCritic(channels: (4, 8), attentionResolution: 14, dtype: .float64, generator: generator)
        let (images, _) = try critic.example(batch: 2, generator: generator)
        let first = try Tensor(shape: [2], integers: [0, 1])
        let second = try Tensor(shape: [2], integers: [5, 9])
        let withLabels = try critic.forward(images, condition: first) - critic.forward(images, condition: second)
        XCTAssertGreaterThan(try withLabels.abs().max().item(), 1e-6)
        critic.labelEmbedding.weight.fill(0)
        let withoutLabels = try critic.forward(images, condition: first) - critic.forward(images, condition: second)
        XCTAssertEqual(try withoutLabels.abs().max().item(), 0)
    }

    /// The projection's class embedding starts Glorot-uniform (Miyato & Koyama's code), not N(0, 1).
    func testProjectionEmbeddingStartsGlorotUniform() throws {
        let critic = try GANCritic(channels: (8, 16), attentionResolution: nil, generator: RandomGenerator(seed: 4))
        let weights = critic.labelEmbedding.weight.toDoubles()
        let bound = (6.0 / Double(10 + 16 * 49)).squareRoot()
        XCTAssertEqual(weights.count, 10 * 16 * 49)
        XCTAssertLessThanOrEqual(weights.map(abs).max() ?? 0, bound)
        XCTAssertGreaterThan(weights.map(abs).max() ?? 0, 0.9 * bound)
    }

    func testBadConditionsAndSettingsAreErrorsNamingTheModel() throws {
        let model = try GANGenerator(latent: 4, channels: (4, 4))
        let critic = try GANCritic(channels: (4, 4))
        let noise = try Tensor.zeros([2, 4])
        let cases: [(() throws -> Tensor, String)] = [
            (
                { try model.forward(noise, condition: try Tensor(shape: [2], integers: [0, 10])) },
                "label 10 is outside 0..<10"
            ),
            ({ try model.forward(noise, condition: try Tensor.zeros([2])) }, "int64 labels [2]"),
            (
                { try model.forward(try Tensor.zeros([2, 5]), condition: try Tensor(shape: [2], integers: [0, 1])) },
                "noise must be [N, 4]"
            ),
            ({ try model(noise) }, "needs a condition"),
            (
                {
                    try critic.forward(
                        try Tensor.zeros([2, 1, 28, 27]), condition: try Tensor(shape: [2], integers: [0, 1]))
                }, "images must be [N, 1, 28, 28]"
            ),
            (
                {
                    try critic.forward(
                        try Tensor.zeros([2, 1, 28, 28]), condition: try Tensor(shape: [2], integers: [-1, 1]))
                }, "label -1"
            ),
        ]
        for (body, message) in cases {
            XCTAssertThrowsError(try body(), message) { error in XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        XCTAssertThrowsError(try GANGenerator(attentionResolution: 10)) { error in
            XCTAssertTrue("\(error)".contains("7 or 14"), "\(error)")
        }
        XCTAssertThrowsError(try GANCritic(imageSize: 30)) { error in
            XCTAssertTrue("\(error)".contains("multiple of 4"), "\(error)")
        }
    }

    func testGeneratorAndCriticPassFirstAndSecondOrderChecks() throws {
        let generator = RandomGenerator(seed: 8)
        var failures: [String] = []
        func check(_ name: String, _ model: ConditionalModel) throws {
            let (example, condition) = try model.example(batch: 3, generator: generator)
            let input = try example.requiringGrad()
            let reports = try GradientCheck.check(leaves: [input] + model.parameters()) {
                try model.forward(input, condition: condition)
            }
            for report in reports where !report.passed { failures.append("\(name): \(report)") }
        }
        // The generator in training mode (batch statistics), with its attention block at s/2.
        let small = try GANGenerator(
            latent: 3, embedding: 2, channels: (2, 2), attentionResolution: 4, imageSize: 8, dtype: .float64,
            generator: generator)
        small.attention?.gamma.fill(0.5)
        try check("generator", small)
        // The critic in every form: no attention, attention at s/4 or s/2; with and without spectral norm
        // (evaluation mode: u and v held); projection or concat conditioning.
        for attention in [nil, 2, 4] as [Int?] {
            for spectral in [false, true] {
                for conditioning in [GANCritic.Conditioning.projection, .concat] {
                    let critic = try GANCritic(
                        classes: 3, conditioning: conditioning, channels: (2, 2), attentionResolution: attention,
                        spectralNorm: spectral, imageSize: 8, dtype: .float64, generator: generator)
                    critic.attention?.gamma.fill(0.5)
                    critic.eval()
                    try check(
                        "critic attention \(attention.map(String.init) ?? "none") \(conditioning) sn \(spectral)",
                        critic)
                }
            }
        }
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
    }
}
