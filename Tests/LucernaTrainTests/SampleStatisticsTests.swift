import LucernaCore
import LucernaTestSupport
import XCTest

@testable import LucernaTrain

final class SampleStatisticsTests: XCTestCase {
    /// Student's t quantiles and distribution function against SciPy (`scripts/golden/make_statistics_golden.py`),
    /// over integer and fractional degrees of freedom and both tails.
    func testStudentTMatchesSciPy() throws {
        let fixture = try Fixture("statistics.safetensors")
        let probabilities = try fixture["t.probabilities"].toDoubles()
        let degrees = try fixture["t.degrees"].toDoubles()
        let points = try fixture["t.points"].toDoubles()
        let quantiles = try fixture["t.quantile"].toDoubles()
        let distribution = try fixture["t.cdf"].toDoubles()
        for (row, probability) in probabilities.enumerated() {
            for (column, freedom) in degrees.enumerated() {
                let expected = quantiles[row * degrees.count + column]
                let actual = try XCTUnwrap(
                    SampleStatistics.studentTQuantile(probability, degreesOfFreedom: freedom))
                XCTAssertEqual(
                    actual, expected, accuracy: 1e-9 * max(1, abs(expected)), "ppf(\(probability), \(freedom))")
            }
        }
        for (row, point) in points.enumerated() {
            for (column, freedom) in degrees.enumerated() {
                let expected = distribution[row * degrees.count + column]
                let actual = try XCTUnwrap(SampleStatistics.studentTDistribution(point, degreesOfFreedom: freedom))
                XCTAssertEqual(actual, expected, accuracy: 1e-12, "cdf(\(point), \(freedom))")
            }
        }
    }

    func testConfidenceIntervalMatchesSciPy() throws {
        let fixture = try Fixture("statistics.safetensors")
        for count in [3, 5, 10] {
            let values = try fixture["interval.\(count).values"].toDoubles()
            let bounds = try fixture["interval.\(count).bounds"].toDoubles()
            let interval = try XCTUnwrap(SampleStatistics.confidenceInterval(values))
            XCTAssertEqual(interval.lower, bounds[0], accuracy: 1e-12, "\(count) values")
            XCTAssertEqual(interval.upper, bounds[1], accuracy: 1e-12, "\(count) values")
        }
    }

    /// What has no interval says so instead of inventing one.
    func testDegenerateInputsGiveNil() {
        XCTAssertNil(SampleStatistics.confidenceInterval([0.9]))
        XCTAssertNil(SampleStatistics.confidenceInterval([]))
        XCTAssertNil(SampleStatistics.confidenceInterval([0.9, 0.8], level: 1))
        XCTAssertNil(SampleStatistics.studentTQuantile(0, degreesOfFreedom: 3))
        XCTAssertNil(SampleStatistics.studentTQuantile(0.9, degreesOfFreedom: 0))
        XCTAssertNil(SampleStatistics.studentTDistribution(.nan, degreesOfFreedom: 3))
        XCTAssertEqual(SampleStatistics.studentTQuantile(0.5, degreesOfFreedom: 3), 0)
        // Equal values: an interval of zero width at the mean.
        let flat = SampleStatistics.confidenceInterval([0.5, 0.5, 0.5])
        XCTAssertEqual(flat?.lower, 0.5)
        XCTAssertEqual(flat?.upper, 0.5)
    }
}
