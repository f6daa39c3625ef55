import Foundation
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

    /// Class-probability targets, as PyTorch reads float targets of the logits' shape: one-hot targets give
    /// the class-index values PyTorch computed (with and without smoothing), and soft targets q give
    /// PyTorch's batch-mean KL(q ‖ p) plus the mean entropy of q.
    func testCrossEntropyWithClassProbabilities() throws {
        let fixture = try Fixture("losses.safetensors")
        let (logits, target) = (try fixture["logits"], try fixture["target"])
        let oneHot = try Tensor.oneHot(target, classes: logits.shape[1]).to(logits.dtype)
        XCTAssertEqual(
            try Losses.crossEntropy(logits, oneHot).item(), try fixture["cross_entropy.value"].item(), accuracy: 1e-12)
        XCTAssertEqual(
            try Losses.crossEntropy(logits, oneHot, labelSmoothing: 0.1).item(),
            try fixture["cross_entropy_smoothing.value"].item(), accuracy: 1e-12)
        let soft = try fixture["kl_target"]
        let entropy = soft.toDoubles().reduce(0) { $1 > 0 ? $0 - $1 * Foundation.log($1) : $0 } / Double(soft.shape[0])
        XCTAssertEqual(
            try Losses.crossEntropy(logits, soft).item(), try fixture["kl_div_batchmean.value"].item() + entropy,
            accuracy: 1e-12)
        XCTAssertThrowsError(try Losses.crossEntropy(logits, target.to(logits.dtype))) { error in
            XCTAssert("\(error)".contains("targets must be int64 class indices"), "\(error)")
        }
        XCTAssertThrowsError(try Losses.crossEntropy(logits, soft, ignoreIndex: 0))
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
