import LucernaCore
import LucernaTestSupport
import XCTest

@testable import LucernaComponents

/// SpRAy's numerics against scikit-learn and SciPy (`scripts/golden/make_spray_golden.py`).
final class SpectralClusteringTests: XCTestCase {
    let samples = 150
    let features = 64

    func testNeighboursEigenvaluesAndEigenvectorsMatchScikitLearnAndSciPy() throws {
        let fixture = try Fixture("spray.safetensors")
        let points = try fixture["points"].toDoubles()
        let neighbours = try SpectralEmbedding.nearestNeighbours(
            points: points, samples: samples, features: features, neighbours: 10)
        XCTAssertEqual(neighbours.flatMap { $0 }, try fixture["neighbours"].toIntegers(), "nearest first, as sklearn")

        let embedding = try SpectralEmbedding(
            points: points, samples: samples, features: features, neighbours: 10, components: 8,
            normalizeRows: false)
        let expected = try fixture["eigenvalues"].toDoubles()
        for (value, reference) in zip(embedding.eigenvalues, expected) {
            XCTAssertEqual(value, reference, accuracy: 1e-10)
        }
        // Every eigenvalue is simple here: the same vectors, with sklearn's sign rule.
        let vectors = try fixture["eigenvectors"].toDoubles()
        for component in 0..<8 {
            for sample in 0..<samples {
                XCTAssertEqual(
                    embedding.coordinates[sample * 8 + component], vectors[component * samples + sample],
                    accuracy: 1e-8, "component \(component), sample \(sample)")
            }
        }
    }

    func testNeighboursAcrossBlocksAndThreadsMatchABruteForceSearch() throws {
        // 700 samples: three row blocks of 256, so both halves of an off-diagonal block and every thread's
        // heaps are exercised.
        let (count, width, k) = (700, 6, 7)
        let generator = RandomGenerator(seed: 9)
        let points = (0..<(count * width)).map { _ in generator.nextUniform() }
        let found = try SpectralEmbedding.nearestNeighbours(
            points: points, samples: count, features: width, neighbours: k)
        for sample in 0..<count {
            let expected = (0..<count).filter { $0 != sample }.map { other -> (Double, Int) in
                (
                    (0..<width).reduce(0.0) {
                        $0 + (points[sample * width + $1] - points[other * width + $1])
                            * (points[sample * width + $1] - points[other * width + $1])
                    }, other
                )
            }.sorted { $0 < $1 }.prefix(k).map(\.1)
            XCTAssertEqual(found[sample], Array(expected), "sample \(sample)")
        }
        XCTAssertThrowsError(
            try SpectralEmbedding.nearestNeighbours(points: points, samples: count, features: width, neighbours: count))
    }

    func testSpectralClusteringFindsScikitLearnsPartition() throws {
        let fixture = try Fixture("spray.safetensors")
        let points = try fixture["points"].toDoubles()
        let embedding = try SpectralEmbedding(
            points: points, samples: samples, features: features, neighbours: 10, components: 3)
        let labels = try KMeans(clusters: 3).fit(points: embedding.coordinates, samples: samples, features: 3).labels
        XCTAssertEqual(try adjustedRandIndex(labels, try fixture["spectral_labels"].toIntegers()), 1)
        let ward = try AgglomerativeClustering(clusters: 3).fit(
            points: embedding.coordinates, samples: samples, features: 3)
        XCTAssertEqual(try adjustedRandIndex(ward.labels, try fixture["spectral_labels"].toIntegers()), 1)
    }

    func testKMeansReachesScikitLearnsOptimum() throws {
        let fixture = try Fixture("spray.safetensors")
        let points = try fixture["points"].toDoubles()
        let result = try KMeans(clusters: 3).fit(points: points, samples: samples, features: features, seed: 1)
        XCTAssertEqual(try adjustedRandIndex(result.labels, try fixture["kmeans_labels"].toIntegers()), 1)
        XCTAssertEqual(result.inertia, try fixture["kmeans_inertia"].toDoubles()[0], accuracy: 1e-10)
        XCTAssertThrowsError(try KMeans(clusters: 200).fit(points: points, samples: samples, features: features))
    }

    func testBlockedDistancesHaveTheBitsOfOneAtATime() {
        // Seven rows (a block of four and three left over) of 13 features.
        let generator = RandomGenerator(seed: 4)
        let (count, features) = (7, 13)
        let rows = (0..<(count * features)).map { _ in generator.nextNormal() }
        let point = (0..<features).map { _ in generator.nextNormal() }
        var blocked = [Double](repeating: .nan, count: count)
        rows.withUnsafeBufferPointer { rows in
            point.withUnsafeBufferPointer { point in
                blocked.withUnsafeMutableBufferPointer { output in
                    KMeans.squaredDistances(
                        to: point.baseAddress!, rows: rows.baseAddress!, count: count, features: features,
                        into: output.baseAddress!)
                }
            }
        }
        for row in 0..<count {
            XCTAssertEqual(blocked[row], KMeans.squaredDistance(rows, row, point, 0, features), "row \(row)")
        }
    }

    func testWardMergesAtSciPysHeights() throws {
        let fixture = try Fixture("spray.safetensors")
        let points = try fixture["points"].toDoubles()
        let result = try AgglomerativeClustering(clusters: 3).fit(points: points, samples: samples, features: features)
        XCTAssertEqual(try adjustedRandIndex(result.labels, try fixture["ward_labels"].toIntegers()), 1)
        let heights = try fixture["ward_heights"].toDoubles()
        XCTAssertEqual(result.merges.count, heights.count)
        for (merge, height) in zip(result.merges, heights) { XCTAssertEqual(merge.distance, height, accuracy: 1e-12) }
    }

    func testDBSCANFindsScikitLearnsClustersAndNoise() throws {
        let fixture = try Fixture("spray.safetensors")
        let points = try fixture["dbscan_points"]
        let dbscan = try Registry.standard().build(
            .clustering, "dbscan", options: ["eps": .number(0.3), "minimum_samples": .number(5)])
        let labels = try dbscan.fit(points).toIntegers()
        let expected = try fixture["dbscan_labels"].toIntegers()
        XCTAssertEqual(labels.map { $0 == -1 }, expected.map { $0 == -1 }, "the same noise samples")
        XCTAssertEqual(try adjustedRandIndex(labels, expected), 1)
        XCTAssertEqual(Set(labels.filter { $0 >= 0 }), [0, 1, 2])
    }

    func testRegisteredClusteringsTakeTensorsAndRefuseBadPoints() throws {
        let registry = Registry.standard()
        let fixture = try Fixture("spray.safetensors")
        let points = try fixture["points"]
        for (name, options) in [
            ("kmeans", ["clusters": ConfigValue.number(3), "seed": .number(1)]),
            ("agglomerative", ["clusters": .number(3)]),
        ] {
            let clustering = try registry.build(.clustering, name, options: options)
            let labels = try clustering.fit(points).toIntegers()
            let expected = try fixture[name == "kmeans" ? "kmeans_labels" : "ward_labels"].toIntegers()
            XCTAssertEqual(try adjustedRandIndex(labels, expected), 1, name)
            XCTAssertThrowsError(try clustering.fit(try Tensor.zeros([4]))) { error in
                XCTAssert("\(error)".contains("[samples, features]"), "\(error)")
            }
            XCTAssertThrowsError(try clustering.fit(try Tensor(shape: [2, 1], doubles: [0, .nan])))
        }
    }

    func testAdjustedRandIndexMatchesScikitLearn() throws {
        let fixture = try Fixture("spray.safetensors")
        let value = try adjustedRandIndex(try fixture["ari_first"].toIntegers(), try fixture["ari_second"].toIntegers())
        XCTAssertEqual(value, try fixture["ari_value"].toDoubles()[0], accuracy: 1e-12)
        XCTAssertEqual(try adjustedRandIndex([0, 0, 1, 1], [5, 5, 2, 2]), 1)
        XCTAssertThrowsError(try adjustedRandIndex([0, 1], [0]))
    }
}
