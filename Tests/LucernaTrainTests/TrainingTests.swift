import LucernaCore
import LucernaData
import LucernaNN
import XCTest

@testable import LucernaTrain

final class TrainingTests: XCTestCase {
    /// Two Gaussian blobs per class in 2-D, fully separable by an MLP.
    func blobs(count: Int, generator: RandomGenerator) throws -> ImageClassificationSet {
        var points: [Float] = []
        var labels: [Int] = []
        let centres: [(Double, Double)] = [(-2, -2), (2, 2), (-2, 2), (2, -2)]
        for index in 0..<count {
            let cluster = index % 4
            points.append(Float(centres[cluster].0 + 0.5 * generator.nextNormal()))
            points.append(Float(centres[cluster].1 + 0.5 * generator.nextNormal()))
            labels.append(cluster < 2 ? 0 : 1)  // an XOR layout: not linearly separable
        }
        return ImageClassificationSet(
            images: try Tensor(shape: [count, 2], scalars: points),
            labels: try Tensor(shape: [count], integers: labels))
    }

    func testMLPLearnsXORBlobs() throws {
        let generator = RandomGenerator(seed: 11)
        let data = try blobs(count: 800, generator: generator)
        let model = try MLP(inputFeatures: 2, hidden: (16, 16), classes: 2, generator: generator)
        let optimizer = try AdamW(parameters: model.parameters(), learningRate: 1e-2)
        let indices = Array(0..<data.count)
        let before = try ClassifierTraining.accuracy(model: model, data: data)
        var loss = 0.0
        for _ in 0..<30 {
            loss = try ClassifierTraining.trainEpoch(
                model: model, data: data, indices: indices, batchSize: 32,
                optimizer: optimizer, generator: generator)
        }
        let after = try ClassifierTraining.accuracy(model: model, data: data)
        XCTAssertLessThan(before, 0.8)
        XCTAssertGreaterThan(after, 0.97, "loss \(loss)")
    }

    func testSameSeedAndThreadsGiveBitIdenticalTraining() throws {
        func run() throws -> [Float] {
            let generator = RandomGenerator(seed: 21)
            let images = try Tensor.uniform([96, 1, 28, 28], generator: generator)
            let labels = try Tensor(shape: [96], integers: (0..<96).map { $0 % 10 })
            let data = ImageClassificationSet(images: images, labels: labels)
            let model = try CNN(channels: (4, 8), hidden: 16, generator: generator)
            let optimizer = try AdamW(parameters: model.parameters())
            _ = try ClassifierTraining.trainEpoch(
                model: model, data: data, indices: Array(0..<96), batchSize: 32,
                optimizer: optimizer, generator: generator)
            return model.parameters().flatMap { $0.toFloats() }
        }
        XCTAssertEqual(try run(), try run())
    }

    func testStratifiedSplitKeepsClassProportions() {
        let labels = (0..<1000).map { $0 % 4 == 0 ? 1 : 0 }  // 25% positives
        let split = ClassifierTraining.stratifiedSplit(
            labels: labels, validationFraction: 0.2,
            generator: RandomGenerator(seed: 2))
        XCTAssertEqual(split.validation.count, 200)
        XCTAssertEqual(split.validation.filter { labels[$0] == 1 }.count, 50)
        XCTAssertEqual(Set(split.train).intersection(split.validation).count, 0)
        XCTAssertEqual(split.train.count + split.validation.count, 1000)
    }

    func testNonFiniteLossStopsWithAClearError() throws {
        let generator = RandomGenerator(seed: 3)
        let images = try Tensor.full([8, 2], value: .nan)
        let data = ImageClassificationSet(
            images: images, labels: try Tensor(shape: [8], integers: Array(repeating: 0, count: 8)))
        let model = try MLP(inputFeatures: 2, hidden: (4, 4), classes: 2, generator: generator)
        XCTAssertThrowsError(
            try ClassifierTraining.trainEpoch(
                model: model, data: data, indices: Array(0..<8), batchSize: 4,
                optimizer: try AdamW(parameters: model.parameters()),
                generator: generator)
        ) { error in
            XCTAssert("\(error)".contains("loss became nan at step 0"), "\(error)")
        }
    }
}
