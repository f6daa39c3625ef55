import CKernels
import Foundation

/// Direct convolution (`Sources/CKernels/convolution.c`) for Float32 convolutions with stride 1 and
/// dilation 1: the forward pass, and the input gradient as the stride-1 convolution of the output gradient
/// with the flipped, transposed weight. Each sample is copied into zero-padded planes and the outputs are
/// computed over the padded width, positions in vectors (16 with AVX-512, 8 with AVX2 and FMA, chosen at run
/// time) and four output channels at a time, so there is no im2col buffer; every output is its bias followed
/// by one fused multiply-add per tap in a fixed order, so equal input windows give equal bits at every
/// position of the image. Tensors stay NCHW on both sides. `LUCERNA_CONVOLUTION=im2col` turns it off
/// (im2col + GEMM, the reference the tests compare with).
enum DirectConvolution {
    /// Whether `LUCERNA_CONVOLUTION=im2col` turned the direct kernels off.
    static let disabled = ProcessInfo.processInfo.environment["LUCERNA_CONVOLUTION"] == "im2col"

    /// Output channels per vector here (1: the scalar body), or 0 when the direct kernels are not used.
    static var lanes: Int { disabled ? 0 : Int(lucerna_conv2d_direct_lanes()) }

    /// Runs `body` with the direct kernels' `lanes` body (16 AVX-512, 8 AVX2, 1 scalar) if this CPU has it,
    /// and returns nil without running it otherwise: tests compare the bodies bit for bit.
    static func withLanes<Result>(_ lanes: Int, _ body: () throws -> Result) rethrows -> Result? {
        guard !disabled, lucerna_conv2d_direct_set_lanes(lanes) == 1 else { return nil }
        defer { lucerna_conv2d_direct_set_lanes(-1) }
        return try body()
    }

    /// Whether a convolution of `layout` goes to the direct kernel: stride 1 and dilation 1.
    static func applies(_ layout: ConvolutionKernels.Layout) -> Bool {
        lanes > 0 && layout.geometry.dilation == (1, 1) && layout.geometry.stride == (1, 1)
    }

    /// Whether the input gradient of a convolution of `layout` goes to the direct kernel: also padding below
    /// the kernel size (the adjoint convolution's padding is kernel − 1 − padding).
    static func appliesToInputGradient(_ layout: ConvolutionKernels.Layout) -> Bool {
        let g = layout.geometry
        return applies(layout) && g.padding.height < g.kernel.height && g.padding.width < g.kernel.width
    }

    /// `output[n] = conv(input[n], weight) + bias` for the samples of `layout`.
    static func forward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, outputChannels: Int, layout: ConvolutionKernels.Layout
    ) {
        let g = layout.geometry
        run(
            input: input, channels: layout.channels, height: layout.height, width: layout.width,
            weight: weight, outputs: outputChannels, adjoint: false, bias: bias,
            kernel: g.kernel, padding: g.padding, output: output,
            outputSize: (layout.outputHeight, layout.outputWidth), count: layout.batch)
    }

    /// `inputGradient[n]` for the output gradient `[N, O, Ho, Wo]` of a stride-1 convolution of `layout`
    /// (every element written).
    static func inputGradient(
        outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, outputChannels: Int, layout: ConvolutionKernels.Layout
    ) {
        let g = layout.geometry
        run(
            input: outputGradient, channels: outputChannels, height: layout.outputHeight, width: layout.outputWidth,
            weight: weight, outputs: layout.channels, adjoint: true, bias: nil,
            kernel: g.kernel,
            padding: (g.kernel.height - 1 - g.padding.height, g.kernel.width - 1 - g.padding.width),
            output: inputGradient, outputSize: (layout.height, layout.width), count: layout.batch)
    }

    private static func run(
        input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
        weight: UnsafePointer<Float>, outputs: Int, adjoint: Bool, bias: UnsafePointer<Float>?,
        kernel: (height: Int, width: Int), padding: (height: Int, width: Int),
        output: UnsafeMutablePointer<Float>, outputSize: (Int, Int), count: Int
    ) {
        let padded = (outputs + 3) / 4 * 4
        let taps = kernel.height * kernel.width * channels
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: taps * padded)
        let paddedBias = bias.map { bias -> UnsafeMutablePointer<Float> in
            let values = UnsafeMutablePointer<Float>.allocate(capacity: padded)
            values.initialize(repeating: 0, count: padded)
            values.update(from: bias, count: outputs)
            return values
        }
        defer {
            packed.deallocate()
            paddedBias?.deallocate()
        }
        lucerna_conv2d_pack_weight(
            weight, outputs, channels, kernel.height, kernel.width, adjoint ? 1 : 0, padded, packed)
        let scratchCount = Int(
            lucerna_conv2d_direct_scratch(
                channels, height, width, kernel.height, kernel.width, padding.height, padding.width, padded))
        let (sampleSize, outputSampleSize) = (channels * height * width, outputs * outputSize.0 * outputSize.1)
        let cost = taps * padded * outputSize.0 * outputSize.1
        Parallel.forEachChunk(count, costPerItem: cost) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            lucerna_conv2d_direct_f32(
                input + range.lowerBound * sampleSize, range.count, channels, height, width, packed, paddedBias,
                outputs, padded, kernel.height, kernel.width, padding.height, padding.width,
                output + range.lowerBound * outputSampleSize, scratch)
        }
    }
}
