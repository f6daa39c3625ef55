import LucernaComponents
import LucernaCore
import LucernaTestSupport
import XCTest

/// Top-k IoU and Spearman rank correlation between two sets of maps against numpy and scipy
/// (`scripts/golden/make_explanation_shift_golden.py`), with ties from ReLU-style zeros.
final class ExplanationShiftTests: XCTestCase {
    func testMatchesScipyAndNumpy() throws {
        let fixture = try Fixture("explanation_shift.safetensors")
        for top in [0.2, 0.5] {
            let result = try ExplanationShift.compare(fixture["first"], fixture["second"], top: top)
            for (a, b) in zip(result.intersectionOverUnion, try fixture["iou.\(top)"].toDoubles()) {
                XCTAssertEqual(a, b, accuracy: 1e-6, "IoU at \(top)")
            }
            for (a, b) in zip(result.rankCorrelation, try fixture["rank_correlation.\(top)"].toDoubles()) {
                XCTAssertEqual(a, b, accuracy: 1e-12, "Spearman")
            }
        }
        let constant = try Tensor.zeros([2, 4], dtype: .float64)
        XCTAssertEqual(
            try ExplanationShift.compare(
                constant,
                fixture["first"].reshaped([5, 36]).sliced(axis: 0, start: 0, end: 2).sliced(axis: 1, start: 0, end: 4)
            ).rankCorrelation, [0, 0])
        XCTAssertThrowsError(try ExplanationShift.compare(constant, Tensor.zeros([2, 5], dtype: .float64)))
        XCTAssertThrowsError(try ExplanationShift.compare(constant, constant, top: 0))
    }
}
