import LucernaTestSupport
import XCTest

@testable import LucernaCore
@testable import LucernaNN

/// Five optimizer steps on a least-squares problem equal PyTorch's parameters after each step.
final class OptimizerGoldenTests: XCTestCase {
    func run(_ name: String, _ make: ([Tensor]) throws -> Optimizer) throws {
        let fixture = try Fixture("optimizers.safetensors")
        let weight = try fixture["weight0"].copy().requiringGrad()
        let bias = try fixture["bias0"].copy().requiringGrad()
        let optimizer = try make([weight, bias])
        for step in 1...5 {
            optimizer.zeroGrad()
            let prediction = try fixture["x"].matmul(weight, transposingSelf: false, transposingOther: true) + bias
            try Losses.mse(prediction, fixture["y"]).backward()
            try optimizer.step()
            assertClose(weight, try fixture["\(name).weight\(step)"], tolerance: 1e-12, "\(name) weight step \(step)")
            assertClose(bias, try fixture["\(name).bias\(step)"], tolerance: 1e-12, "\(name) bias step \(step)")
        }
    }

    func testSGD() throws {
        try run("sgd") { try SGD(parameters: $0, learningRate: 0.1) }
        try run("sgd_momentum") {
            try SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01)
        }
        try run("sgd_nesterov") {
            try SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true)
        }
    }

    func testAdamFamily() throws {
        try run("adam") { try Adam(parameters: $0, learningRate: 0.01, weightDecay: 0.1) }
        try run("adam_amsgrad") { try Adam(parameters: $0, learningRate: 0.01, betas: (0.8, 0.99), amsgrad: true) }
        try run("adamw") { try AdamW(parameters: $0, learningRate: 0.01, weightDecay: 0.1) }
    }

    func testVectorizedFloat32AdamWMatchesTheScalarUpdate() throws {
        // 37 elements: four 8-lane blocks and a scalar tail.
        let generator = RandomGenerator(seed: 8)
        let start = try Tensor.normal([37], dtype: .float64, generator: generator)
        let gradients = try (0..<3).map { _ in try Tensor.normal([37], dtype: .float64, generator: generator) }
        func run(_ dtype: DType) throws -> [Double] {
            let parameter = try start.to(dtype).copy().requiringGrad()
            let optimizer = try AdamW(parameters: [parameter], learningRate: 0.01, weightDecay: 0.1)
            for gradient in gradients {
                parameter.grad = try gradient.to(dtype)
                try optimizer.step()
            }
            return parameter.toDoubles()
        }
        for (single, double) in zip(try run(.float32), try run(.float64)) {
            XCTAssertEqual(single, double, accuracy: 1e-6)
        }
    }

    func testRMSprop() throws {
        try run("rmsprop") { try RMSprop(parameters: $0, learningRate: 0.01, weightDecay: 0.01) }
        try run("rmsprop_centered_momentum") {
            try RMSprop(parameters: $0, learningRate: 0.01, momentum: 0.9, centered: true)
        }
    }

    func testGradientClippingByGlobalNorm() throws {
        let fixture = try Fixture("optimizers.safetensors")
        let weight = try fixture["weight0"].copy().requiringGrad()
        let bias = try fixture["bias0"].copy().requiringGrad()
        let prediction = try fixture["x"].matmul(weight, transposingSelf: false, transposingOther: true) + bias
        try (Losses.mse(prediction, fixture["y"]) * 50).backward()
        let norm = try Optimizer.clipGradientNorm([weight, bias], maxNorm: 1)
        XCTAssertEqual(norm, try fixture["clip.norm"].item(), accuracy: 1e-10)
        assertClose(weight.grad, try fixture["clip.weight_grad"], tolerance: 1e-10, "clipped weight gradient")
        assertClose(bias.grad, try fixture["clip.bias_grad"], tolerance: 1e-10, "clipped bias gradient")
    }

    func testSchedulesMatchPyTorch() throws {
        let fixture = try Fixture("schedules.safetensors")
        let kinds: [(String, LearningRateSchedule.Kind)] = [
            ("cosine", .cosine(maximumSteps: 10, minimumRate: 0.001)),
            ("step", .step(stepSize: 3, gamma: 0.5)),
            ("exponential", .exponential(gamma: 0.9)),
            ("warmup_cosine", .warmupCosine(warmupSteps: 3, totalSteps: 10, startFactor: 0.1, minimumRate: 0)),
        ]
        for (name, kind) in kinds {
            let optimizer = try SGD(
                parameters: [try Tensor.zeros([1], dtype: .float64).requiringGrad()], learningRate: 0.1)
            let schedule = try LearningRateSchedule(kind, optimizer: optimizer)
            var rates: [Double] = []
            for _ in 0..<12 {
                rates.append(schedule.currentRate)
                try schedule.step()
            }
            let expected = try fixture[name].toDoubles()
            for (epoch, (rate, target)) in zip(rates, expected).enumerated() {
                XCTAssertEqual(rate, target, accuracy: 1e-12, "\(name) epoch \(epoch)")
            }
        }
    }
}
