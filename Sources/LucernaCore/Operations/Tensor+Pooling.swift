import CKernels

extension Tensor {
    /// 2-D max pooling over `[N, C, H, W]` (padding counts as -inf). Gradients flow to the first maximal
    /// element of each window, through a gather, so second-order gradients work.
    public func maxPool2d(
        kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1)
    ) throws -> Tensor {
        try maxPooling(kernel: kernel, stride: stride, padding: padding, dilation: dilation, thenReLU: false)
    }

    /// `maxPool2d(...).relu()` — the same values and first- and second-order gradients, bit for bit — with the
    /// ReLU applied as the AVX2 kernel stores the maxima and its backward as the kernel writes the pooling's
    /// gradient (Float32, 2×2 windows of stride 2 over even sides), so neither takes a pass of its own through
    /// memory; elsewhere the two operations one after the other.
    public func maxPool2dThenReLU(
        kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1)
    ) throws -> Tensor {
        try maxPooling(kernel: kernel, stride: stride, padding: padding, dilation: dilation, thenReLU: true)
    }

    private func maxPooling(
        kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int), dilation: (Int, Int), thenReLU: Bool
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
        let result = Tensor(uninitializedShape: [shape[0], shape[1], outputHeight, outputWidth], dtype: dtype)
        let isHalving =
            geometry.kernel == (2, 2) && geometry.stride == (2, 2) && geometry.padding == (0, 0)
            && geometry.dilation == (1, 1) && height % 2 == 0 && width % 2 == 0
        // Whether the kernel pooled and applied the ReLU (else a ReLU follows as an operation of its own).
        var fused = false
        let choices: MaxPoolChoices
        if dtype == .float32 && isHalving,
            let codes = Tensor.maxPoolHalving(
                pointer(as: Float.self), result.pointer(as: Float.self), rows: planes * outputHeight,
                outputWidth: outputWidth, relu: thenReLU)
        {
            choices = MaxPoolChoices(codes: codes, shape: result.shape)
            fused = thenReLU
        } else {
            let indices = Tensor(uninitializedShape: [shape[0], shape[1], outputHeight * outputWidth], dtype: .int64)
            if dtype == .float32 {
                Tensor.maxPool(
                    pointer(as: Float.self), result.pointer(as: Float.self), indices.pointer(as: Int64.self),
                    planes, height, width, outputHeight, outputWidth, geometry)
            } else {
                Tensor.maxPool(
                    pointer(as: Double.self), result.pointer(as: Double.self), indices.pointer(as: Int64.self),
                    planes, height, width, outputHeight, outputWidth, geometry)
            }
            choices = MaxPoolChoices(positions: indices)
        }
        let inputShape = shape
        // Windows that tile the image without overlap send each input at most one gradient: one pass writes
        // them all. Otherwise the backward scatters into the argmax positions. The backward of either is the
        // matching gather.
        let isTiled =
            geometry.stride == geometry.kernel && geometry.padding == (0, 0) && geometry.dilation == (1, 1)
        let pooled = Tensor.record(result, operation: fused ? "max_pool2d_relu" : "max_pool2d", inputs: [self]) {
            gradient, output in
            if isTiled {
                return [
                    try gradient.tiledMaxPoolGradient(
                        choices: choices, inputShape: inputShape, window: geometry.kernel,
                        active: fused ? output : nil)
                ]
            }
            return [
                try gradient.reshaped([inputShape[0], inputShape[1], outputHeight * outputWidth])
                    .scatterAdding(axis: 2, indices: choices.positions(), size: height * width, validated: true)
                    .reshaped(inputShape)
            ]
        }
        return thenReLU && !fused ? try pooled.relu() : pooled
    }

    /// The input gradient of a max pooling whose windows tile the image without overlap (stride equal to the
    /// kernel, no padding or dilation), from this output gradient `[N, C, OH, OW]` and where the maxima are:
    /// each window's input rows are zeroed and its maximum's gradient stored, in one pass through memory,
    /// where a scatter-add first zeroes the whole gradient and then adds into it. Its backward is the gather
    /// of the argmax positions. With `active` (the output of a max pooling followed by a ReLU, fused), this
    /// gradient first goes through the ReLU's backward: kept where `active` is positive, zero elsewhere.
    func tiledMaxPoolGradient(choices: MaxPoolChoices, inputShape: [Int], window: (Int, Int), active: Tensor? = nil)
        throws -> Tensor
    {
        let (outputHeight, outputWidth) = (shape[2], shape[3])
        let (height, width) = (inputShape[2], inputShape[3])
        let windowHeight = window.0
        let planes = inputShape[0] * inputShape[1]
        let result = Tensor(uninitializedShape: inputShape, dtype: dtype)
        // 2×2 windows over even sides: the AVX2 kernel writes both input rows of each output row at once.
        let isHalving = window == (2, 2) && height == 2 * outputHeight && width == 2 * outputWidth
        // The kernel reads the window codes the forward kernel wrote (the exact loop writes positions).
        func halving() -> Bool {
            guard dtype == .float32, isHalving, let codes = choices.codes else { return false }
            let (gradient, places, output) = (
                pointer(as: Float.self), UnsafePointer(codes.pointer(as: UInt8.self)), result.pointer(as: Float.self)
            )
            let mask = active.map { UnsafePointer($0.pointer(as: Float.self)) }
            return !Parallel.anyChunk(planes * outputHeight, costPerItem: 4 * outputWidth) { range in
                lucerna_max_pool_2x2_backward_f32(
                    gradient, places, mask, output, range.lowerBound, range.count, outputWidth) != 1
            }
        }
        func fill<T: TensorFloat>(_ gradient: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>) {
            let positions = choices.positions().pointer(as: Int64.self)
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
        if halving() {
            // every element written by the kernel
        } else if let active {
            // Without the kernel: the ReLU's backward, then the pooling's.
            return try scaledByStep(of: active, negativeValue: 0).tiledMaxPoolGradient(
                choices: choices, inputShape: inputShape, window: window)
        } else if dtype == .float32 {
            fill(pointer(as: Float.self), result.pointer(as: Float.self))
        } else {
            fill(pointer(as: Double.self), result.pointer(as: Double.self))
        }
        let gradientShape = shape
        return Tensor.record(result, operation: "max_pool2d_backward", inputs: [self]) { gradient, _ in
            let gathered = try gradient.reshaped([inputShape[0], inputShape[1], height * width])
                .gathering(axis: 2, indices: choices.positions(), validated: true).reshaped(gradientShape)
            return [try active.map { try gathered.scaledByStep(of: $0, negativeValue: 0) } ?? gathered]
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

    /// 2×2, stride-2 pooling of Float planes with even sides by the AVX2 kernel (`lucerna_max_pool_2x2_f32`),
    /// four outputs and their windows' codes at once; ties keep the first element in row-major order (a, b,
    /// then c, d), as PyTorch does; with `relu`, the maxima are stored ReLU'd. Returns the codes (one byte per
    /// output in a tensor's storage), or nil, having written nothing final, when the CPU has no AVX2, the outputs
    /// are under 4 wide, or the input holds a NaN: the exact loop then handles it (and a ReLU of its own follows).
    private static func maxPoolHalving(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, rows: Int, outputWidth: Int, relu: Bool
    ) -> Tensor? {
        guard outputWidth >= 4, lucerna_max_pool_2x2_available() == 1 else { return nil }
        let codes = Tensor(uninitializedShape: [(rows * outputWidth + 3) / 4], dtype: .float32)
        let places = codes.pointer(as: UInt8.self)
        // 0 for a NaN in a chunk's rows.
        let notDone = Parallel.anyChunk(rows, costPerItem: 4 * outputWidth) { range in
            lucerna_max_pool_2x2_f32(input, output, places, range.lowerBound, range.count, outputWidth, relu ? 1 : 0)
                != 1
        }
        return notDone ? nil : codes
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

/// Where each window's maximum is, for a max pooling's backward: in-plane positions `[N, C, OH·OW]` (Int64), or,
/// from the 2×2 kernel, one byte per output (0 top left, 1 top right, 2 bottom left, 3 bottom right): an eighth of
/// the positions' memory traffic for the forward pass to write and the backward pass to read. Positions are
/// made from the bytes only when a gather or scatter needs them (second-order gradients, the exact loops).
struct MaxPoolChoices {
    /// Int64 positions, when the exact loop pooled.
    private let stored: Tensor?
    /// The kernel's bytes, in the storage of a Float32 tensor of a quarter as many elements, and the output's
    /// shape `[N, C, OH, OW]`.
    let codes: Tensor?
    private let shape: [Int]

    init(positions: Tensor) { (stored, codes, shape) = (positions, nil, positions.shape) }

    init(codes: Tensor, shape: [Int]) { (stored, self.codes, self.shape) = (nil, codes, shape) }

    /// In-plane positions `[N, C, OH·OW]`, made from the codes if the kernel pooled.
    func positions() -> Tensor {
        if let stored { return stored }
        let (outputHeight, outputWidth) = (shape[2], shape[3])
        let width = 2 * outputWidth
        let rows = shape[0] * shape[1] * outputHeight
        let result = Tensor(uninitializedShape: [shape[0], shape[1], outputHeight * outputWidth], dtype: .int64)
        if let codes {
            let (places, positions) = (UnsafePointer(codes.pointer(as: UInt8.self)), result.pointer(as: Int64.self))
            Parallel.forEachChunk(rows, costPerItem: outputWidth) { range in
                for row in range {
                    let top = 2 * (row % outputHeight) * width
                    for column in 0..<outputWidth {
                        let place = Int(places[row * outputWidth + column])
                        positions[row * outputWidth + column] = Int64(
                            top + (place >> 1) * width + 2 * column + (place & 1))
                    }
                }
            }
        }
        return result
    }
}
