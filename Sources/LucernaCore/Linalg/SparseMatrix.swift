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
    public func multiply(
        _ vectors: UnsafePointer<Double>, count: Int, into output: UnsafeMutablePointer<Double>
    ) {
        let size = size
        rowStarts.withUnsafeBufferPointer { starts in
            columns.withUnsafeBufferPointer { columns in
                values.withUnsafeBufferPointer { values in
                    let work = UncheckedSendable(value: (starts, columns, values, vectors, output))
                    Parallel.forEachChunk(size, costPerItem: max(1, count * (values.count / max(1, size)))) { rows in
                        let (starts, columns, values, vectors, output) = work.value
                        for vector in 0..<count {
                            let source = vectors + vector * size
                            let target = output + vector * size
                            for row in rows {
                                var sum = 0.0
                                for index in starts[row]..<starts[row + 1] {
                                    sum += values[index] * source[columns[index]]
                                }
                                target[row] = sum
                            }
                        }
                    }
                }
            }
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
