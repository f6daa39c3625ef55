/// Reductions over one axis of a tensor viewed as `[outer, length, inner]`.
enum ReductionKernels {
    /// `output[o, i] = Σ_k input[o, k, i]`. Rows (inner == 1) accumulate in Double for accuracy.
    static func sum<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, outer: Int, length: Int, inner: Int
    ) {
        if inner == 1 {
            Parallel.forEachChunk(outer, costPerItem: length) { range in
                for o in range {
                    let row = input + o * length
                    var total: Double = 0
                    for k in 0..<length { total += Double(row[k]) }
                    output[o] = T(total)
                }
            }
            return
        }
        Parallel.forEachChunk(outer, costPerItem: length * inner) { range in
            for o in range {
                let destination = output + o * inner
                destination.update(repeating: 0, count: inner)
                for k in 0..<length {
                    let source = input + (o * length + k) * inner
                    for i in 0..<inner { destination[i] += source[i] }
                }
            }
        }
    }

    /// Index of the largest (or smallest) value along the axis; the first one on ties; NaN wins.
    static func argExtremum<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<Int64>, outer: Int, length: Int, inner: Int,
        largest: Bool
    ) {
        Parallel.forEachChunk(outer, costPerItem: length * inner) { range in
            for o in range {
                for i in 0..<inner {
                    let base = input + o * length * inner + i
                    var best = base[0]
                    var bestIndex = 0
                    if !best.isNaN {
                        for k in 1..<max(length, 1) {
                            let value = base[k * inner]
                            if value.isNaN {
                                bestIndex = k
                                break
                            }
                            if largest ? value > best : value < best {
                                best = value
                                bestIndex = k
                            }
                        }
                    }
                    output[o * inner + i] = Int64(bestIndex)
                }
            }
        }
    }

    /// `output[o, j, i] = input[o, index[o, j, i], i]` (torch.gather).
    static func gather<T>(
        _ input: UnsafePointer<T>, _ index: UnsafePointer<Int64>, _ output: UnsafeMutablePointer<T>,
        outer: Int, length: Int, selected: Int, inner: Int
    ) {
        Parallel.forEachChunk(outer, costPerItem: selected * inner) { range in
            for o in range {
                for j in 0..<selected {
                    let position = (o * selected + j) * inner
                    for i in 0..<inner {
                        output[position + i] = input[(o * length + Int(index[position + i])) * inner + i]
                    }
                }
            }
        }
    }

    /// `output[o, index[o, j, i], i] += input[o, j, i]` (torch.scatter_add), output pre-zeroed.
    static func scatterAdd<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ index: UnsafePointer<Int64>, _ output: UnsafeMutablePointer<T>,
        outer: Int, length: Int, selected: Int, inner: Int
    ) {
        Parallel.forEachChunk(outer, costPerItem: selected * inner) { range in
            for o in range {
                for j in 0..<selected {
                    let position = (o * selected + j) * inner
                    for i in 0..<inner {
                        output[(o * length + Int(index[position + i])) * inner + i] += input[position + i]
                    }
                }
            }
        }
    }

    /// `output[o, j, :] = input[o, index[j], :]` (torch.index_select).
    static func indexSelect<T>(
        _ input: UnsafePointer<T>, _ index: [Int], _ output: UnsafeMutablePointer<T>,
        outer: Int, length: Int, inner: Int
    ) {
        let selected = index.count
        Parallel.forEachChunk(outer * selected, costPerItem: inner) { range in
            for row in range {
                let o = row / selected
                let j = row % selected
                (output + row * inner).update(from: input + (o * length + index[j]) * inner, count: inner)
            }
        }
    }

    /// `output[o, index[j], :] += input[o, j, :]` (torch.index_add), output pre-zeroed. Serial over `j`
    /// because indices may repeat.
    static func indexAdd<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ index: [Int], _ output: UnsafeMutablePointer<T>,
        outer: Int, length: Int, inner: Int
    ) {
        let selected = index.count
        Parallel.forEachChunk(outer, costPerItem: selected * inner) { range in
            for o in range {
                for j in 0..<selected {
                    let source = input + (o * selected + j) * inner
                    let destination = output + (o * length + index[j]) * inner
                    for i in 0..<inner { destination[i] += source[i] }
                }
            }
        }
    }
}
