extension Tensor {
    /// 2-D max pooling over `[N, C, H, W]` (padding counts as -inf). Gradients flow to the first maximal
    /// element of each window, through a gather, so second-order gradients work.
    public func maxPool2d(
        kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1)
    ) throws -> Tensor {
        try requireFloatingPoint("max_pool2d")
        let geometry = ConvolutionGeometry(
            kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: dilation)
        try geometry.validate("max_pool2d")
        guard rank == 4 else {
            throw TensorError("max_pool2d", "input must be [N, C, H, W], got \(describe(shape: shape))")
        }
        guard padding.0 * 2 <= kernel.0, padding.1 * 2 <= kernel.1 else {
            throw TensorError("max_pool2d", "padding \(padding) should be at most half of kernel \(kernel)")
        }
        let (height, width) = (shape[2], shape[3])
        guard let (outputHeight, outputWidth) = geometry.outputSize(height: height, width: width) else {
            throw TensorError("max_pool2d", "kernel \(kernel) does not fit input \(describe(shape: shape))")
        }
        let planes = shape[0] * shape[1]
        let indices = Tensor(uninitializedShape: [shape[0], shape[1], outputHeight * outputWidth], dtype: .int64)
        let result = Tensor(uninitializedShape: [shape[0], shape[1], outputHeight, outputWidth], dtype: dtype)
        let isHalving =
            geometry.kernel == (2, 2) && geometry.stride == (2, 2) && geometry.padding == (0, 0)
            && geometry.dilation == (1, 1) && height % 2 == 0 && width % 2 == 0 && outputWidth >= 4
        if dtype == .float32 && isHalving && outputWidth >= 8
            && Tensor.maxPoolHalvingRows(
                pointer(as: Float.self), result.pointer(as: Float.self), indices.pointer(as: Int64.self),
                rows: planes * outputHeight, outputHeight: outputHeight, outputWidth: outputWidth)
        {
            // done by the one-pass vectorized path
        } else if dtype == .float32 && isHalving
            && Tensor.maxPoolHalving(
                pointer(as: Float.self), result.pointer(as: Float.self), indices.pointer(as: Int64.self),
                rows: planes * outputHeight, outputHeight: outputHeight, outputWidth: outputWidth)
        {
            // done by the vectorized path
        } else if dtype == .float32 {
            Tensor.maxPool(
                pointer(as: Float.self), result.pointer(as: Float.self), indices.pointer(as: Int64.self),
                planes, height, width, outputHeight, outputWidth, geometry)
        } else {
            Tensor.maxPool(
                pointer(as: Double.self), result.pointer(as: Double.self), indices.pointer(as: Int64.self),
                planes, height, width, outputHeight, outputWidth, geometry)
        }
        let inputShape = shape
        // Windows that tile the image without overlap send each input at most one gradient: one pass writes
        // them all. Otherwise the backward scatters into the argmax positions. The backward of either is the
        // matching gather.
        let isTiled =
            geometry.stride == geometry.kernel && geometry.padding == (0, 0) && geometry.dilation == (1, 1)
        return Tensor.record(result, operation: "max_pool2d", inputs: [self]) { gradient, _ in
            if isTiled {
                return [
                    try gradient.tiledMaxPoolGradient(
                        indices: indices, inputShape: inputShape, windowHeight: geometry.kernel.height)
                ]
            }
            return [
                try gradient.reshaped([inputShape[0], inputShape[1], outputHeight * outputWidth])
                    .scatterAdding(axis: 2, indices: indices, size: height * width, validated: true).reshaped(
                        inputShape)
            ]
        }
    }

    /// The input gradient of a max pooling whose windows tile the image without overlap (stride equal to the
    /// kernel, no padding or dilation), from this output gradient `[N, C, OH, OW]` and the argmax positions:
    /// each window's input rows are zeroed and its maximum's gradient stored, in one pass through memory,
    /// where a scatter-add first zeroes the whole gradient and then adds into it. Its backward is the gather
    /// of the argmax positions.
    func tiledMaxPoolGradient(indices: Tensor, inputShape: [Int], windowHeight: Int) throws -> Tensor {
        let (outputHeight, outputWidth) = (shape[2], shape[3])
        let (height, width) = (inputShape[2], inputShape[3])
        let planes = inputShape[0] * inputShape[1]
        let result = Tensor(uninitializedShape: inputShape, dtype: dtype)
        func fill<T: TensorFloat>(_ gradient: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>) {
            let positions = indices.pointer(as: Int64.self)
            Parallel.forEachChunk(planes, costPerItem: height * width) { range in
                for plane in range {
                    let destination = output + plane * height * width
                    let source = gradient + plane * outputHeight * outputWidth
                    let chosen = positions + plane * outputHeight * outputWidth
                    for row in 0..<outputHeight {
                        // The window row's input rows, zeroed, then its maxima (in-plane positions in them).
                        destination.advanced(by: row * windowHeight * width)
                            .update(repeating: 0, count: windowHeight * width)
                        for column in row * outputWidth..<(row + 1) * outputWidth {
                            destination[Int(chosen[column])] = source[column]
                        }
                    }
                    let covered = outputHeight * windowHeight * width
                    destination.advanced(by: covered).update(repeating: 0, count: height * width - covered)
                }
            }
        }
        if dtype == .float32 {
            fill(pointer(as: Float.self), result.pointer(as: Float.self))
        } else {
            fill(pointer(as: Double.self), result.pointer(as: Double.self))
        }
        let gradientShape = shape
        return Tensor.record(result, operation: "max_pool2d_backward", inputs: [self]) { gradient, _ in
            [
                try gradient.reshaped([inputShape[0], inputShape[1], height * width])
                    .gathering(axis: 2, indices: indices, validated: true).reshaped(gradientShape)
            ]
        }
    }

    /// Window maxima and their flat in-plane positions (first maximum on ties; NaN propagates).
    private static func maxPool<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ indices: UnsafeMutablePointer<Int64>,
        _ planes: Int, _ height: Int, _ width: Int, _ outputHeight: Int, _ outputWidth: Int, _ g: ConvolutionGeometry
    ) {
        let windowSize = g.kernel.height * g.kernel.width
        if g.kernel == (2, 2) && g.stride == (2, 2) && g.padding == (0, 0) && g.dilation == (1, 1) {
            maxPool2x2(input, output, indices, planes, height, width, outputHeight, outputWidth)
            return
        }
        Parallel.forEachChunk(planes, costPerItem: outputHeight * outputWidth * windowSize) { range in
            for plane in range {
                let source = input + plane * height * width
                let values = output + plane * outputHeight * outputWidth
                let positions = indices + plane * outputHeight * outputWidth
                for oh in 0..<outputHeight {
                    let rowStart = oh * g.stride.height - g.padding.height
                    for ow in 0..<outputWidth {
                        let columnStart = ow * g.stride.width - g.padding.width
                        var best = T.zero
                        var bestIndex = -1
                        for ki in 0..<g.kernel.height {
                            let ih = rowStart + ki * g.dilation.height
                            if ih < 0 || ih >= height { continue }
                            let row = source + ih * width
                            for kj in 0..<g.kernel.width {
                                let iw = columnStart + kj * g.dilation.width
                                if iw < 0 || iw >= width { continue }
                                let value = row[iw]
                                if bestIndex < 0 || value > best || (value.isNaN && !best.isNaN) {
                                    best = value
                                    bestIndex = ih * width + iw
                                }
                            }
                        }
                        values[oh * outputWidth + ow] = best
                        positions[oh * outputWidth + ow] = Int64(Swift.max(bestIndex, 0))
                    }
                }
            }
        }
    }

    /// 2×2, stride-2 pooling of Float planes with even sides and outputs at least 8 wide, in one vectorized
    /// pass: each output row's two input rows are read 16 floats at a time, paired (evens against odds) and
    /// the two rows' maxima compared, eight outputs and their argmax positions at once; a row's last eight
    /// outputs are recomputed by an overlapping vector rather than a scalar tail. Ties keep the first
    /// element in row-major order (a, b, then c, d), as PyTorch does. Returns false, having written nothing
    /// final, when the input holds a NaN, which the exact scalar loop then handles.
    private static func maxPoolHalvingRows(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int64>,
        rows: Int, outputHeight: Int, outputWidth: Int
    ) -> Bool {
        typealias Vector = SIMD8<Float>
        let width = 2 * outputWidth
        let sawNaN = Parallel.anyChunk(rows, costPerItem: 4 * outputWidth) { range in
            let source = UnsafeRawPointer(input)
            let destination = UnsafeMutableRawPointer(output)
            let positions = UnsafeMutableRawPointer(indices)
            let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
            var unordered = SIMDMask<SIMD8<Int32>>(repeating: false)
            for row in range {
                let upperStart = 2 * row * width  // the window's top input row
                let planeRow = Int32(2 * (row % outputHeight) * width)  // its in-plane index
                var column = 0
                while column < outputWidth {
                    column = Swift.min(column, outputWidth - 8)  // the last vector overlaps the one before
                    let upper = source.loadUnaligned(
                        fromByteOffset: 4 * (upperStart + 2 * column), as: SIMD16<Float>.self)
                    let lower = source.loadUnaligned(
                        fromByteOffset: 4 * (upperStart + width + 2 * column), as: SIMD16<Float>.self)
                    let (a, b, c, d) = (upper.evenHalf, upper.oddHalf, lower.evenHalf, lower.oddHalf)
                    unordered .|= (a .!= a) .| (b .!= b) .| (c .!= c) .| (d .!= d)
                    let takeB = b .> a
                    let top = a.replacing(with: b, where: takeB)
                    let takeD = d .> c
                    let bottom = c.replacing(with: d, where: takeD)
                    let takeLower = bottom .> top
                    let start = row * outputWidth + column
                    destination.storeBytes(
                        of: top.replacing(with: bottom, where: takeLower), toByteOffset: 4 * start, as: Vector.self)
                    let zero = SIMD8<Int32>(repeating: 0)
                    let choice = zero.replacing(with: 1, where: takeB).replacing(
                        with: zero.replacing(with: 1, where: takeD) &+ Int32(width), where: takeLower)
                    let position = SIMD8<Int32>(repeating: planeRow + Int32(2 * column)) &+ lanes &+ choice
                    positions.storeBytes(
                        of: SIMD8<Int64>(truncatingIfNeeded: position), toByteOffset: 8 * start, as: SIMD8<Int64>.self)
                    column += 8
                }
            }
            return any(unordered)
        }
        return !sawNaN
    }

    /// 2×2, stride-2 pooling of Float planes with even sides, in two vectorized passes: pairwise maxima
    /// along each row (the pairs never straddle rows, so one flat loop over de-interleaved lanes), then
    /// maxima of the two row results. Ties keep the first element in row-major order (a, b, then c, d),
    /// as PyTorch does. Returns false, having written nothing final, when the input holds a NaN, which
    /// the exact scalar loop then handles.
    private static func maxPoolHalving(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int64>,
        rows: Int, outputHeight: Int, outputWidth: Int
    ) -> Bool {
        typealias Vector = SIMD8<Float>
        let width = 2 * outputWidth
        let pairs = rows * 2 * outputWidth  // one pair per (input row, output column)
        let rowMaxima = Tensor(uninitializedShape: [pairs], dtype: .float32)
        let rowChoices = Tensor(uninitializedShape: [pairs], dtype: .float32)  // Int32 bits: 0 left, 1 right
        let maxima = rowMaxima.pointer(as: Float.self)
        let choices = UnsafeMutableRawPointer(rowChoices.pointer(as: Float.self)).assumingMemoryBound(to: Int32.self)
        // Pass 1: m[k] = max(x[2k], x[2k + 1]), the left one on ties.
        let sawNaN = Parallel.anyChunk(pairs, costPerItem: 2) { range in
            var unordered = SIMDMask<SIMD8<Int32>>(repeating: false)
            let source = UnsafeRawPointer(input)
            let destination = UnsafeMutableRawPointer(maxima)
            let chosen = UnsafeMutableRawPointer(choices)
            var k = range.lowerBound
            while k + 8 <= range.upperBound {
                let both = source.loadUnaligned(fromByteOffset: 8 * k, as: SIMD16<Float>.self)
                let left = both.evenHalf
                let right = both.oddHalf
                let takeRight = right .> left
                unordered .|= (left .!= left) .| (right .!= right)
                destination.storeBytes(
                    of: left.replacing(with: right, where: takeRight), toByteOffset: 4 * k, as: Vector.self)
                chosen.storeBytes(
                    of: SIMD8<Int32>(repeating: 0).replacing(with: 1, where: takeRight), toByteOffset: 4 * k,
                    as: SIMD8<Int32>.self)
                k += 8
            }
            var scalarNaN = false
            while k < range.upperBound {
                let left = input[2 * k]
                let right = input[2 * k + 1]
                scalarNaN = scalarNaN || left.isNaN || right.isNaN
                maxima[k] = right > left ? right : left
                choices[k] = right > left ? 1 : 0
                k += 1
            }
            return any(unordered) || scalarNaN
        }
        if sawNaN { return false }
        // Pass 2: per output row, the upper or (only when strictly greater) the lower row's maxima. Vectors
        // of 8 may spill into the next output row of the same chunk, which is written afterwards.
        Parallel.forEachChunk(rows, costPerItem: 2 * outputWidth) { range in
            let source = UnsafeRawPointer(maxima)
            let chosen = UnsafeRawPointer(choices)
            let destination = UnsafeMutableRawPointer(output)
            let positions = UnsafeMutableRawPointer(indices)
            let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
            let chunkEnd = range.upperBound * outputWidth
            for row in range {
                let upperStart = 2 * row * outputWidth
                let lowerStart = upperStart + outputWidth
                let planeRow = 2 * (row % outputHeight) * width  // in-plane index of the window's top row
                var column = 0
                while column < outputWidth {
                    let start = row * outputWidth + column
                    if start + 8 <= chunkEnd && lowerStart + column + 8 <= pairs {
                        let upper = source.loadUnaligned(fromByteOffset: 4 * (upperStart + column), as: Vector.self)
                        let lower = source.loadUnaligned(fromByteOffset: 4 * (lowerStart + column), as: Vector.self)
                        let upperChoice = chosen.loadUnaligned(
                            fromByteOffset: 4 * (upperStart + column), as: SIMD8<Int32>.self)
                        let lowerChoice = chosen.loadUnaligned(
                            fromByteOffset: 4 * (lowerStart + column), as: SIMD8<Int32>.self)
                        let takeLower = lower .> upper
                        destination.storeBytes(
                            of: upper.replacing(with: lower, where: takeLower), toByteOffset: 4 * start, as: Vector.self
                        )
                        let choice = upperChoice.replacing(with: lowerChoice, where: takeLower)
                        let rowOffset = SIMD8<Int32>(repeating: 0).replacing(with: Int32(width), where: takeLower)
                        let position =
                            SIMD8<Int32>(repeating: Int32(planeRow + 2 * column)) &+ lanes &+ choice &+ rowOffset
                        positions.storeBytes(
                            of: SIMD8<Int64>(truncatingIfNeeded: position), toByteOffset: 8 * start,
                            as: SIMD8<Int64>.self)
                        column += 8
                    } else {
                        let upper = maxima[upperStart + column]
                        let lower = maxima[lowerStart + column]
                        let takeLower = lower > upper
                        output[start] = takeLower ? lower : upper
                        let choice = Int(takeLower ? choices[lowerStart + column] : choices[upperStart + column])
                        indices[start] = Int64(planeRow + 2 * column + choice + (takeLower ? width : 0))
                        column += 1
                    }
                }
            }
        }
        return true
    }

    /// The common 2×2, stride-2 case: each output row is one branch-free loop of selects (which the
    /// compiler vectorizes); a row whose inputs hold a NaN (rare) is redone by the exact loop, so NaNs
    /// propagate and ties keep the first maximum, as in PyTorch.
    private static func maxPool2x2<T: TensorFloat>(
        _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ indices: UnsafeMutablePointer<Int64>,
        _ planes: Int, _ height: Int, _ width: Int, _ outputHeight: Int, _ outputWidth: Int
    ) {
        Parallel.forEachChunk(planes, costPerItem: outputHeight * outputWidth * 4) { range in
            for plane in range {
                let source = input + plane * height * width
                for oh in 0..<outputHeight {
                    let top = source + 2 * oh * width
                    let bottom = top + width
                    let values = output + (plane * outputHeight + oh) * outputWidth
                    let positions = indices + (plane * outputHeight + oh) * outputWidth
                    let base = Int64(2 * oh * width)
                    let below = Int64(width)
                    var unordered: UInt8 = 0
                    for ow in 0..<outputWidth {
                        let a = top[2 * ow]
                        let b = top[2 * ow + 1]
                        let c = bottom[2 * ow]
                        let d = bottom[2 * ow + 1]
                        let upper = b > a ? b : a
                        let lower = d > c ? d : c
                        let upperOffset: Int64 = b > a ? 1 : 0
                        let lowerOffset: Int64 = d > c ? below + 1 : below
                        let takeLower = lower > upper
                        values[ow] = takeLower ? lower : upper
                        positions[ow] = base + Int64(2 * ow) + (takeLower ? lowerOffset : upperOffset)
                        // x != x only for NaN; `&`-free accumulation keeps the loop branch-free.
                        unordered |= (a != a ? 1 : 0) | (b != b ? 1 : 0) | (c != c ? 1 : 0) | (d != d ? 1 : 0)
                    }
                    guard unordered != 0 else { continue }
                    for ow in 0..<outputWidth {
                        let offsets = [0, 1, width, width + 1].map { 2 * ow + $0 }
                        guard let first = offsets.first(where: { top[$0].isNaN }) else { continue }
                        values[ow] = top[first]
                        positions[ow] = base + Int64(first)
                    }
                }
            }
        }
    }

    /// 2-D average pooling over `[N, C, H, W]`; with `countIncludePad` (PyTorch's default) padded zeros
    /// count in the divisor.
    public func avgPool2d(
        kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
        countIncludePad: Bool = true
    ) throws -> Tensor {
        let stride = stride ?? kernel
        guard rank == 4 else {
            throw TensorError("avg_pool2d", "input must be [N, C, H, W], got \(describe(shape: shape))")
        }
        guard kernel.0 > 0, kernel.1 > 0, stride.0 > 0, stride.1 > 0, padding.0 >= 0, padding.1 >= 0,
            padding.0 * 2 <= kernel.0, padding.1 * 2 <= kernel.1
        else {
            throw TensorError("avg_pool2d", "invalid kernel \(kernel), stride \(stride) or padding \(padding)")
        }
        guard
            let rows = try Tensor.averagingMatrix(
                input: shape[2], kernel: kernel.0, stride: stride.0,
                padding: padding.0, countIncludePad: countIncludePad, dtype: dtype),
            let columns = try Tensor.averagingMatrix(
                input: shape[3], kernel: kernel.1, stride: stride.1,
                padding: padding.1, countIncludePad: countIncludePad, dtype: dtype)
        else { throw TensorError("avg_pool2d", "kernel \(kernel) does not fit input \(describe(shape: shape))") }
        return try applySeparable(rows: rows, columns: columns)
    }

    /// Adaptive average pooling to `[outputHeight, outputWidth]` (PyTorch's bin boundaries).
    public func adaptiveAvgPool2d(_ outputSize: (Int, Int)) throws -> Tensor {
        guard rank == 4, outputSize.0 > 0, outputSize.1 > 0 else {
            throw TensorError(
                "adaptive_avg_pool2d",
                "input must be [N, C, H, W] and output size positive, got \(describe(shape: shape)) and \(outputSize)")
        }
        try Tensor.validate(
            shape: [shape[0], shape[1], outputSize.0, outputSize.1], dtype: dtype, operation: "adaptive_avg_pool2d")
        func matrix(_ input: Int, _ output: Int) throws -> Tensor {
            var values = [Double](repeating: 0, count: output * input)
            for o in 0..<output {
                let start = (o * input) / output
                let end = ((o + 1) * input + output - 1) / output
                for i in start..<end { values[o * input + i] = 1 / Double(end - start) }
            }
            return try Tensor(shape: [output, input], values: values, dtype: dtype)
        }
        return try applySeparable(rows: matrix(shape[2], outputSize.0), columns: matrix(shape[3], outputSize.1))
    }

    /// Upsamples `[N, C, H, W]` by integer or fractional scale (`nearest`, `bilinear` or
    /// `bilinear_align_corners`), matching PyTorch's `interpolate` (bilinear with `align_corners=False`, or
    /// `True` for the last mode).
    public func upsample(size: (Int, Int), mode: UpsampleMode = .nearest) throws -> Tensor {
        guard rank == 4, size.0 > 0, size.1 > 0 else {
            throw TensorError(
                "upsample", "input must be [N, C, H, W] and size positive, got \(describe(shape: shape)) and \(size)")
        }
        let (height, width) = (shape[2], shape[3])
        try Tensor.validate(shape: [shape[0], shape[1], size.0, size.1], dtype: dtype, operation: "upsample")
        switch mode {
        case .nearest:
            let rows = (0..<size.0).map { Swift.min(Int(Double($0) * Double(height) / Double(size.0)), height - 1) }
            let columns = (0..<size.1).map { Swift.min(Int(Double($0) * Double(width) / Double(size.1)), width - 1) }
            return try indexSelect(axis: 2, indices: rows).indexSelect(axis: 3, indices: columns)
        case .bilinear, .bilinearAlignCorners:
            func matrix(_ input: Int, _ output: Int) throws -> Tensor {
                var values = [Double](repeating: 0, count: output * input)
                let scale = Double(input) / Double(output)
                for o in 0..<output {
                    // Half-pixel centres (align_corners=False), or the corner pixels aligned (align_corners=True,
                    // as nn.UpsamplingBilinear2d).
                    let source =
                        mode == .bilinear
                        ? Swift.max((Double(o) + 0.5) * scale - 0.5, 0)
                        : output > 1 ? Double(o) * Double(input - 1) / Double(output - 1) : 0
                    let lower = Swift.min(Int(source), input - 1)
                    let upper = Swift.min(lower + 1, input - 1)
                    let fraction = source - Double(lower)
                    values[o * input + lower] += 1 - fraction
                    values[o * input + upper] += fraction
                }
                return try Tensor(shape: [output, input], values: values, dtype: dtype)
            }
            return try applySeparable(rows: matrix(height, size.0), columns: matrix(width, size.1))
        }
    }

    /// `rows · X · columnsᵀ` for each `[H, W]` plane: separable linear pooling and resampling.
    private func applySeparable(rows: Tensor, columns: Tensor) throws -> Tensor {
        let alongWidth = try matmul(columns, transposingSelf: false, transposingOther: true)
        return try alongWidth.transposed().matmul(rows, transposingSelf: false, transposingOther: true).transposed()
    }

    /// The `[output, input]` matrix of a 1-D average pool, or nil when the kernel does not fit.
    private static func averagingMatrix(
        input: Int, kernel: Int, stride: Int, padding: Int, countIncludePad: Bool,
        dtype: DType
    ) throws -> Tensor? {
        guard
            let output = ConvolutionGeometry.outputSize(
                input, kernel: kernel, stride: stride, padding: padding,
                dilation: 1)
        else { return nil }
        var values = [Double](repeating: 0, count: output * input)
        for o in 0..<output {
            let start = o * stride - padding
            let valid = (start..<(start + kernel)).filter { $0 >= 0 && $0 < input }
            let divisor = Double(countIncludePad ? Swift.min(kernel, input + padding - start) : valid.count)
            for i in valid { values[o * input + i] = 1 / divisor }
        }
        return try Tensor(shape: [output, input], values: values, dtype: dtype)
    }
}

/// Interpolation used by ``Tensor/upsample(size:mode:)``.
public enum UpsampleMode: String, Sendable {
    case nearest, bilinear
    case bilinearAlignCorners = "bilinear_align_corners"
}
