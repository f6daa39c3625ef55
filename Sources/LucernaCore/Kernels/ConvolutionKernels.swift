/// The geometry of a 2-D convolution: kernel size, stride, zero padding and dilation per axis.
public struct ConvolutionGeometry: Equatable, Sendable {
    public var kernel: (height: Int, width: Int)
    public var stride: (height: Int, width: Int)
    public var padding: (height: Int, width: Int)
    public var dilation: (height: Int, width: Int)

    public init(
        kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1)
    ) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    public static func == (a: ConvolutionGeometry, b: ConvolutionGeometry) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
    }

    /// Output size along one axis, or nil when the window does not fit.
    static func outputSize(_ input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int? {
        let span = dilation * (kernel - 1) + 1
        let available = input + 2 * padding - span
        return available < 0 ? nil : available / stride + 1
    }

    /// Output height and width for an input of `height x width`, or nil when it does not fit.
    func outputSize(height: Int, width: Int) -> (Int, Int)? {
        guard
            let outputHeight = Self.outputSize(
                height, kernel: kernel.height, stride: stride.height,
                padding: padding.height, dilation: dilation.height),
            let outputWidth = Self.outputSize(
                width, kernel: kernel.width, stride: stride.width,
                padding: padding.width, dilation: dilation.width)
        else { return nil }
        return (outputHeight, outputWidth)
    }

    /// Checks all values are in range for `operation`.
    func validate(_ operation: String) throws {
        let values = [kernel.height, kernel.width, stride.height, stride.width, dilation.height, dilation.width]
        guard values.allSatisfy({ $0 > 0 }), padding.height >= 0, padding.width >= 0 else {
            throw TensorError(
                operation,
                "kernel, stride and dilation must be positive and padding non-negative (kernel \(kernel), stride \(stride), padding \(padding), dilation \(dilation))"
            )
        }
    }
}

/// Convolution kernels that work on small groups of samples: im2col of a group into a per-thread scratch
/// buffer `[C·kh·kw, g·Ho·Wo]` and one single-threaded GEMM per group, with the batch split across threads.
/// Grouping matters for small feature maps (a 7x7 output makes a per-sample GEMM 49 columns wide, and
/// OpenBLAS then spends much of its time re-packing the weight); a group has about ``groupColumns`` columns.
/// Outputs land in `[N, C, H, W]` layout (directly for one-sample groups, through a copy otherwise).
enum ConvolutionKernels {
    struct Layout {
        let batch: Int, channels: Int, height: Int, width: Int
        let outputHeight: Int, outputWidth: Int
        let geometry: ConvolutionGeometry
        var positions: Int { outputHeight * outputWidth }
        var rows: Int { channels * geometry.kernel.height * geometry.kernel.width }
        var inputPlane: Int { channels * height * width }
    }

    /// A channel laid out zero-padded with each row split into `stride` phases (columns p, p+s, p+2s, …),
    /// so a window row `(ki, kj, oh)` is one contiguous run: the geometry im2col and col2im share.
    struct PhasePlane {
        let step: Int, phaseLength: Int, paddedRow: Int, size: Int, dilation: Int
        let padding: (height: Int, width: Int)

        init(_ layout: Layout) {
            let g = layout.geometry
            padding = g.padding
            step = g.stride.width
            phaseLength = (layout.width + 2 * g.padding.width + step - 1) / step
            paddedRow = step * phaseLength
            size = (layout.height + 2 * g.padding.height) * paddedRow
            dilation = g.dilation.width
        }

        /// Moves one channel between its `[H, W]` layout in a sample and this zero-padded, phase-split plane:
        /// `toPlane` copies the channel into the plane's interior (im2col); otherwise the interior is added
        /// into the channel (col2im). Phase by phase, consecutive slots of a phase hold every step-th column.
        @inline(__always)
        func transfer(
            _ plane: UnsafeMutablePointer<Float>, _ channel: UnsafeMutablePointer<Float>, height: Int, width: Int,
            toPlane: Bool
        ) {
            if step == 1 {
                for ih in 0..<height {
                    let slots = plane + (ih + padding.height) * paddedRow + padding.width
                    let values = channel + ih * width
                    if toPlane {
                        slots.update(from: values, count: width)
                    } else {
                        for iw in 0..<width { values[iw] += slots[iw] }
                    }
                }
                return
            }
            for phase in 0..<step {
                let firstColumn = ((phase - padding.width) % step + step) % step
                let firstSlot = phase * phaseLength + (firstColumn + padding.width) / step
                for ih in 0..<height {
                    var slot = plane + (ih + padding.height) * paddedRow + firstSlot
                    var value = channel + ih * width + firstColumn
                    let end = channel + (ih + 1) * width
                    if toPlane {
                        while value < end {
                            slot.pointee = value.pointee
                            slot += 1
                            value += step
                        }
                    } else {
                        while value < end {
                            value.pointee += slot.pointee
                            slot += 1
                            value += step
                        }
                    }
                }
            }
        }

        /// Where the run of kernel column `kj` starts within a padded row.
        func start(kernelColumn kj: Int) -> Int {
            let offset = kj * dilation
            return (offset % step) * phaseLength + offset / step
        }
    }

    /// Extra elements a columns buffer needs past `C·kh·kw · Ho·Wo` (the vectorized im2col's last store
    /// may spill that far).
    static let columnSlack = 8

    /// im2col of one sample `[C, H, W]` into the `Ho·Wo` columns starting at `columns` of a matrix with
    /// `C·kh·kw` rows and row stride `stride` (at least `Ho·Wo` plus ``columnSlack``; the samples of a group
    /// must be written in increasing order, since a vector store may spill into the next sample's columns).
    static func im2col<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ columns: UnsafeMutablePointer<T>, _ layout: Layout, stride: Int
    ) {
        if T.self == Float.self {
            im2colVectorized(
                UnsafeRawPointer(input).assumingMemoryBound(to: Float.self),
                UnsafeMutableRawPointer(columns).assumingMemoryBound(to: Float.self), layout, stride: stride)
            return
        }
        let (height, width, outputWidth) = (layout.height, layout.width, layout.outputWidth)
        let step = layout.geometry.stride.width
        forEachWindowRow(layout) { channel, row, outputRow, inputRow, columnOffset, valid in
            let out = columns + row * stride + outputRow * outputWidth
            guard inputRow >= 0 && inputRow < height else {
                for ow in 0..<outputWidth { out[ow] = 0 }
                return
            }
            let from = input + channel * height * width + inputRow * width + columnOffset
            for ow in 0..<valid.lowerBound { out[ow] = 0 }
            for ow in valid { out[ow] = from[ow * step] }
            for ow in valid.upperBound..<outputWidth { out[ow] = 0 }
        }
    }

    /// im2col for Float with whole-vector copies. Each channel is first laid out as a zero-padded plane
    /// whose rows are split into `stride` phases (columns p, p+s, p+2s, … of the padded row), so every
    /// window row `(ki, kj, oh)` becomes one contiguous run of `Wo` elements with no edge tests. Runs are
    /// copied 8 at a time; a last vector may spill past its run into the next one, which is written
    /// afterwards (rows are filled in increasing order), or into the buffer's slack.
    static func im2colVectorized(
        _ input: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, _ layout: Layout, stride: Int
    ) {
        typealias Vector = SIMD8<Float>
        let g = layout.geometry
        let (height, width) = (layout.height, layout.width)
        let (outputHeight, outputWidth) = (layout.outputHeight, layout.outputWidth)
        let geometry = PhasePlane(layout)
        let (paddedRow, planeSize) = (geometry.paddedRow, geometry.size)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: planeSize + Vector.scalarCount) { buffer in
            guard let plane = buffer.baseAddress else { return }
            // Padding stays zero for every channel: only interior positions are rewritten.
            plane.initialize(repeating: 0, count: planeSize + Vector.scalarCount)
            let planeBytes = UnsafeRawPointer(plane)
            let columnBytes = UnsafeMutableRawPointer(columns)
            for c in 0..<layout.channels {
                geometry.transfer(
                    plane, UnsafeMutablePointer(mutating: input + c * height * width), height: height, width: width,
                    toPlane: true)
                for ki in 0..<g.kernel.height {
                    for kj in 0..<g.kernel.width {
                        let destination = ((c * g.kernel.height + ki) * g.kernel.width + kj) * stride
                        let phaseStart = geometry.start(kernelColumn: kj)
                        for oh in 0..<outputHeight {
                            let from = (oh * g.stride.height + ki * g.dilation.height) * paddedRow + phaseStart
                            let to = destination + oh * outputWidth
                            var ow = 0
                            while ow < outputWidth {
                                let vector = planeBytes.loadUnaligned(fromByteOffset: 4 * (from + ow), as: Vector.self)
                                columnBytes.storeBytes(of: vector, toByteOffset: 4 * (to + ow), as: Vector.self)
                                ow += Vector.scalarCount
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds the `Ho·Wo` columns starting at `columns` of a `[C·kh·kw, stride]` matrix (stride at least `Ho·Wo`
    /// plus ``columnSlack``) back into one sample `[C, H, W]`.
    static func col2im<T: TensorFloat>(
        _ columns: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ layout: Layout, stride: Int
    ) {
        if T.self == Float.self {
            col2imVectorized(
                UnsafeRawPointer(columns).assumingMemoryBound(to: Float.self),
                UnsafeMutableRawPointer(output).assumingMemoryBound(to: Float.self), layout, stride: stride)
            return
        }
        let (height, width, outputWidth) = (layout.height, layout.width, layout.outputWidth)
        let step = layout.geometry.stride.width
        forEachWindowRow(layout) { channel, row, outputRow, inputRow, columnOffset, valid in
            guard inputRow >= 0 && inputRow < height else { return }
            let destination = output + channel * height * width + inputRow * width + columnOffset
            let from = columns + row * stride + outputRow * outputWidth
            for ow in valid { destination[ow * step] += from[ow] }
        }
    }

    /// Visits every window row of one sample for the scalar im2col and col2im: for each row `(c, ki, kj)` of the
    /// columns matrix and each output row `oh`, `body` gets the channel, the matrix row, `oh`, the input row
    /// (which may lie outside the image, in the padding), the input column of the window's first output
    /// column (may be negative) and the output columns whose input column lies inside the image.
    @inline(__always)
    static func forEachWindowRow(
        _ layout: Layout,
        _ body: (
            _ channel: Int, _ row: Int, _ outputRow: Int, _ inputRow: Int,
            _ columnOffset: Int, _ valid: Range<Int>
        ) -> Void
    ) {
        let g = layout.geometry
        for channel in 0..<layout.channels {
            for ki in 0..<g.kernel.height {
                for kj in 0..<g.kernel.width {
                    let row = (channel * g.kernel.height + ki) * g.kernel.width + kj
                    let columnOffset = kj * g.dilation.width - g.padding.width
                    let (first, last) = validColumns(
                        offset: columnOffset, stride: g.stride.width,
                        width: layout.width, outputWidth: layout.outputWidth)
                    for outputRow in 0..<layout.outputHeight {
                        let inputRow = outputRow * g.stride.height - g.padding.height + ki * g.dilation.height
                        body(channel, row, outputRow, inputRow, columnOffset, first..<last)
                    }
                }
            }
        }
    }

    /// col2im for Float, the adjoint of ``im2colVectorized``: each window row's run of `Wo` values is added
    /// 8 at a time into the channel's phase-split, zero-padded plane (the lanes past the run are masked to
    /// zero, so spilling adds nothing), then the plane's interior is added into the sample.
    static func col2imVectorized(
        _ columns: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ layout: Layout, stride: Int
    ) {
        typealias Vector = SIMD8<Float>
        let g = layout.geometry
        let (height, width) = (layout.height, layout.width)
        let (outputHeight, outputWidth) = (layout.outputHeight, layout.outputWidth)
        let geometry = PhasePlane(layout)
        let (paddedRow, planeSize) = (geometry.paddedRow, geometry.size)
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: planeSize + Vector.scalarCount) { buffer in
            guard let plane = buffer.baseAddress else { return }
            let planeBytes = UnsafeMutableRawPointer(plane)
            let columnBytes = UnsafeRawPointer(columns)
            for c in 0..<layout.channels {
                plane.initialize(repeating: 0, count: planeSize + Vector.scalarCount)
                for ki in 0..<g.kernel.height {
                    for kj in 0..<g.kernel.width {
                        let source = ((c * g.kernel.height + ki) * g.kernel.width + kj) * stride
                        let phaseStart = geometry.start(kernelColumn: kj)
                        for oh in 0..<outputHeight {
                            let to = (oh * g.stride.height + ki * g.dilation.height) * paddedRow + phaseStart
                            let from = source + oh * outputWidth
                            var ow = 0
                            while ow < outputWidth {
                                var vector = columnBytes.loadUnaligned(fromByteOffset: 4 * (from + ow), as: Vector.self)
                                let remaining = outputWidth - ow
                                if remaining < Vector.scalarCount {
                                    vector.replace(with: 0, where: lanes .>= SIMD8<Int32>(repeating: Int32(remaining)))
                                }
                                let sum =
                                    planeBytes.loadUnaligned(fromByteOffset: 4 * (to + ow), as: Vector.self) + vector
                                planeBytes.storeBytes(of: sum, toByteOffset: 4 * (to + ow), as: Vector.self)
                                ow += Vector.scalarCount
                            }
                        }
                    }
                }
                geometry.transfer(plane, output + c * height * width, height: height, width: width, toPlane: false)
            }
        }
    }

    /// The output columns `first..<last` whose input column `ow·stride + offset` lies inside `0..<width`.
    @inline(__always)
    static func validColumns(offset: Int, stride: Int, width: Int, outputWidth: Int) -> (Int, Int) {
        let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let lastInside = width - 1 - offset
        let last = lastInside < 0 ? 0 : min(outputWidth, lastInside / stride + 1)
        return (min(first, outputWidth), max(min(first, outputWidth), last))
    }

    /// About how many GEMM columns (samples × output positions) a group of samples should have.
    static let groupColumns = 384
    /// The most elements a group's columns buffer may take (2 MiB of Float).
    static let groupElements = 1 << 19

    /// How many samples go into one GEMM for a chunk of `available` samples.
    static func groupSize(_ layout: Layout, available: Int) -> Int {
        let positions = max(layout.positions, 1)
        let wanted = (groupColumns + positions - 1) / positions
        let fitting = groupElements / max(layout.rows * positions, 1)
        return max(1, min(wanted, fitting, available))
    }

    /// The row stride of a group's columns buffer for `count` samples.
    static func columnStride(_ layout: Layout, count: Int) -> Int { count * layout.positions + columnSlack }

    /// Splits a thread's chunk of samples into groups and calls `body(first, count, stride, columns, channelMajor)`
    /// for each: `columns` is a `[C·kh·kw, stride]` buffer, `channelMajor` an `[O, count·P]` buffer for groups
    /// of several samples (nil for a one-sample group, whose `[O, P]` block needs no regrouping).
    @inline(__always)
    static func forEachGroup<T: TensorFloat>(
        _ range: Range<Int>, layout: Layout, outputChannels: Int,
        _ body: (
            _ first: Int, _ count: Int, _ stride: Int, _ columns: UnsafeMutablePointer<T>,
            _ channelMajor: UnsafeMutablePointer<T>?
        ) -> Void
    ) {
        let group = groupSize(layout, available: range.count)
        let columns = UnsafeMutablePointer<T>.allocate(capacity: layout.rows * columnStride(layout, count: group))
        let channelMajor =
            group > 1 ? UnsafeMutablePointer<T>.allocate(capacity: outputChannels * group * layout.positions) : nil
        defer {
            columns.deallocate()
            channelMajor?.deallocate()
        }
        var first = range.lowerBound
        while first < range.upperBound {
            let count = min(group, range.upperBound - first)
            body(first, count, columnStride(layout, count: count), columns, count > 1 ? channelMajor : nil)
            first += count
        }
    }

    /// Copies the `[count, O, P]` block starting at `source` into `[O, count·P]` (`gather`), or back (`!gather`).
    static func regroup<T: TensorFloat>(
        _ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>,
        count: Int, channels: Int, positions: Int, gather: Bool
    ) {
        for sample in 0..<count {
            for channel in 0..<channels {
                let sampleMajor = (sample * channels + channel) * positions
                let channelMajor = (channel * count + sample) * positions
                (destination + (gather ? channelMajor : sampleMajor)).update(
                    from: source + (gather ? sampleMajor : channelMajor), count: positions)
            }
        }
    }

    /// A group's `[count, O, P]` block as one `[O, count·P]` matrix: the block itself for one sample, else
    /// its copy in `scratch`.
    static func gatherGroup<T: TensorFloat>(
        _ block: UnsafePointer<T>, into scratch: UnsafeMutablePointer<T>?, count: Int,
        channels: Int, positions: Int
    ) -> UnsafePointer<T> {
        guard count > 1, let scratch else { return block }
        regroup(block, scratch, count: count, channels: channels, positions: positions, gather: true)
        return UnsafePointer(scratch)
    }

    /// `output[n] = W[O, CK] · im2col(input[n])` for every sample.
    /// With a bias, each output channel starts from its bias value (a fused bias add).
    static func forward<T: TensorFloat>(
        input: UnsafePointer<T>, weight: UnsafePointer<T>, bias: UnsafePointer<T>?,
        output: UnsafeMutablePointer<T>, outputChannels: Int, layout: Layout
    ) {
        let (rows, positions) = (layout.rows, layout.positions)
        Parallel.forEachChunk(layout.batch, costPerItem: rows * positions * outputChannels) { range in
            forEachGroup(range, layout: layout, outputChannels: outputChannels) {
                (first, count, stride, scratch: UnsafeMutablePointer<T>, product) in
                for sample in 0..<count {
                    im2col(
                        input + (first + sample) * layout.inputPlane, scratch + sample * positions, layout,
                        stride: stride)
                }
                let destination = output + first * outputChannels * positions
                guard let product else {
                    if let bias {
                        for channel in 0..<outputChannels {
                            (destination + channel * positions).update(repeating: bias[channel], count: positions)
                        }
                    }
                    MatrixKernels.gemmSerial(
                        transposeA: false, transposeB: false, m: outputChannels, n: positions, k: rows, a: weight,
                        lda: rows,
                        b: scratch, ldb: stride, c: destination, ldc: positions, beta: bias == nil ? 0 : 1)
                    return
                }
                let width = count * positions
                MatrixKernels.gemmSerial(
                    transposeA: false, transposeB: false, m: outputChannels, n: width, k: rows, a: weight, lda: rows,
                    b: scratch, ldb: stride, c: product, ldc: width)
                regroup(
                    product, destination, count: count, channels: outputChannels, positions: positions, gather: false)
                if let bias {
                    for sample in 0..<count {
                        for channel in 0..<outputChannels {
                            let values = destination + (sample * outputChannels + channel) * positions
                            let value = bias[channel]
                            for position in 0..<positions { values[position] += value }
                        }
                    }
                }
            }
        }
    }

    /// `inputGradient[n] = col2im(Wᵀ · outputGradient[n])` for every sample (inputGradient pre-zeroed).
    static func backwardInput<T: TensorFloat>(
        outputGradient: UnsafePointer<T>, weight: UnsafePointer<T>,
        inputGradient: UnsafeMutablePointer<T>, outputChannels: Int, layout: Layout
    ) {
        let (rows, positions) = (layout.rows, layout.positions)
        Parallel.forEachChunk(layout.batch, costPerItem: rows * positions * outputChannels) { range in
            forEachGroup(range, layout: layout, outputChannels: outputChannels) {
                (first, count, stride, scratch: UnsafeMutablePointer<T>, gathered) in
                let width = count * positions
                let gradient = gatherGroup(
                    outputGradient + first * outputChannels * positions, into: gathered, count: count,
                    channels: outputChannels, positions: positions)
                MatrixKernels.gemmSerial(
                    transposeA: true, transposeB: false, m: rows, n: width, k: outputChannels, a: weight, lda: rows,
                    b: gradient, ldb: width, c: scratch, ldc: stride)
                for sample in 0..<count {
                    col2im(
                        scratch + sample * positions, inputGradient + (first + sample) * layout.inputPlane, layout,
                        stride: stride)
                }
            }
        }
    }

    /// `weightGradient = Σₙ outputGradient[n] · im2col(input[n])ᵀ`, accumulated per thread chunk then summed
    /// in chunk order (deterministic for a given thread count).
    static func backwardWeight<T: TensorFloat>(
        input: UnsafePointer<T>, outputGradient: UnsafePointer<T>,
        weightGradient: UnsafeMutablePointer<T>, outputChannels: Int, layout: Layout
    ) {
        let (rows, positions) = (layout.rows, layout.positions)
        let size = outputChannels * rows
        let chunks = Parallel.chunkCount(layout.batch, costPerItem: rows * positions * outputChannels)
        let partials = UnsafeMutablePointer<T>.allocate(capacity: size * chunks)
        partials.initialize(repeating: 0, count: size * chunks)
        defer { partials.deallocate() }
        Parallel.forEachChunk(layout.batch, costPerItem: rows * positions * outputChannels) { range in
            let chunk = Parallel.chunkIndex(of: range, count: layout.batch, chunks: chunks)
            forEachGroup(range, layout: layout, outputChannels: outputChannels) {
                (first, count, stride, scratch: UnsafeMutablePointer<T>, gathered) in
                let width = count * positions
                for sample in 0..<count {
                    im2col(
                        input + (first + sample) * layout.inputPlane, scratch + sample * positions, layout,
                        stride: stride)
                }
                let gradient = gatherGroup(
                    outputGradient + first * outputChannels * positions, into: gathered, count: count,
                    channels: outputChannels, positions: positions)
                MatrixKernels.gemmSerial(
                    transposeA: false, transposeB: true, m: outputChannels, n: rows, k: width, a: gradient, lda: width,
                    b: scratch, ldb: stride, c: partials + chunk * size, ldc: rows, beta: 1)
            }
        }
        weightGradient.update(from: partials, count: size)
        for chunk in 1..<max(chunks, 1) {
            let partial = partials + chunk * size
            for index in 0..<size { weightGradient[index] += partial[index] }
        }
    }
}
