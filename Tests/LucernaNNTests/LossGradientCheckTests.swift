import XCTest

@testable import LucernaCore
@testable import LucernaNN

/// First- and second-order finite-difference checks of every loss with respect to its input (Float64).
final class LossGradientCheckTests: XCTestCase {
    func testLossesPassFirstAndSecondOrderChecks() throws {
        let generator = RandomGenerator(seed: 13)
        let targets = try Tensor(shape: [5], integers: [0, 2, 1, 2, 3])
        let weights = try Tensor(shape: [4], doubles: [0.5, 2, 1, 1.5])
        let binary = try Tensor.bernoulli([5, 4], probability: 0.5, dtype: .float64, generator: generator)
        let regression = try Tensor.normal([5, 4], dtype: .float64, generator: generator)
        let distribution = try Tensor.normal([5, 4], dtype: .float64, generator: generator).softmax(axis: 1)
        let cases: [(String, (Tensor) throws -> Tensor)] = [
            ("cross_entropy", { try Losses.crossEntropy($0, targets) }),
            (
                "cross_entropy weighted smoothed ignoring",
                {
                    try Losses.crossEntropy($0, targets, weight: weights, ignoreIndex: 1, labelSmoothing: 0.2)
                }
            ),
            ("nll", { try Losses.nll($0.logSoftmax(axis: 1), targets, weight: weights, reduction: .sum) }),
            ("bce_with_logits", { try Losses.binaryCrossEntropyWithLogits($0, binary) }),
            (
                "bce_with_logits pos_weight",
                {
                    try Losses.binaryCrossEntropyWithLogits($0, binary, positiveWeight: weights)
                }
            ),
            ("mse", { try Losses.mse($0, regression) }),
            ("l1", { try Losses.l1($0, regression, reduction: .none) }),
            ("kl_div", { try Losses.klDivergence($0.logSoftmax(axis: 1), distribution) }),
        ]
        var failures: [String] = []
        for (name, loss) in cases {
            let input = try Tensor.normal([5, 4], dtype: .float64, generator: generator)
            for report in try GradientCheck.check(inputs: [input], { try loss($0[0]) }) where !report.passed {
                failures.append("\(name): \(report)")
            }
        }
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
    }
}
