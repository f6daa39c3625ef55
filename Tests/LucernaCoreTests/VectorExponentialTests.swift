import Foundation
import XCTest

@testable import LucernaCore

/// The sixteen-lane `Float` exponential behind `exp` and the softmax.
final class VectorExponentialTests: XCTestCase {
    /// Within 2 ulp of the correctly rounded e^x (from Double) over the whole finite range, and the special
    /// values as the C library gives them: e^−∞ = 0, e^∞ = ∞, NaN stays NaN, underflow and overflow.
    func testMatchesTheCorrectlyRoundedExponential() throws {
        var values: [Float] = stride(from: -104, through: 89, by: 0.0137).map { Float($0) }
        values += [-.infinity, .infinity, .nan, 0, -0, 1e-30, -1e-30, 88.72, 88.73, -87.5, -103.9, -150]
        // Blocks mixing in-range and special values exercise the lane-by-lane fallback.
        values += [-.infinity, 1, 2, 3, -.infinity, 0.5, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
        let tensor = try Tensor(shape: [values.count], scalars: values)
        let computed = try tensor.exp().toFloats()
        var worst: Float = 0
        for (value, result) in zip(values, computed) {
            let expected = Float(Foundation.exp(Double(value)))
            if value.isNaN {
                XCTAssertTrue(result.isNaN)
            } else if expected == 0 || expected.isInfinite {
                XCTAssertEqual(result, expected, "e^\(value)")
            } else if expected.isNormal {
                let ulps = abs(result - expected) / expected.ulp
                worst = max(worst, ulps)
                XCTAssertLessThanOrEqual(ulps, 2, "e^\(value) = \(result), expected \(expected)")
            } else {
                XCTAssertEqual(result, expected, accuracy: Float.leastNormalMagnitude, "e^\(value)")
            }
        }
        XCTAssertGreaterThan(worst, 0, "the vector path ran")
    }
}
