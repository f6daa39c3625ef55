import LucernaCore

/// SpRAy's spectral embedding (Lapuschkin et al. 2019, as corelay computes it): a symmetric
/// k-nearest-neighbour affinity A = (K + Kᵀ)/2 over the samples (K[i, j] = 1 when j is one of i's k
/// nearest neighbours by Euclidean distance, i itself excluded), its normalised form M = D^-1/2 A D^-1/2,
/// and the eigenvectors of M's largest eigenvalues — those of the normalised Laplacian I − M nearest 0,
/// whose eigenvalues 1 − λ are reported — with each sample's row scaled to unit length.
///
/// Reference: Lapuschkin et al., "Unmasking Clever Hans predictors and assessing what machines really
/// learn", Nature Communications 2019; corelay's `SparseKNN`, `SymmetricNormalLaplacian`, `EigenDecomposition`;
/// Ng, Jordan & Weiss, "On Spectral Clustering", NIPS 2001.
public struct SpectralEmbedding: Sendable {
    /// The normalised Laplacian's smallest eigenvalues, ascending (the first is 0).
    public let eigenvalues: [Double]
    /// `[samples, components]`, row-major: each sample's coordinates (unit length when `normalizeRows`).
    public let coordinates: [Double]
    public let samples: Int
    public let components: Int
    /// The affinity A the embedding was computed from.
    public let affinity: SparseMatrix

    /// Embeds `samples` rows of `features` values (row-major).
    public init(
        points: [Double], samples: Int, features: Int, neighbours: Int = 32, components: Int = 32,
        normalizeRows: Bool = true, seed: UInt64 = 0
    ) throws {
        let affinity = try Self.nearestNeighbourAffinity(
            points: points, samples: samples, features: features, neighbours: neighbours)
        try self.init(affinity: affinity, components: components, normalizeRows: normalizeRows, seed: seed)
    }

    /// Embeds a given symmetric affinity.
    public init(affinity: SparseMatrix, components: Int = 32, normalizeRows: Bool = true, seed: UInt64 = 0) throws {
        let samples = affinity.size
        guard components >= 1, components <= samples else {
            throw TensorError("spectral_embedding", "asks for \(components) components of \(samples) samples")
        }
        let degrees = affinity.rowSums
        if let isolated = degrees.firstIndex(where: { !($0 > 0) }) {
            throw TensorError("spectral_embedding", "sample \(isolated) has no neighbour in the affinity")
        }
        let normalized = affinity.scaled(by: degrees.map { 1 / $0.squareRoot() })
        let result = try SymmetricEigensolver.largest(normalized, count: components, seed: seed)
        var coordinates = [Double](repeating: 0, count: samples * components)
        for component in 0..<components {
            for sample in 0..<samples {
                coordinates[sample * components + component] = result.vectors[component * samples + sample]
            }
        }
        if normalizeRows {
            for sample in 0..<samples {
                let row = (sample * components)..<((sample + 1) * components)
                let norm = coordinates[row].reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 0 { for index in row { coordinates[index] /= norm } }
            }
        }
        self.eigenvalues = result.values.map { 1 - $0 }
        self.coordinates = coordinates
        self.samples = samples
        self.components = components
        self.affinity = affinity
    }

    /// A = (K + Kᵀ)/2 for the `neighbours` nearest other samples of each (squared Euclidean distances
    /// ‖x‖² + ‖y‖² − 2 x·y through BLAS, row blocks in parallel; ties go to the lower index).
    public static func nearestNeighbourAffinity(points: [Double], samples: Int, features: Int, neighbours: Int)
        throws -> SparseMatrix
    {
        let neighbourLists = try nearestNeighbours(
            points: points, samples: samples, features: features, neighbours: neighbours)
        var entries: [(row: Int, column: Int, value: Double)] = []
        entries.reserveCapacity(2 * samples * neighbours)
        for (sample, list) in neighbourLists.enumerated() {
            for other in list {
                entries.append((sample, other, 0.5))
                entries.append((other, sample, 0.5))
            }
        }
        return try SparseMatrix(size: samples, entries: entries)
    }

    /// The indices of each sample's `neighbours` nearest other samples, nearest first.
    public static func nearestNeighbours(points: [Double], samples: Int, features: Int, neighbours: Int) throws
        -> [[Int]]
    {
        let operation = "nearest_neighbours"
        guard samples >= 2, features >= 1, points.count == samples * features else {
            throw TensorError(
                operation, "needs at least 2 samples of \(features) features, got \(points.count) values for \(samples)"
            )
        }
        guard neighbours >= 1, neighbours < samples else {
            throw TensorError(operation, "asks for \(neighbours) neighbours among \(samples) samples")
        }
        guard points.allSatisfy(\.isFinite) else {
            throw TensorError(operation, "the points have NaN or infinite values")
        }
        let norms = (0..<samples).map { sample in
            points[(sample * features)..<((sample + 1) * features)].reduce(0) { $0 + $1 * $1 }
        }
        // Squared distances by blocks of the upper triangle (x·y computed once for both samples), each
        // offered to a bounded max-heap per sample; threads keep their own heaps, merged at the end.
        let blockRows = 256
        let blocks = (samples + blockRows - 1) / blockRows
        let pairs = (0..<blocks).flatMap { first in (first..<blocks).map { (first, $0) } }
        let workers = max(1, min(Parallel.threadCount, pairs.count))
        let heaps = (0..<workers).map { _ in NeighbourHeaps(samples: samples, count: neighbours) }
        points.withUnsafeBufferPointer { pointBuffer in
            Parallel.forEachChunk(workers, costPerItem: 1 << 20) { range in
                var products = [Double](repeating: 0, count: blockRows * blockRows)
                for worker in range {
                    let heap = heaps[worker]
                    for pair in stride(from: worker, to: pairs.count, by: workers) {
                        let (first, second) = pairs[pair]
                        let (rowStart, columnStart) = (first * blockRows, second * blockRows)
                        let rows = min(blockRows, samples - rowStart)
                        let columns = min(blockRows, samples - columnStart)
                        products.withUnsafeMutableBufferPointer { output in
                            Double.gemm(
                                false, true, rows, columns, features, 1, pointBuffer.baseAddress! + rowStart * features,
                                features, pointBuffer.baseAddress! + columnStart * features, features, 0,
                                output.baseAddress!, columns)
                        }
                        products.withUnsafeBufferPointer { block in
                            heap.offer(
                                block: block.baseAddress!, rows: rows, columns: columns, rowStart: rowStart,
                                columnStart: columnStart, norms: norms, mirrored: first != second)
                        }
                    }
                }
            }
        }
        return (0..<samples).map { sample in NeighbourHeaps.merged(heaps, sample: sample) }
    }
}

/// A bounded max-heap of (distance, index) per sample, ordered by distance then index.
final class NeighbourHeaps: @unchecked Sendable {
    let count: Int
    var keys: [Double]
    var indices: [Int]
    var filled: [Int]

    init(samples: Int, count: Int) {
        self.count = count
        keys = [Double](repeating: 0, count: samples * count)
        indices = [Int](repeating: 0, count: samples * count)
        filled = [Int](repeating: 0, count: samples)
    }

    @inline(__always)
    static func before(_ a: Double, _ ai: Int, _ b: Double, _ bi: Int) -> Bool { a < b || (a == b && ai < bi) }

    /// Offers every pair of a block of inner products x·y (`rows` samples from `rowStart` against `columns`
    /// from `columnStart`) as squared distances ‖x‖² + ‖y‖² − 2x·y: to the row's sample, and to the column's
    /// when the block is `mirrored` (off the diagonal of the upper triangle). Raw pointers keep the inner
    /// loop free of exclusivity and bounds checks.
    func offer(
        block products: UnsafePointer<Double>, rows: Int, columns: Int, rowStart: Int, columnStart: Int,
        norms: [Double], mirrored: Bool
    ) {
        let count = self.count
        norms.withUnsafeBufferPointer { norms in
            keys.withUnsafeMutableBufferPointer { keys in
                indices.withUnsafeMutableBufferPointer { indices in
                    filled.withUnsafeMutableBufferPointer { filled in
                        let (keys, indices, filled, norms) = (
                            keys.baseAddress!, indices.baseAddress!, filled.baseAddress!, norms.baseAddress!
                        )
                        for row in 0..<rows {
                            let sample = rowStart + row
                            for column in 0..<columns {
                                let other = columnStart + column
                                if other == sample { continue }
                                let distance = max(
                                    0, norms[sample] + norms[other] - 2 * products[row * columns + column])
                                Self.offer(distance, other, to: sample, count, keys, indices, filled)
                                if mirrored { Self.offer(distance, sample, to: other, count, keys, indices, filled) }
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func exchange<Element>(_ pointer: UnsafeMutablePointer<Element>, _ a: Int, _ b: Int) {
        let held = pointer[a]
        pointer[a] = pointer[b]
        pointer[b] = held
    }

    /// Keeps `index` among `sample`'s `count` nearest when it is nearer than the farthest kept.
    @inline(__always)
    static func offer(
        _ key: Double, _ index: Int, to sample: Int, _ count: Int, _ keys: UnsafeMutablePointer<Double>,
        _ indices: UnsafeMutablePointer<Int>, _ filled: UnsafeMutablePointer<Int>
    ) {
        let keys = keys + sample * count
        let indices = indices + sample * count
        let size = filled[sample]
        if size < count {
            var child = size
            keys[child] = key
            indices[child] = index
            filled[sample] = size + 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard before(keys[parent], indices[parent], keys[child], indices[child]) else { break }
                exchange(keys, parent, child)
                exchange(indices, parent, child)
                child = parent
            }
            return
        }
        guard before(key, index, keys[0], indices[0]) else { return }
        keys[0] = key
        indices[0] = index
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var largest = parent
            if left < count, before(keys[largest], indices[largest], keys[left], indices[left]) { largest = left }
            if right < count, before(keys[largest], indices[largest], keys[right], indices[right]) { largest = right }
            if largest == parent { return }
            exchange(keys, parent, largest)
            exchange(indices, parent, largest)
            parent = largest
        }
    }

    /// The nearest `count` of `sample` over all heaps, nearest first.
    static func merged(_ heaps: [NeighbourHeaps], sample: Int) -> [Int] {
        var candidates: [(Double, Int)] = []
        for heap in heaps {
            let base = sample * heap.count
            for slot in 0..<heap.filled[sample] {
                candidates.append((heap.keys[base + slot], heap.indices[base + slot]))
            }
        }
        candidates.sort { before($0.0, $0.1, $1.0, $1.1) }
        return candidates.prefix(heaps.first?.count ?? 0).map(\.1)
    }
}
