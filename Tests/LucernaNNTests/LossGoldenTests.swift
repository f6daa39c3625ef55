import LucernaTestSupport
import XCTest

@testable import LucernaCore
@testable import LucernaNN

/// Loss values and input gradients equal PyTorch's.
final class LossGoldenTests: XCTestCase {
    func check(_ name: String, input: String, _ loss: (Tensor) throws -> Tensor) throws {
        let fixture = try Fixture("losses.safetensors")
        let leaf = try fixture[input].copy().requiringGrad()
        let value = try loss(leaf)
        XCTAssertEqual(try value.item(), try fixture["\(name).value"].item(), accuracy: 1e-12, name)
        try value.backward()
        assertClose(leaf.grad, try fixture["\(name).grad"], tolerance: 1e-12, "\(name) gradient")
    }

    func testClassificationLosses() throws {
        let fixture = try Fixture("losses.safetensors")
        let (target, weight) = (try fixture["target"], try fixture["weight"])
        try check("cross_entropy", input: "logits") { try Losses.crossEntropy($0, target) }
        try check("cross_entropy_weighted", input: "logits") { try Losses.crossEntropy($0, target, weight: weight) }
        try check("cross_entropy_smoothing", input: "logits") {
            try Losses.crossEntropy($0, target, labelSmoothing: 0.1)
        }
        try check("cross_entropy_all", input: "logits") {
            try Losses.crossEntropy($0, target, weight: weight, ignoreIndex: 1, labelSmoothing: 0.2)
        }
        try check("cross_entropy_sum", input: "logits") { try Losses.crossEntropy($0, target, reduction: .sum) }
        try check("nll", input: "logits") { try Losses.nll($0.logSoftmax(axis: 1), target, weight: weight) }
        try check("kl_div_batchmean", input: "logits") {
            try Losses.klDivergence($0.logSoftmax(axis: 1), fixture["kl_target"])
        }
    }

    func testBinaryAndRegressionLosses() throws {
        let fixture = try Fixture("losses.safetensors")
        let target = try fixture["bce_target"]
        try check("bce_with_logits", input: "bce_logits_input") { try Losses.binaryCrossEntropyWithLogits($0, target) }
        try check("bce_with_logits_pos_weight", input: "bce_logits_input") {
            try Losses.binaryCrossEntropyWithLogits($0, target, positiveWeight: fixture["bce_pos_weight"])
        }
        try check("mse", input: "bce_logits_input") { try Losses.mse($0, fixture["regression_target"]) }
        try check("l1", input: "bce_logits_input") { try Losses.l1($0, fixture["regression_target"]) }
    }

    func testLossArgumentErrorsAreValues() throws {
        let logits = try Tensor.zeros([2, 3])
        XCTAssertThrowsError(try Losses.crossEntropy(logits, Tensor(shape: [2], integers: [0, 3]))) { error in
            XCTAssert("\(error)".contains("out of range"), "\(error)")
        }
        XCTAssertThrowsError(try Losses.mse(logits, Tensor.zeros([3, 2])))
    }
}
