/// The geometry of a 2-D convolution: kernel size, stride, zero padding and dilation per axis.
public struct ConvolutionGeometry: Equatable, Sendable {
    public var kernel: (height: Int, width: Int)
    public var stride: (height: Int, width: Int)
    public var padding: (height: Int, width: Int)
    public var dilation: (height: Int, width: Int)

    public init(kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1)) {
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
        guard let outputHeight = Self.outputSize(height, kernel: kernel.height, stride: stride.height,
                                                 padding: padding.height, dilation: dilation.height),
              let outputWidth = Self.outputSize(width, kernel: kernel.width, stride: stride.width,
                                                padding: padding.width, dilation: dilation.width)
        else { return nil }
        return (outputHeight, outputWidth)
    }

    /// Checks all values are in range for `operation`.
    func validate(_ operation: String) throws {
        let values = [kernel.height, kernel.width, stride.height, stride.width, dilation.height, dilation.width]
        guard values.allSatisfy({ $0 > 0 }), padding.height >= 0, padding.width >= 0 else {
            throw TensorError(operation, "kernel, stride and dilation must be positive and padding non-negative (kernel \(kernel), stride \(stride), padding \(padding), dilation \(dilation))")
        }
    }
}

/// im2col and its adjoint col2im over a whole batch. Columns are laid out `[C·kh·kw, N·Ho·Wo]` so one
/// GEMM covers the batch.
enum ConvolutionKernels {
    struct Layout {
        let batch: Int, channels: Int, height: Int, width: Int
        let outputHeight: Int, outputWidth: Int
        let geometry: ConvolutionGeometry
        var positions: Int { outputHeight * outputWidth }
        var rows: Int { channels * geometry.kernel.height * geometry.kernel.width }
        var columns: Int { batch * positions }
    }

    static func im2col<T: TensorFloat>(_ input: UnsafePointer<T>, _ columns: UnsafeMutablePointer<T>, _ layout: Layout) {
        let g = layout.geometry
        let (height, width) = (layout.height, layout.width)
        let (outputHeight, outputWidth) = (layout.outputHeight, layout.outputWidth)
        let totalColumns = layout.columns, positions = layout.positions
        Parallel.forEachChunk(layout.batch, costPerItem: layout.rows * positions) { range in
            for n in range {
                for c in 0..<layout.channels {
                    let plane = input + (n * layout.channels + c) * height * width
                    for ki in 0..<g.kernel.height {
                        for kj in 0..<g.kernel.width {
                            let row = (c * g.kernel.height + ki) * g.kernel.width + kj
                            let destination = columns + row * totalColumns + n * positions
                            let columnOffset = kj * g.dilation.width - g.padding.width
                            for oh in 0..<outputHeight {
                                let ih = oh * g.stride.height - g.padding.height + ki * g.dilation.height
                                let out = destination + oh * outputWidth
                                if ih < 0 || ih >= height {
                                    out.update(repeating: 0, count: outputWidth)
                                    continue
                                }
                                let source = plane + ih * width
                                if g.stride.width == 1 && columnOffset >= 0 && columnOffset + outputWidth <= width {
                                    out.update(from: source + columnOffset, count: outputWidth)
                                } else {
                                    for ow in 0..<outputWidth {
                                        let iw = ow * g.stride.width + columnOffset
                                        out[ow] = (iw >= 0 && iw < width) ? source[iw] : 0
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds each column entry back into its input position (output pre-zeroed).
    static func col2im<T: TensorFloat>(_ columns: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ layout: Layout) {
        let g = layout.geometry
        let (height, width) = (layout.height, layout.width)
        let (outputHeight, outputWidth) = (layout.outputHeight, layout.outputWidth)
        let totalColumns = layout.columns, positions = layout.positions
        Parallel.forEachChunk(layout.batch, costPerItem: layout.rows * positions) { range in
            for n in range {
                for c in 0..<layout.channels {
                    let plane = output + (n * layout.channels + c) * height * width
                    for ki in 0..<g.kernel.height {
                        for kj in 0..<g.kernel.width {
                            let row = (c * g.kernel.height + ki) * g.kernel.width + kj
                            let source = columns + row * totalColumns + n * positions
                            let columnOffset = kj * g.dilation.width - g.padding.width
                            for oh in 0..<outputHeight {
                                let ih = oh * g.stride.height - g.padding.height + ki * g.dilation.height
                                if ih < 0 || ih >= height { continue }
                                let destination = plane + ih * width
                                let from = source + oh * outputWidth
                                for ow in 0..<outputWidth {
                                    let iw = ow * g.stride.width + columnOffset
                                    if iw >= 0 && iw < width { destination[iw] += from[ow] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
