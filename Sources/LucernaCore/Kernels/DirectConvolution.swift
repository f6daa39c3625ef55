import CKernels
import Foundation

/// Direct convolution (`Sources/CKernels/convolution.c`) for Float32 convolutions: the forward pass at any
/// stride (up to 4) and dilation, and the adjoint in the input (the input gradient, and PyTorch's
/// `conv_transpose2d`) at any stride up to 4 with dilation 1. Each sample is copied into zero-padded planes —
/// for a strided forward pass, one plane per channel and stride phase, so every tap reads a contiguous run —
/// and the outputs are computed either over the planes' width, positions in vectors (16 with AVX-512, 8 with
/// AVX2 and FMA, chosen at run time) and four output channels at a time, or, where that wastes fewer
/// multiply-adds and a phase has 64 taps or more, at every real output position with vectors over output
/// channels (blocks of up to 6 positions × 64 channels, over tiles of taps whose weights fit the first-level
/// cache), so there is no im2col buffer. A transposed
/// convolution of stride s runs as s×s stride-1 convolutions, one per output phase, with the taps of that
/// phase. Every output is its bias followed by one fused multiply-add per tap in a fixed order, so equal input
/// windows give equal bits at every position of the same stride phase. The weight gradient reads the same
/// planes, with vectors over output channels (the output gradient transposed to channels-last per sample), or
/// for a stride-1 convolution with fewer than 64 taps with vectors over positions (the output gradient read in
/// place, the planes shifted once per column of the kernel).
/// Tensors stay NCHW on both sides.
/// `LUCERNA_CONVOLUTION=im2col` turns it off (im2col + GEMM, the reference the tests compare with).
enum DirectConvolution {
    /// Whether `LUCERNA_CONVOLUTION=im2col` turned the direct kernels off.
    static let disabled = ProcessInfo.processInfo.environment["LUCERNA_CONVOLUTION"] == "im2col"

    /// Output channels per vector here (1: the scalar body), or 0 when the direct kernels are not used.
    static var lanes: Int { disabled ? 0 : Int(lucerna_conv2d_direct_lanes()) }

    /// Runs `body` with the direct kernels' `lanes` body (16 AVX-512, 8 AVX2, 1 scalar) if this CPU has it,
    /// and returns nil without running it otherwise: tests compare the bodies bit for bit. With
    /// `emulatingAVX512`, sixteen lanes run the AVX-512 bodies' code with each vector made of two AVX2
    /// registers (`lucerna_conv2d_direct_emulate_avx512`), which a CPU with AVX2 and FMA can run.
    static func withLanes<Result>(_ lanes: Int, emulatingAVX512: Bool = false, _ body: () throws -> Result) rethrows
        -> Result?
    {
        guard !disabled else { return nil }
        if emulatingAVX512 {
            guard lucerna_conv2d_direct_emulate_avx512(1) == 1 else { return nil }
        }
        defer { if emulatingAVX512 { lucerna_conv2d_direct_emulate_avx512(0) } }
        guard lucerna_conv2d_direct_set_lanes(lanes) == 1 else { return nil }
        defer { lucerna_conv2d_direct_set_lanes(-1) }
        return try body()
    }

    /// Runs `body` with the forward and input-gradient kernels' vectors over output channels (`true`) or over
    /// positions (`false`) wherever they have vectors, instead of the mode with fewer multiply-adds: tests
    /// compare the two modes bit for bit.
    static func withChannelVectors<Result>(_ channels: Bool, _ body: () throws -> Result) rethrows -> Result {
        lucerna_conv2d_direct_set_channel_vectors(channels ? 1 : 0)
        defer { lucerna_conv2d_direct_set_channel_vectors(-1) }
        return try body()
    }

    /// Whether the plan of a convolution of `layout` (its forward pass, or with `transposed` its input
    /// gradient) puts its vectors over output channels; nil when the direct kernels do not take it.
    static func usesChannelVectors(_ layout: ConvolutionKernels.Layout, outputChannels: Int, transposed: Bool)
        -> Bool?
    {
        var result: Bool?
        _ = withPlan(layout, outputChannels: outputChannels, transposed: transposed, weight: nil, bias: nil) {
            result = lucerna_conv2d_plan_channel_vectors($0) == 1
        }
        return result
    }

    /// Whether a convolution of `layout` goes to the direct kernel: strides up to `LUCERNA_CONV2D_MAX_STRIDE`.
    static func applies(_ layout: ConvolutionKernels.Layout) -> Bool {
        let stride = layout.geometry.stride
        let largest = Int(LUCERNA_CONV2D_MAX_STRIDE)
        return lanes > 0 && stride.height <= largest && stride.width <= largest
    }

    /// Whether the engine sends the forward pass of `layout` to the direct kernel: everything ``applies(_:)``
    /// takes except strided convolutions with fewer than 64 taps (input channels × kernel), where im2col + GEMM
    /// measured faster (`BENCHMARKS.md`: the critic's 2 → 64, 4×4 stride-2 convolution, 45 against 50-52
    /// GFLOP/s). Since the tiles of taps the direct kernel is the faster one there in
    /// `scripts/bench/convolution_kernels.c` (50.5 against 41.6 on the Zen 3 EPYC), but sending it and that
    /// layer's weight gradient direct changed `wgan_gp_step` by less than the noise (`BENCHMARKS.md`, fourteenth
    /// section: the layer has about 5 % of the critic's multiply-adds), so the rule stays. Stride-1 convolutions
    /// always go direct, for their translation consistency.
    static func prefersForward(_ layout: ConvolutionKernels.Layout) -> Bool {
        let g = layout.geometry
        return applies(layout)
            && (g.stride == (1, 1) || layout.channels * g.kernel.height * g.kernel.width >= 64)
    }

    /// Whether the input gradient of a convolution of `layout` goes to the direct kernel: also dilation 1 and
    /// at least four input channels (the kernel computes four channels at a time; for one or two, im2col +
    /// GEMM measured faster: `BENCHMARKS.md`).
    static func appliesToInputGradient(_ layout: ConvolutionKernels.Layout) -> Bool {
        applies(layout) && layout.geometry.dilation == (1, 1) && layout.channels >= 4
    }

    /// Whether the weight gradient of a convolution of `layout` goes to the direct kernel: everything
    /// ``applies(_:)`` takes that has stride 1 or at least 64 taps (input channels × kernel). Stride-1
    /// convolutions with fewer taps run the kernel with vectors over positions, which reads the output gradient
    /// in place (the benchmark CNN's first convolution, 9 taps: 58-73 GFLOP/s against 21-23 for im2col + GEMM in
    /// `scripts/bench/convolution_kernels.c`; vectors over channels, which transpose each sample's output
    /// gradient, measured 45 there but 3 % slower than im2col in the engine at two threads: `BENCHMARKS.md`,
    /// fourteenth section). Strided ones with fewer taps go to im2col + GEMM (the critic's first, 32 taps, 61
    /// against 64 GFLOP/s when the rule was set; 58.5 against 47.1 later, with no change in `wgan_gp_step`
    /// beyond the noise: the fourteenth section).
    static func prefersWeightGradient(_ layout: ConvolutionKernels.Layout) -> Bool {
        let g = layout.geometry
        return applies(layout) && (g.stride == (1, 1) || layout.channels * g.kernel.height * g.kernel.width >= 64)
    }

    /// `weightGradient = Σₙ outputGradient[n] ⋆ input[n]`, `[O, C, kh, kw]` (every element written); false
    /// (nothing written) when the direct kernel does not take this convolution (see ``applies(_:)``). The samples
    /// are summed in pieces (one with one thread, about four a thread with more), whichever thread runs each, and
    /// the pieces' sums added in order: the bits depend on the thread count only, as with im2col + GEMM.
    /// With `biasGradient`, also `Σₙ Σ_positions outputGradient[n]` per output channel, `[O]`, in the same pass.
    static func weightGradient(
        input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>? = nil,
        outputChannels: Int, layout: ConvolutionKernels.Layout
    ) -> Bool {
        guard applies(layout) else { return false }
        return withPlan(layout, outputChannels: outputChannels, transposed: false, weight: nil, bias: nil) { plan in
            sumWeightGradient(
                plan: plan, input: input, outputGradient: outputGradient, weightGradient: weightGradient,
                biasGradient: biasGradient, outputChannels: outputChannels, layout: layout)
        }
    }

    private static func sumWeightGradient(
        plan: UnsafeRawPointer, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?, outputChannels: Int,
        layout: ConvolutionKernels.Layout
    ) {
        let size = Int(lucerna_conv2d_weight_size(plan))
        let scratchCount = Int(lucerna_conv2d_weight_scratch(plan))
        let taps = layout.channels * layout.geometry.kernel.height * layout.geometry.kernel.width
        // The split into pieces, hence the bits, must not depend on the vector width.
        let cost = taps * outputChannels * layout.positions
        // One partial sum per piece of samples, whichever thread runs it, added in the pieces' order.
        let pieceSize = Parallel.pieceSize(
            layout.batch, workers: Parallel.chunkCount(layout.batch, costPerItem: cost))
        let pieces = max(1, (layout.batch + pieceSize - 1) / pieceSize)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: size * pieces)
        partials.initialize(repeating: 0, count: size * pieces)
        defer { partials.deallocate() }
        let (inputSample, outputSample) = (
            layout.channels * layout.height * layout.width, outputChannels * layout.positions
        )
        forEachPiece(layout.batch, costPerItem: cost, scratchCount: scratchCount) { scratch, range in
            lucerna_conv2d_weight_run(
                plan, input + range.lowerBound * inputSample, outputGradient + range.lowerBound * outputSample,
                range.count, partials + range.lowerBound / pieceSize * size, biasGradient == nil ? 0 : 1, scratch)
        }
        for piece in 1..<pieces {
            let (total, partial) = (partials, partials + piece * size)
            for index in 0..<size { total[index] += partial[index] }
        }
        lucerna_conv2d_weight_finish(plan, partials, weightGradient, biasGradient)
    }

    /// `output[n] = conv(input[n], weight) + bias` for the samples of `layout`; false (nothing written) when
    /// the direct kernel does not take this convolution (see ``applies(_:)``).
    static func forward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, outputChannels: Int, layout: ConvolutionKernels.Layout
    ) -> Bool {
        guard applies(layout) else { return false }
        return run(
            layout: layout, outputChannels: outputChannels, transposed: false, weight: weight, bias: bias,
            input: input, output: output)
    }

    /// `inputGradient[n]` (every element written) for the output gradient `[N, O, Ho, Wo]` of a convolution of
    /// `layout`; false (nothing written) when the direct kernel does not take it (see
    /// ``appliesToInputGradient(_:)``).
    static func inputGradient(
        outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, outputChannels: Int, layout: ConvolutionKernels.Layout
    ) -> Bool {
        guard appliesToInputGradient(layout) else { return false }
        return run(
            layout: layout, outputChannels: outputChannels, transposed: true, weight: weight, bias: nil,
            input: outputGradient, output: inputGradient)
    }

    /// The C kernels' description of a convolution of `layout`.
    private static func shape(_ layout: ConvolutionKernels.Layout, outputChannels: Int) -> LucernaConvolution {
        let g = layout.geometry
        return LucernaConvolution(
            channels: layout.channels, height: layout.height, width: layout.width, outputs: outputChannels,
            kernel_h: g.kernel.height, kernel_w: g.kernel.width, stride_h: g.stride.height,
            stride_w: g.stride.width, pad_h: g.padding.height, pad_w: g.padding.width,
            dilation_h: g.dilation.height, dilation_w: g.dilation.width)
    }

    /// Builds the C plan of a convolution of `layout` and runs `body` with it; false (and `body` not run) when
    /// the C kernels do not take the convolution.
    private static func withPlan(
        _ layout: ConvolutionKernels.Layout, outputChannels: Int, transposed: Bool, weight: UnsafePointer<Float>?,
        bias: UnsafePointer<Float>?, _ body: (UnsafeRawPointer) -> Void
    ) -> Bool {
        var shape = shape(layout, outputChannels: outputChannels)
        let bytes = Int(lucerna_conv2d_plan(&shape, transposed ? 1 : 0, weight, bias, nil))
        guard bytes > 0 else { return false }
        let plan = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { plan.deallocate() }
        lucerna_conv2d_plan(&shape, transposed ? 1 : 0, weight, bias, plan)
        body(UnsafeRawPointer(plan))
        return true
    }

    private static func run(
        layout: ConvolutionKernels.Layout, outputChannels: Int, transposed: Bool, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) -> Bool {
        withPlan(layout, outputChannels: outputChannels, transposed: transposed, weight: weight, bias: bias) { plan in
            run(
                plan: plan, layout: layout, outputChannels: outputChannels, transposed: transposed, input: input,
                output: output)
        }
    }

    private static func run(
        plan: UnsafeRawPointer, layout: ConvolutionKernels.Layout, outputChannels: Int, transposed: Bool,
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
        let scratchCount = Int(lucerna_conv2d_plan_scratch(plan))
        let inputSample =
            transposed ? outputChannels * layout.positions : layout.channels * layout.height * layout.width
        let outputSample =
            transposed ? layout.channels * layout.height * layout.width : outputChannels * layout.positions
        let cost = Int(lucerna_conv2d_plan_cost(plan))
        // Each sample's output is computed alone, so pieces may go to any thread (the same bits).
        forEachPiece(layout.batch, costPerItem: cost, scratchCount: scratchCount) { scratch, range in
            lucerna_conv2d_plan_run(
                plan, input + range.lowerBound * inputSample, range.count,
                output + range.lowerBound * outputSample, scratch)
        }
    }

    /// ``Parallel/forEachPiece(_:costPerItem:_:)`` over the batch with `scratchCount` floats of scratch for each
    /// thread, on cache lines of its own, allocated once for the region.
    private static func forEachPiece(
        _ batch: Int, costPerItem cost: Int, scratchCount: Int,
        _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void
    ) {
        let stride = (max(scratchCount, 1) + 15) / 16 * 16
        let scratch = UnsafeMutablePointer<Float>.allocate(
            capacity: stride * Parallel.chunkCount(batch, costPerItem: cost))
        defer { scratch.deallocate() }
        Parallel.forEachPiece(batch, costPerItem: cost) { worker, range in body(scratch + worker * stride, range) }
    }
}
