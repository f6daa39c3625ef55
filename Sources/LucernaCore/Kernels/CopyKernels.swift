/// One strided copy kernel serves reshaping views that need data movement: permute, expand (broadcast),
/// slice, pad, concatenation and their adjoints.
enum CopyKernels {
    /// Copies `sizes`-shaped elements from `source + sourceOffset` (element strides `sourceStrides`) to
    /// `destination + destinationOffset` (strides `destinationStrides`). With `accumulate`, adds instead.
    static func stridedCopy<T>(
        source: UnsafePointer<T>, sourceOffset: Int, sourceStrides: [Int],
        destination: UnsafeMutablePointer<T>, destinationOffset: Int, destinationStrides: [Int],
        sizes: [Int]
    ) {
        // 1. Drop size-1 dimensions and merge dimensions contiguous in both.
        var mergedSizes: [Int] = []
        var mergedSource: [Int] = []
        var mergedDestination: [Int] = []
        for axis in sizes.indices where sizes[axis] != 1 {
            if let last = mergedSizes.last,
                mergedSource.last! == sourceStrides[axis] * sizes[axis],
                mergedDestination.last! == destinationStrides[axis] * sizes[axis]
            {
                mergedSizes[mergedSizes.count - 1] = last * sizes[axis]
                mergedSource[mergedSource.count - 1] = sourceStrides[axis]
                mergedDestination[mergedDestination.count - 1] = destinationStrides[axis]
            } else {
                mergedSizes.append(sizes[axis])
                mergedSource.append(sourceStrides[axis])
                mergedDestination.append(destinationStrides[axis])
            }
        }
        if sizes.contains(0) { return }
        if mergedSizes.isEmpty {
            mergedSizes = [1]
            mergedSource = [0]
            mergedDestination = [0]
        }
        // 2. Loop over rows of the innermost dimension, in parallel for large copies.
        let inner = mergedSizes.last!
        let innerSource = mergedSource.last!
        let innerDestination = mergedDestination.last!
        let outerSizes = Array(mergedSizes.dropLast())
        let outerSource = Array(mergedSource.dropLast())
        let outerDestination = Array(mergedDestination.dropLast())
        let outerCount = outerSizes.reduce(1, *)
        Parallel.forEachChunk(outerCount, costPerItem: inner) { range in
            for outer in range {
                var remainder = outer
                var offsetSource = sourceOffset
                var offsetDestination = destinationOffset
                for axis in stride(from: outerSizes.count - 1, through: 0, by: -1) {
                    let index = remainder % outerSizes[axis]
                    remainder /= outerSizes[axis]
                    offsetSource += index * outerSource[axis]
                    offsetDestination += index * outerDestination[axis]
                }
                let from = source + offsetSource
                let to = destination + offsetDestination
                if innerSource == 1 && innerDestination == 1 {
                    to.update(from: from, count: inner)
                } else {
                    for index in 0..<inner { to[index * innerDestination] = from[index * innerSource] }
                }
            }
        }
    }

    /// Row-major element strides of a contiguous tensor of `shape`.
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }
}

extension Tensor {
    /// Copies this tensor's elements (viewed with `sourceStrides` from `sourceOffset`) into `destination`.
    func copyElements(
        sourceOffset: Int = 0, sourceStrides: [Int], into destination: Tensor, destinationOffset: Int = 0,
        destinationStrides: [Int], sizes: [Int]
    ) {
        switch dtype {
        case .float32:
            CopyKernels.stridedCopy(
                source: pointer(as: Float.self), sourceOffset: sourceOffset,
                sourceStrides: sourceStrides, destination: destination.pointer(as: Float.self),
                destinationOffset: destinationOffset, destinationStrides: destinationStrides,
                sizes: sizes)
        case .float64:
            CopyKernels.stridedCopy(
                source: pointer(as: Double.self), sourceOffset: sourceOffset,
                sourceStrides: sourceStrides, destination: destination.pointer(as: Double.self),
                destinationOffset: destinationOffset, destinationStrides: destinationStrides,
                sizes: sizes)
        case .int64:
            CopyKernels.stridedCopy(
                source: pointer(as: Int64.self), sourceOffset: sourceOffset,
                sourceStrides: sourceStrides, destination: destination.pointer(as: Int64.self),
                destinationOffset: destinationOffset, destinationStrides: destinationStrides,
                sizes: sizes)
        }
    }
}
