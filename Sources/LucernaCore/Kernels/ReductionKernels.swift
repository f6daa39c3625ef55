import CKernels
import Foundation

/// Reductions over one axis of a tensor viewed as `[outer, length, inner]`.
enum ReductionKernels {
    /// `output[o, i] = Σ_k input[o, k, i]`. Rows (inner == 1) accumulate in Double for accuracy.
    static func sum<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, outer: Int, length: Int, inner: Int
    ) {
        if inner == 1, T.self == Float.self {
            let source = UnsafeRawPointer(input).assumingMemoryBound(to: Float.self)
            Parallel.forEachChunk(outer, costPerItem: length) { range in
                for o in range { output[o] = T(sumRow(source + o * length, length)) }
            }
            return
        }
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

    /// A Float row's sum in Double, sixteen lanes at a time in two accumulators, then the lanes and the tail
    /// in a fixed order (`lucerna_sum_row_f32`, AVX2 where the CPU has it, the same bits without): the same
    /// bits for the same row whatever the thread count.
    static func sumRow(_ row: UnsafePointer<Float>, _ length: Int) -> Double {
        lucerna_sum_row_f32(row, length)
    }

    /// Softmax (or log-softmax) along the axis in one pass per row: the row's maximum as the shift (0 when it
    /// is not finite, so a row of −∞ gives NaN as in PyTorch), `exp(x − shift)` and its sum, then the quotient
    /// (or `x − shift − log sum`).
    static func softmax<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, outer: Int, length: Int, inner: Int,
        logarithmic: Bool
    ) {
        if inner == 1, T.self == Float.self {
            let source = UnsafeRawPointer(input).assumingMemoryBound(to: Float.self)
            let destination = UnsafeMutableRawPointer(output).assumingMemoryBound(to: Float.self)
            Parallel.forEachChunk(outer, costPerItem: 4 * length) { range in
                for o in range { softmaxRow(source + o * length, destination + o * length, length, logarithmic) }
            }
            return
        }
        Parallel.forEachChunk(outer, costPerItem: 4 * length * inner) { range in
            for o in range {
                for i in 0..<inner {
                    let source = input + o * length * inner + i
                    let destination = output + o * length * inner + i
                    var largest = -T.infinity
                    for k in 0..<length where !(source[k * inner] <= largest) { largest = source[k * inner] }
                    let shift = largest.isFinite ? largest : 0
                    var total: T = 0
                    for k in 0..<length {
                        let value = T.exponential(source[k * inner] - shift)
                        total += value
                        if !logarithmic { destination[k * inner] = value }
                    }
                    if logarithmic {
                        let offset = shift + T.logarithm(total)
                        for k in 0..<length { destination[k * inner] = source[k * inner] - offset }
                    } else {
                        let scale = 1 / total
                        for k in 0..<length { destination[k * inner] *= scale }
                    }
                }
            }
        }
    }

    /// The softmax's backward in one kernel, for backward passes that are not recorded: `y ⊙ (g − Σ g ⊙ y)`,
    /// or for the log-softmax `g − e^y · Σ g`, along the axis of `[outer, length, inner]`.
    static func softmaxBackward<T: TensorFloat>(
        gradient: UnsafePointer<T>, output: UnsafePointer<T>, _ result: UnsafeMutablePointer<T>, outer: Int,
        length: Int, inner: Int, logarithmic: Bool
    ) {
        if inner == 1, !logarithmic {
            // Contiguous rows: the dot product and the update vectorise.
            Parallel.forEachChunk(outer, costPerItem: 3 * length) { range in
                for o in range {
                    let (g, y, r) = (gradient + o * length, output + o * length, result + o * length)
                    var total: T = 0
                    for k in 0..<length { total += g[k] * y[k] }
                    for k in 0..<length { r[k] = y[k] * (g[k] - total) }
                }
            }
            return
        }
        Parallel.forEachChunk(outer, costPerItem: 3 * length * inner) { range in
            for o in range {
                for i in 0..<inner {
                    let base = o * length * inner + i
                    var total: T = 0
                    if logarithmic {
                        for k in 0..<length { total += gradient[base + k * inner] }
                        for k in 0..<length {
                            let position = base + k * inner
                            result[position] = gradient[position] - T.exponential(output[position]) * total
                        }
                    } else {
                        for k in 0..<length { total += gradient[base + k * inner] * output[base + k * inner] }
                        for k in 0..<length {
                            let position = base + k * inner
                            result[position] = output[position] * (gradient[position] - total)
                        }
                    }
                }
            }
        }
    }

    /// One contiguous Float row of ``softmax(_:_:outer:length:inner:logarithmic:)``, the maximum and the
    /// exponentials sixteen lanes at a time.
    private static func softmaxRow(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, _ length: Int,
        _ logarithmic: Bool
    ) {
        // A NaN element makes its exponential, the sum and so the whole row NaN, as in PyTorch.
        let largest = VectorExponential.maximum(source, count: length)
        let shift: Float = largest.isFinite ? largest : 0
        if logarithmic {
            var total: Double = 0
            for k in 0..<length { total += Double(expf(source[k] - shift)) }
            let offset = shift + Float(Foundation.log(total))
            for k in 0..<length { destination[k] = source[k] - offset }
            return
        }
        let total = VectorExponential.exponentials(source, destination, count: length, shift: shift)
        let scale = Float(1 / total)
        for k in 0..<length { destination[k] *= scale }
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
