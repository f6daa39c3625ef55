import LucernaCore
import LucernaTestSupport
import XCTest

@testable import LucernaComponents

/// SpRAy over heatmaps: the preprocessing by hand, and an artifact cluster found and ranked first.
final class SpectralRelevanceAnalysisTests: XCTestCase {
    /// `count` 28×28 heatmaps: a central blob (jittered by up to a pixel) plus noise; every `every`-th also carries a bright 4×4
    /// patch in the top-left corner (the artifact). Returns the maps and the artifact samples.
    static func heatmaps(count: Int, every: Int, seed: UInt64) throws -> (Tensor, [Int]) {
        let generator = RandomGenerator(seed: seed)
        var values = [Double](repeating: 0, count: count * 28 * 28)
        var artifact: [Int] = []
        for sample in 0..<count {
            let (centreX, centreY) = (
                14 + 2 * (generator.nextUniform() - 0.5), 14 + 2 * (generator.nextUniform() - 0.5)
            )
            let patched = sample % every == 0
            if patched { artifact.append(sample) }
            for y in 0..<28 {
                for x in 0..<28 {
                    let squared =
                        (Double(x) - centreX) * (Double(x) - centreX) + (Double(y) - centreY) * (Double(y) - centreY)
                    var value = exp(-squared / 30) + 0.05 * generator.nextUniform()
                    if patched && x < 4 && y < 4 { value += 3 }
                    values[(sample * 28 + y) * 28 + x] = value
                }
            }
        }
        return (try Tensor(shape: [count, 28, 28], doubles: values), artifact)
    }

    func testPreprocessingSumsChannelsPoolsAndNormalises() throws {
        // One sample, two channels of 4×4 pooled to 2×2: each cell the mean of its 2×2 block, summed over
        // channels, then divided by the total |value|.
        let first = (0..<16).map(Double.init)
        let second = [Double](repeating: -1, count: 16)
        var analysis = SpectralRelevanceAnalysis()
        analysis.size = 2
        let maps = try Tensor(shape: [2, 2, 4, 4], doubles: first + second + second + first)
        let (values, samples, height, width) = try analysis.preprocess(maps)
        XCTAssertEqual([samples, height, width], [2, 2, 2])
        let pooled = [2.5, 4.5, 10.5, 12.5].map { $0 - 1 }  // block means of 0..15, minus 1 from the second channel
        let total = pooled.reduce(0) { $0 + abs($1) }
        for (value, expected) in zip(values[0..<4], pooled.map { $0 / total }) {
            XCTAssertEqual(value, expected, accuracy: 1e-15)
        }
        XCTAssertEqual(Array(values[0..<4]), Array(values[4..<8]), "channel order does not matter")
        XCTAssertThrowsError(try analysis.preprocess(try Tensor.zeros([3, 4]))) { error in
            XCTAssert("\(error)".contains("[N, H, W]"), "\(error)")
        }
        XCTAssertThrowsError(try analysis.preprocess(try Tensor(shape: [2, 1, 1], doubles: [1, .infinity])))
    }

    func testTheArtifactClusterRanksFirst() throws {
        // 40 patched maps: more than the 32 neighbours each sample links to, as in a class of a real data set.
        let (maps, artifact) = try Self.heatmaps(count: 400, every: 10, seed: 4)
        let analysis = SpectralRelevanceAnalysis()
        let result = try analysis.analyze(maps, clusterings: [("kmeans", KMeans(clusters: 8))])
        XCTAssertEqual([result.height, result.width], [16, 16])
        let ranking = try XCTUnwrap(result.rankings["kmeans"])
        // Two components (patched and clean maps share no neighbours), then the clean maps' own structure; the
        // eigengap sees 5 eigenvectors, and k-means with SpRAy's usual surplus of clusters splits the bulk.
        for value in result.embedding.eigenvalues.prefix(2) { XCTAssertEqual(value, 0, accuracy: 1e-9) }
        XCTAssertGreaterThan(result.embedding.eigenvalues[2], 1e-3)
        XCTAssertEqual(result.clusterComponents, 5)
        XCTAssertEqual(ranking.count, 8)
        XCTAssertEqual(ranking[0].members, artifact, "the patched maps form the top-ranked cluster")
        XCTAssertGreaterThan(ranking[0].concentration, ranking.last!.concentration)
        XCTAssertEqual(ranking.map(\.share).reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertGreaterThan(ranking[0].score, ranking[1].score)
    }

    /// `counts[group]` maps of `cells` cells per group, each drawn by `draw` and divided by its sum; the
    /// group as label, and a one-hot row per sample (each group its own point in the embedding).
    static func groupedMaps(counts: [Int], cells: Int, draw: (Int, inout [Double]) -> Void) -> (
        maps: [Double], labels: [Int], rows: [Double]
    ) {
        var maps: [Double] = []
        var labels: [Int] = []
        var rows: [Double] = []
        for (group, count) in counts.enumerated() {
            for _ in 0..<count {
                var map = [Double](repeating: 0, count: cells)
                draw(group, &map)
                let total = map.reduce(0, +)
                maps += map.map { $0 / total }
                labels.append(group)
                rows += counts.indices.map { $0 == group ? 1 : 0 }
            }
        }
        return (maps, labels, rows)
    }

    func testConcentrationMeasuresTheExcessOverTheRestNotTheMapsOwnSparsity() {
        // 10 × 10 maps. Bulk (30): relevance on row 2 (a sparse map: all of it in a tenth of the cells); a style
        // (10): on row 7 and column 5; an artifact (10): row 2 plus a 2 × 2 corner patch. The style and the
        // artifact cluster sit equally far away in the embedding; only the artifact's extra relevance is on a
        // small spot, so it ranks first and the style last.
        let cells = 100
        let (maps, labels, rows) = Self.groupedMaps(counts: [30, 10, 10], cells: cells) { group, map in
            for column in 0..<10 { map[(group == 1 ? 7 : 2) * 10 + column] = 1 }
            if group == 1 { for row in 0..<10 { map[row * 10 + 5] = 1 } }
            if group == 2 { for cell in [88, 89, 98, 99] { map[cell] = 2.5 } }
        }
        let ranking = SpectralRelevanceAnalysis.rank(
            labels: labels, rows: rows, dimensions: 3, maps: maps, cells: cells)
        XCTAssertEqual(ranking.map(\.label), [2, 0, 1])
        XCTAssertEqual(ranking[0].concentration, 0.25, accuracy: 1e-12, "the excess is even on the 4 patch cells")
        // The style's 19 cells carry 1/19 each; on (2, 5), in row 2, the rest has more (0.0875), so its excess
        // is even on 18 cells.
        XCTAssertEqual(ranking[2].concentration, 1.0 / 18, accuracy: 1e-12)
        XCTAssertEqual(ranking[0].distance, ranking[2].distance, accuracy: 1e-12)
    }

    /// Artifact MNIST seed 3: stroke clusters whose excess fills a tenth of the cells lay further out in the
    /// embedding than the artifact's cluster. The share of the excess in a tenth of the cells gave both 1 and let
    /// the distance decide; the effective number of cells (9 for the stroke, 4 for the patch) ranks the artifact
    /// first while the stroke's distance is less than 9/4 of the artifact's.
    func testASmallSpotOutranksAShortStrokeFurtherOut() {
        let cells = 100
        var (maps, labels, rows) = Self.groupedMaps(counts: [30, 10, 10], cells: cells) { group, map in
            for column in 0..<10 { map[2 * 10 + column] = 1 }
            if group == 1 { for column in 1...9 { map[7 * 10 + column] = 1 } }
            if group == 2 { for cell in [88, 89, 98, 99] { map[cell] = 2.5 } }
        }
        for sample in labels.indices where labels[sample] == 1 { rows[sample * 3 + 1] = 2 }
        let ranking = SpectralRelevanceAnalysis.rank(
            labels: labels, rows: rows, dimensions: 3, maps: maps, cells: cells)
        XCTAssertEqual(ranking.map(\.label).prefix(2), [2, 1])
        XCTAssertEqual(ranking[1].concentration, 1.0 / 9, accuracy: 1e-12)
        XCTAssertGreaterThan(ranking[1].distance, 1.5 * ranking[0].distance, "the stroke lies further out")
    }

    func testSimilarityTellsASecondClusterOfTheArtifactFromAStyle() {
        // 10 × 10 maps. Bulk (30): row 2; a style (10): row 7 and column 5; the artifact split over two
        // clusters (8 and 10): row 2, or column 3, plus the same 2 × 2 corner patch. The split cluster's excess
        // lies mostly on the top cluster's patch; the style's on row 7 and column 5 (cosine 0 with the patch);
        // each cluster's similarity against excess maps computed here from the means.
        let cells = 100
        let (maps, labels, rows) = Self.groupedMaps(counts: [30, 10, 8, 10], cells: cells) { group, map in
            if group == 3 {
                for row in 0..<10 { map[row * 10 + 3] = 1 }
            } else {
                for column in 0..<10 { map[(group == 1 ? 7 : 2) * 10 + column] = 1 }
            }
            if group == 1 { for row in 0..<10 { map[row * 10 + 5] = 1 } }
            if group >= 2 { for cell in [88, 89, 98, 99] { map[cell] = 2.5 } }
        }
        let ranking = SpectralRelevanceAnalysis.rank(
            labels: labels, rows: rows, dimensions: 4, maps: maps, cells: cells)
        func excess(_ label: Int) -> [Double] {
            let inside = labels.indices.filter { labels[$0] == label }
            let outside = labels.indices.filter { labels[$0] != label }
            return (0..<cells).map { cell in
                let mean = inside.reduce(0) { $0 + maps[$1 * cells + cell] } / Double(inside.count)
                let rest = outside.reduce(0) { $0 + maps[$1 * cells + cell] } / Double(outside.count)
                return max(0, mean - rest)
            }
        }
        func cosine(_ first: [Double], _ second: [Double]) -> Double {
            let dot = zip(first, second).reduce(0) { $0 + $1.0 * $1.1 }
            let norms = (first.reduce(0) { $0 + $1 * $1 } * second.reduce(0) { $0 + $1 * $1 }).squareRoot()
            return dot / norms
        }
        let top = ranking[0].label
        XCTAssert([2, 3].contains(top), "an artifact cluster ranks first: \(ranking.map(\.label))")
        for cluster in ranking {
            XCTAssertEqual(cluster.similarity, cosine(excess(cluster.label), excess(top)), accuracy: 1e-12)
        }
        let similarity = Dictionary(uniqueKeysWithValues: ranking.map { ($0.label, $0.similarity) })
        XCTAssertEqual(similarity[top] ?? 0, 1, accuracy: 1e-12)
        XCTAssertGreaterThan(similarity[top == 2 ? 3 : 2] ?? 0, 0.5, "the artifact's second cluster")
        XCTAssertLessThan(similarity[1] ?? 1, 0.01, "the style")
        XCTAssertLessThan(similarity[0] ?? 1, 0.01, "the bulk")
    }

    func testScatterDrawsEachPointInItsLabelsColour() throws {
        // Three points at the corners and the centre of a 20 × 20 picture (4-pixel margin).
        let image = try SpectralRelevanceAnalysis.scatter(
            points: [0, 0, 1, 1, 0.5, 0.5], labels: [0, 1, -1], size: 20, highlighted: [1])
        XCTAssertEqual(image.shape, [1, 3, 20, 20])
        let pixels = image.toDoubles()
        func colour(_ x: Int, _ y: Int) -> [Double] { (0..<3).map { pixels[$0 * 400 + y * 20 + x] } }
        XCTAssertEqual(colour(4, 15), [0.12, 0.47, 0.71], "label 0 at the bottom left, tab10 blue")
        XCTAssertEqual(colour(15, 4), [1.0, 0.5, 0.05], "label 1 at the top right, orange")
        XCTAssertEqual(colour(17, 2), [1.0, 0.5, 0.05], "a highlighted point is drawn 5 × 5")
        XCTAssertEqual(colour(0, 0), [1, 1, 1], "white background")
        XCTAssertThrowsError(try SpectralRelevanceAnalysis.scatter(points: [0, 0], labels: [0, 1], size: 20))
        XCTAssertThrowsError(try SpectralRelevanceAnalysis.scatter(points: [.nan, 0], labels: [0], size: 20))
    }
}
