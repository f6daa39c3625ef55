import XCTest

@testable import LucernaCore
@testable import LucernaNN

/// The WGAN-GP gradient penalty is a double backward; its gradient with respect to the critic's
/// parameters must match finite differences (this also guards the pruned ∂D/∂x pass, which must still
/// record the edges to the parameters).
final class GradientPenaltyTests: XCTestCase {
    func testPenaltyGradientReachesCriticParameters() throws {
        let generator = RandomGenerator(seed: 6)
        let critic = try ConditionalCritic(dtype: .float64, generator: generator)
        let real = try Tensor.uniform([2, 1, 28, 28], low: -1, high: 1, dtype: .float64, generator: generator)
        let fake = try Tensor.uniform([2, 1, 28, 28], low: -1, high: 1, dtype: .float64, generator: generator)
        let labels = try Tensor(shape: [2], integers: [3, 7])
        let reports = try GradientCheck.check(
            leaves: [critic.convolution1.bias!, critic.score.bias!], secondOrder: false
        ) {
            try critic.gradientPenalty(real: real, fake: fake, labels: labels, generator: RandomGenerator(seed: 1))
        }
        XCTAssert(reports.allSatisfy(\.passed), "\(reports)")
        let penalty = try critic.gradientPenalty(
            real: real, fake: fake, labels: labels, generator: RandomGenerator(seed: 1))
        XCTAssertGreaterThan(try penalty.item(), 0)
        try penalty.backward()
        XCTAssertNotNil(critic.convolution2.weight.grad, "the penalty trains every critic layer")
    }
}
