/// A square sparse matrix in compressed sparse row form (Float64), for graph affinities and Laplacians.
public struct SparseMatrix: Sendable, Equatable {
    /// The number of rows (and columns).
    public let size: Int
    /// Row `i`'s entries are at `rowStarts[i] ..< rowStarts[i + 1]` of `columns` and `values`.
    public let rowStarts: [Int]
    /// Column of each entry, increasing within a row.
    public let columns: [Int]
    /// Value of each entry.
    public let values: [Double]

    /// From (row, column, value) triples; entries at the same position are added.
    public init(size: Int, entries: [(row: Int, column: Int, value: Double)]) throws {
        guard size >= 0 else { throw TensorError("sparse_matrix", "negative size \(size)") }
        if let bad = entries.first(where: { !(0..<size).contains($0.row) || !(0..<size).contains($0.column) }) {
            throw TensorError("sparse_matrix", "entry (\(bad.row), \(bad.column)) outside a \(size)×\(size) matrix")
        }
        guard entries.allSatisfy({ $0.value.isFinite }) else {
            throw TensorError("sparse_matrix", "an entry is NaN or infinite")
        }
        let sorted = entries.sorted { ($0.row, $0.column) < ($1.row, $1.column) }
        var starts = [Int](repeating: 0, count: size + 1)
        var columns: [Int] = []
        var values: [Double] = []
        columns.reserveCapacity(sorted.count)
        values.reserveCapacity(sorted.count)
        var previous: (row: Int, column: Int)?
        for entry in sorted {
            if let last = previous, last == (entry.row, entry.column) {
                values[values.count - 1] += entry.value
                continue
            }
            columns.append(entry.column)
            values.append(entry.value)
            starts[entry.row + 1] += 1
            previous = (entry.row, entry.column)
        }
        for row in 0..<size { starts[row + 1] += starts[row] }
        self.init(size: size, rowStarts: starts, columns: columns, values: values)
    }

    init(size: Int, rowStarts: [Int], columns: [Int], values: [Double]) {
        self.size = size
        self.rowStarts = rowStarts
        self.columns = columns
        self.values = values
    }

    /// Each row's sum.
    public var rowSums: [Double] {
        (0..<size).map { row in values[rowStarts[row]..<rowStarts[row + 1]].reduce(0, +) }
    }

    /// D·A·D for the diagonal matrix D = diag(`scales`).
    public func scaled(by scales: [Double]) -> SparseMatrix {
        var scaledValues = values
        for row in 0..<size {
            for index in rowStarts[row]..<rowStarts[row + 1] {
                scaledValues[index] *= scales[row] * scales[columns[index]]
            }
        }
        return SparseMatrix(size: size, rowStarts: rowStarts, columns: columns, values: scaledValues)
    }

    /// The product with `count` vectors of length `size` stored one after another, into `output` (same layout).
    /// The vectors are first laid side by side (row-major `size`×`count`), so that each stored entry reads one
    /// contiguous run of `count` values; every sum runs over the row's entries in stored order, four vectors at
    /// a time, so the bits are those of one vector at a time.
    public func multiply(
        _ vectors: UnsafePointer<Double>, count: Int, into output: UnsafeMutablePointer<Double>
    ) {
        let size = size
        guard count > 0, size > 0 else { return }
        var interleaved = [Double](repeating: 0, count: size * count)
        var products = [Double](repeating: 0, count: size * count)
        for vector in 0..<count {
            for row in 0..<size { interleaved[row * count + vector] = vectors[vector * size + row] }
        }
        rowStarts.withUnsafeBufferPointer { starts in
            columns.withUnsafeBufferPointer { columns in
                values.withUnsafeBufferPointer { values in
                    interleaved.withUnsafeBufferPointer { interleaved in
                        products.withUnsafeMutableBufferPointer { products in
                            let work = UncheckedSendable(
                                value: (starts, columns, values, interleaved.baseAddress!, products.baseAddress!))
                            Parallel.forEachChunk(size, costPerItem: max(1, count * (values.count / max(1, size)))) {
                                rows in
                                let (starts, columns, values, source, target) = work.value
                                for row in rows {
                                    let (first, last) = (starts[row], starts[row + 1])
                                    let output = target + row * count
                                    var vector = 0
                                    while vector + 4 <= count {
                                        var (sum0, sum1, sum2, sum3) = (0.0, 0.0, 0.0, 0.0)
                                        for index in first..<last {
                                            let value = values[index]
                                            let input = source + columns[index] * count + vector
                                            sum0 += value * input[0]
                                            sum1 += value * input[1]
                                            sum2 += value * input[2]
                                            sum3 += value * input[3]
                                        }
                                        (output[vector], output[vector + 1]) = (sum0, sum1)
                                        (output[vector + 2], output[vector + 3]) = (sum2, sum3)
                                        vector += 4
                                    }
                                    for vector in vector..<count {
                                        var sum = 0.0
                                        for index in first..<last {
                                            sum += values[index] * source[columns[index] * count + vector]
                                        }
                                        output[vector] = sum
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for vector in 0..<count {
            for row in 0..<size { output[vector * size + row] = products[row * count + vector] }
        }
    }

    /// The connected components of the graph whose edges are the stored nonzero entries (of a symmetric
    /// matrix): a component
    /// index per node, components numbered in order of their first node.
    public func connectedComponents() -> (labels: [Int], count: Int) {
        var labels = [Int](repeating: -1, count: size)
        var count = 0
        var stack: [Int] = []
        for start in 0..<size where labels[start] < 0 {
            labels[start] = count
            stack.append(start)
            while let node = stack.popLast() {
                for index in rowStarts[node]..<rowStarts[node + 1] where values[index] != 0 {
                    let next = columns[index]
                    if labels[next] < 0 {
                        labels[next] = count
                        stack.append(next)
                    }
                }
            }
            count += 1
        }
        return (labels, count)
    }
}
