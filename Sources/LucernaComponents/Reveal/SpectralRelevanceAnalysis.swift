import LucernaCore

/// Spectral Relevance Analysis (SpRAy) over the explanations of one class's samples, as Reveal-to-Revise
/// uses it: each heatmap summed over channels, average-pooled to at most `size`×`size` cells (PyTorch's
/// adaptive average pooling bins), divided by its total |relevance| (sum 1 for non-negative maps) and
/// flattened; the ``SpectralEmbedding`` of the maps (k-nearest-neighbour affinity, `components`
/// eigenvectors); each clustering run on the first `cluster_components` eigenvectors with rows of unit
/// length (Ng, Jordan & Weiss; by default as many as the eigengap suggests: the count before the largest
/// gap among the eigenvalues, at least 2 — all 32 spread the bulk of a class over a sphere as widely as
/// an artifact cluster sits from it); and the clusters of each
/// ranked by how much they look like a shortcut: far from the other samples in the embedding (`distance`,
/// between the cluster's mean row and the rest's, in the coordinates the clusterings saw) and with its extra
/// relevance concentrated in a small region (`concentration`: where the cluster's mean |map| exceeds the
/// rest's, one over the effective number of cells that excess covers, its participation ratio (Σe)²/Σe²: 1/k
/// for an excess spread evenly over k cells, 1/cells for an even spread). The ranking score is their product; the largest clusters of a class (the bulk) sit far from
/// nothing and rank last. Each cluster also carries its `similarity` to the top-ranked one (the cosine of
/// their excess maps), which tells a second cluster of the same artifact from a way of drawing the class.
///
/// Reference: Lapuschkin et al., "Unmasking Clever Hans predictors and assessing what machines really
/// learn", Nature Communications 2019; Pahde et al., "Reveal to Revise", MICCAI 2023 (SpRAy in its Reveal step).
public struct SpectralRelevanceAnalysis {
    public static let options = [
        OptionSpec("neighbours", .integer, default: .number(32), "k of the nearest-neighbour affinity"),
        OptionSpec("components", .integer, default: .number(32), "eigenvectors of the spectral embedding"),
        OptionSpec("size", .integer, default: .number(16), "maps are average-pooled to at most size × size cells"),
        OptionSpec(
            "cluster_components", .integer, default: .number(0),
            "eigenvectors the clusterings see (0: the eigengap's count, at least 2)"),
        OptionSpec("seed", .integer, default: .number(0), "the eigensolver's start block"),
    ]
    public var neighbours = 32
    public var components = 32
    public var size = 16
    public var clusterComponents = 0
    public var seed: UInt64 = 0

    public init() {}

    public init(config: Config) throws {
        neighbours = try config.positiveInteger("neighbours")
        components = try config.positiveInteger("components")
        size = try config.positiveInteger("size")
        clusterComponents = max(0, try config.integer("cluster_components"))
        seed = UInt64(max(0, try config.integer("seed")))
    }

    /// One cluster of a clustering, with the quantities it is ranked by.
    public struct Cluster: Sendable {
        public let label: Int
        public let members: [Int]
        public let share: Double
        public let distance: Double
        /// One over the effective number of cells of the cluster's excess relevance (its participation ratio).
        public let concentration: Double
        /// The cosine between this cluster's excess map (its mean |map| above the rest's) and the top-ranked
        /// cluster's: near 1 when both add relevance on the same spot (SpRAy split one artifact over two
        /// clusters), near 0 for a way of writing the class (1 for the top-ranked cluster itself).
        public internal(set) var similarity: Double = 1
        public var score: Double { distance * concentration }
    }

    /// The analysis: the maps as embedded (`[samples, height × width]`), the embedding, and per clustering
    /// the labels and the clusters ranked, most shortcut-like first.
    public struct Result {
        public let maps: [Double]
        public let samples: Int, height: Int, width: Int
        public let embedding: SpectralEmbedding
        /// How many eigenvectors the clusterings saw.
        public let clusterComponents: Int
        public let labels: [String: [Int]]
        public let rankings: [String: [Cluster]]
    }

    /// Heatmaps `[N, H, W]` or `[N, C, H, W]` summed over channels, pooled and normalised.
    public func preprocess(_ heatmaps: Tensor) throws -> (maps: [Double], samples: Int, height: Int, width: Int) {
        let owner = "reveal.spray"
        guard heatmaps.rank == 3 || heatmaps.rank == 4, heatmaps.shape[0] >= 2 else {
            throw TensorError(
                owner,
                "needs heatmaps [N, H, W] or [N, C, H, W] of at least 2 samples, got \(describe(shape: heatmaps.shape))"
            )
        }
        let values = heatmaps.toDoubles()
        guard values.allSatisfy(\.isFinite) else {
            throw TensorError(owner, "the heatmaps have NaN or infinite values")
        }
        let samples = heatmaps.shape[0]
        let channels = heatmaps.rank == 4 ? heatmaps.shape[1] : 1
        let (inputHeight, inputWidth) = (heatmaps.shape[heatmaps.rank - 2], heatmaps.shape[heatmaps.rank - 1])
        guard inputHeight >= 1, inputWidth >= 1 else { throw TensorError(owner, "empty heatmaps") }
        let (height, width) = (min(size, inputHeight), min(size, inputWidth))
        var maps = [Double](repeating: 0, count: samples * height * width)
        for sample in 0..<samples {
            for row in 0..<height {
                let rows = (row * inputHeight / height)..<(((row + 1) * inputHeight + height - 1) / height)
                for column in 0..<width {
                    let columns = (column * inputWidth / width)..<(((column + 1) * inputWidth + width - 1) / width)
                    var sum = 0.0
                    for channel in 0..<channels {
                        let base = (sample * channels + channel) * inputHeight * inputWidth
                        for y in rows { for x in columns { sum += values[base + y * inputWidth + x] } }
                    }
                    maps[(sample * height + row) * width + column] = sum / Double(rows.count * columns.count)
                }
            }
            let range = (sample * height * width)..<((sample + 1) * height * width)
            let total = maps[range].reduce(0) { $0 + abs($1) }
            if total > 0 { for index in range { maps[index] /= total } }
        }
        return (maps, samples, height, width)
    }

    /// Runs SpRAy on `heatmaps` with each named clustering on the embedding.
    public func analyze(_ heatmaps: Tensor, clusterings: [(name: String, clustering: Clustering)]) throws -> Result {
        let (maps, samples, height, width) = try preprocess(heatmaps)
        let cells = height * width
        let embedding = try SpectralEmbedding(
            points: maps, samples: samples, features: cells, neighbours: min(neighbours, samples - 1),
            components: min(components, samples), seed: seed)
        let count = Self.clusterComponents(requested: clusterComponents, eigenvalues: embedding.eigenvalues)
        let coordinates = try Tensor(
            shape: [samples, count],
            doubles: Self.leadingRows(embedding.coordinates, width: embedding.components, count: count))
        var labels: [String: [Int]] = [:]
        var rankings: [String: [Cluster]] = [:]
        for (name, clustering) in clusterings {
            let found = try clustering.fit(coordinates).toIntegers()
            guard found.count == samples else {
                throw TensorError(
                    "reveal.spray", "clustering \(name) returned \(found.count) labels for \(samples) samples")
            }
            labels[name] = found
            rankings[name] = Self.rank(
                labels: found, rows: coordinates.toDoubles(), dimensions: count, maps: maps, cells: cells)
        }
        return Result(
            maps: maps, samples: samples, height: height, width: width, embedding: embedding, clusterComponents: count,
            labels: labels, rankings: rankings)
    }

    /// `requested` when positive (at most all), else the eigengap heuristic: the number of eigenvalues
    /// before the largest gap between consecutive ones, at least 2.
    static func clusterComponents(requested: Int, eigenvalues: [Double]) -> Int {
        if requested > 0 { return min(requested, eigenvalues.count) }
        guard eigenvalues.count > 2 else { return eigenvalues.count }
        let gaps = (1..<eigenvalues.count).map { eigenvalues[$0] - eigenvalues[$0 - 1] }
        let largest = gaps.indices.max { gaps[$0] < gaps[$1] || (gaps[$0] == gaps[$1] && $0 > $1) } ?? 1
        return max(2, largest + 1)
    }

    /// The first `count` of each row's `width` coordinates, each row scaled to unit length.
    static func leadingRows(_ coordinates: [Double], width: Int, count: Int) -> [Double] {
        let samples = coordinates.count / max(1, width)
        var rows = [Double](repeating: 0, count: samples * count)
        for sample in 0..<samples {
            var norm = 0.0
            for axis in 0..<count {
                let value = coordinates[sample * width + axis]
                rows[sample * count + axis] = value
                norm += value * value
            }
            if norm > 0 { for axis in 0..<count { rows[sample * count + axis] /= norm.squareRoot() } }
        }
        return rows
    }

    /// The clusters of `labels` (noise, -1, left out), most shortcut-like first (score, then the smaller).
    /// `rows` are the coordinates the clusterings saw (`dimensions` per sample).
    static func rank(labels: [Int], rows: [Double], dimensions: Int, maps: [Double], cells: Int) -> [Cluster] {
        let samples = labels.count
        func meanRow(_ samples: [Int]) -> [Double] {
            var mean = [Double](repeating: 0, count: dimensions)
            for sample in samples {
                for axis in 0..<dimensions { mean[axis] += rows[sample * dimensions + axis] }
            }
            return mean.map { $0 / Double(max(1, samples.count)) }
        }
        typealias Ranked = (cluster: Cluster, excess: [Double])
        let found = Set(labels.filter { $0 >= 0 }).sorted().map { label -> Ranked in
            let members = (0..<samples).filter { labels[$0] == label }
            let others = (0..<samples).filter { labels[$0] != label }
            let distance =
                others.isEmpty
                ? 0
                : zip(meanRow(members), meanRow(others)).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            // Where the cluster's mean |map| exceeds the rest's, and on how many cells in effect: an artifact adds
            // relevance on a small spot; a way of writing a digit moves it along strokes. A share of the excess in
            // a fixed fraction of the cells (a tenth, the first version) saturated at 0.8-0.9 for strokes too, and
            // a stroke cluster further out in the embedding then outranked a pure artifact cluster.
            func meanMagnitude(_ samples: [Int]) -> [Double] {
                var mean = [Double](repeating: 0, count: cells)
                for sample in samples { for cell in 0..<cells { mean[cell] += abs(maps[sample * cells + cell]) } }
                return mean.map { $0 / Double(max(1, samples.count)) }
            }
            let rest = others.isEmpty ? [Double](repeating: 0, count: cells) : meanMagnitude(others)
            let excess = zip(meanMagnitude(members), rest).map { max(0, $0 - $1) }
            let total = excess.reduce(0, +)
            let squares = excess.reduce(0) { $0 + $1 * $1 }
            let cluster = Cluster(
                label: label, members: members, share: Double(members.count) / Double(samples),
                distance: distance, concentration: total > 0 ? squares / (total * total) : 0)
            return (cluster: cluster, excess: excess)
        }
        func key(_ entry: Ranked) -> (Double, Int, Int) {
            (entry.cluster.score, -entry.cluster.members.count, -entry.cluster.label)
        }
        let clusters = found.sorted { key($0) > key($1) }
        guard let leader = clusters.first?.excess else { return [] }
        func norm(_ values: [Double]) -> Double { values.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        return clusters.map { entry in
            var cluster = entry.cluster
            let product = zip(entry.excess, leader).reduce(0) { $0 + $1.0 * $1.1 }
            let scale = norm(entry.excess) * norm(leader)
            cluster.similarity = scale > 0 ? product / scale : 0
            return cluster
        }
    }

    /// A scatter plot of 2-D `points` (`[N, 2]`, each axis scaled to the picture) as an RGB image `[1, 3, size,
    /// size]` in [0, 1] on white: each point a 3 × 3 dot coloured by its label (the ten colours of matplotlib's
    /// `tab10`, noise −1 grey), points of `highlighted` labels drawn last and larger — SpRAy's embedding for a
    /// report.
    public static func scatter(points: [Double], labels: [Int], size: Int, highlighted: Set<Int> = []) throws
        -> Tensor
    {
        let count = labels.count
        guard points.count == 2 * count, count > 0, (16...2048).contains(size) else {
            throw TensorError(
                "scatter",
                "expected [N, 2] points and N labels, size 16...2048; got \(points.count) values, \(count) labels, size \(size)"
            )
        }
        guard points.allSatisfy(\.isFinite) else { throw TensorError("scatter", "the points contain NaN or infinity") }
        let palette: [(Double, Double, Double)] = [
            (0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74),
            (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.5, 0.5, 0.5), (0.74, 0.74, 0.13), (0.09, 0.75, 0.81),
        ]
        var pixels = [Double](repeating: 1, count: 3 * size * size)
        let margin = 4.0
        func scaled(_ axis: Int) -> [Double] {
            let values = (0..<count).map { points[$0 * 2 + axis] }
            let low = values.min() ?? 0
            let high = values.max() ?? 1
            let span = high > low ? high - low : 1
            return values.map { margin + ($0 - low) / span * (Double(size) - 1 - 2 * margin) }
        }
        let (columns, rows) = (scaled(0), scaled(1))
        let order = (0..<count).sorted {
            (highlighted.contains(labels[$0]) ? 1 : 0, $0) < (highlighted.contains(labels[$1]) ? 1 : 0, $1)
        }
        for sample in order {
            let label = labels[sample]
            let colour = label < 0 ? (0.75, 0.75, 0.75) : palette[label % palette.count]
            let radius = highlighted.contains(label) ? 2 : 1
            let (column, row) = (Int(columns[sample].rounded()), size - 1 - Int(rows[sample].rounded()))
            for y in max(0, row - radius)...min(size - 1, row + radius) {
                for x in max(0, column - radius)...min(size - 1, column + radius) {
                    pixels[y * size + x] = colour.0
                    pixels[size * size + y * size + x] = colour.1
                    pixels[2 * size * size + y * size + x] = colour.2
                }
            }
        }
        return try Tensor(shape: [1, 3, size, size], doubles: pixels)
    }
}
