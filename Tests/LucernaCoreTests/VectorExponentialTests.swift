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

    /// SiLU and its derivative in Float32 (the AVX2 kernel behind `silu`; the scalar loop on other CPUs) against the
    /// same functions in Double, within a few ulp of the result's magnitude, over the range where they vary and
    /// beyond, with the special values; Float64 tensors take that scalar loop.
    func testSiLUAndItsDerivativeMatchDouble() throws {
        var values: [Float] = stride(from: -110, through: 110, by: 0.0193).map { Float($0) }
        values += [-.infinity, .infinity, .nan, 0, -0, 1e-30, -1e-30, 1e30, -1e30]
        let tensor = try Tensor(shape: [values.count], scalars: values)
        let wide = try tensor.to(.float64)
        let implementations = [
            ("float32", try tensor.silu().toFloats(), try tensor.siluDerivative().toFloats()),
            (
                "float64", try wide.silu().toDoubles().map { Float($0) },
                try wide.siluDerivative().toDoubles().map { Float($0) }
            ),
        ]
        for (implementation, forward, derivative) in implementations {
            for (index, value) in values.enumerated() {
                let x = Double(value)
                let sigmoid = 1 / (1 + Foundation.exp(-x))
                let expected = (x * sigmoid, sigmoid * (1 + x * (1 - sigmoid)))
                for (result, reference, name) in [
                    (forward[index], expected.0, "silu"), (derivative[index], expected.1, "d"),
                ] {
                    let label = "\(implementation) \(name)(\(value)) = \(result)"
                    // NaN stays NaN; as in PyTorch, silu(∞) = ∞, silu(−∞) and the derivative at ±∞ are NaN (∞·0).
                    if value.isNaN || (value.isInfinite && (name == "d" || value < 0)) {
                        XCTAssertTrue(result.isNaN, label)
                    } else if value.isInfinite {
                        XCTAssertEqual(result, value, label)
                    } else {
                        // Within a few ulp of the result, or of 1 where the result is smaller.
                        let tolerance = 4 * Float(Swift.max(Swift.abs(reference), 1)).ulp
                        XCTAssertEqual(Double(result), reference, accuracy: Double(tolerance), label)
                    }
                }
            }
        }
        // Float64 tensors take the scalar path, the same function.
        let doubles = try Tensor(shape: [3], doubles: [-2, 0.5, 40])
        let silu = try doubles.silu().toDoubles()
        for (result, x) in zip(silu, [-2.0, 0.5, 40]) {
            XCTAssertEqual(result, x / (1 + Foundation.exp(-x)), accuracy: 1e-15)
        }
    }
}
