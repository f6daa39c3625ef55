import XCTest

@testable import LucernaCore

/// The direct convolution kernels (`Sources/CKernels/convolution.c`): the same outputs and input gradients as
/// im2col + GEMM and as Float64 over a grid of shapes, strides, paddings and dilations; the AVX-512, AVX2 and
/// scalar bodies bit for bit equal; equal input windows
/// give equal bits at every position of the same stride phase; and max-pool ties after a convolution break as
/// PyTorch breaks them.
final class DirectConvolutionTests: XCTestCase {
    struct Case {
        var batch: Int, channels: Int, outputs: Int, height: Int, width: Int
        var kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)
        var dilation: (Int, Int) = (1, 1)
    }

    /// Shapes the models use (3×3, stride 1, small channel counts) and awkward ones: odd sizes, kernels and
    /// paddings, output channel counts that are not multiples of the four-channel block, one output channel.
    let cases: [Case] = [
        Case(
            batch: 2, channels: 1, outputs: 32, height: 28, width: 28, kernel: (3, 3), stride: (1, 1), padding: (1, 1)),
        Case(
            batch: 3, channels: 32, outputs: 64, height: 14, width: 14, kernel: (3, 3), stride: (1, 1), padding: (1, 1)),
        Case(batch: 2, channels: 64, outputs: 1, height: 7, width: 7, kernel: (4, 4), stride: (1, 1), padding: (1, 1)),
        Case(
            batch: 1, channels: 16, outputs: 24, height: 14, width: 14, kernel: (4, 4), stride: (1, 1), padding: (2, 2)),
        Case(batch: 2, channels: 5, outputs: 33, height: 9, width: 11, kernel: (3, 5), stride: (1, 1), padding: (2, 1)),
        Case(batch: 1, channels: 3, outputs: 6, height: 7, width: 13, kernel: (2, 2), stride: (1, 1), padding: (0, 1)),
        Case(batch: 2, channels: 4, outputs: 20, height: 6, width: 6, kernel: (1, 1), stride: (1, 1), padding: (0, 0)),
        Case(
            batch: 1, channels: 7, outputs: 17, height: 12, width: 10, kernel: (5, 5), stride: (1, 1), padding: (2, 2)),
        // The GAN critics' 4×4 stride-2 convolutions (their adjoints are the generators' upsampling).
        Case(
            batch: 2, channels: 2, outputs: 64, height: 28, width: 28, kernel: (4, 4), stride: (2, 2), padding: (1, 1)),
        Case(
            batch: 2, channels: 64, outputs: 128, height: 14, width: 14, kernel: (4, 4), stride: (2, 2), padding: (1, 1)
        ),
        // Strides that do not divide the kernel (phases with fewer taps), a 1×1 stride-2 shortcut (phases with
        // no taps), stride 3, unequal strides, padding as large as the kernel, and dilation (forward only).
        Case(
            batch: 2, channels: 3, outputs: 10, height: 13, width: 11, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        Case(
            batch: 2, channels: 8, outputs: 16, height: 14, width: 14, kernel: (1, 1), stride: (2, 2), padding: (0, 0)),
        Case(batch: 1, channels: 5, outputs: 9, height: 17, width: 16, kernel: (5, 5), stride: (3, 3), padding: (2, 2)),
        Case(batch: 2, channels: 4, outputs: 7, height: 12, width: 15, kernel: (3, 4), stride: (2, 1), padding: (1, 2)),
        Case(batch: 1, channels: 4, outputs: 5, height: 9, width: 9, kernel: (3, 3), stride: (1, 1), padding: (3, 3)),
        Case(
            batch: 2, channels: 4, outputs: 6, height: 12, width: 12, kernel: (3, 3), stride: (2, 2), padding: (2, 2),
            dilation: (2, 2)),
        // 333 taps: the channel-vector kernel's tiles of taps (at most 256 with AVX2, 64 with AVX-512) come out
        // of unequal length, the last one short.
        Case(
            batch: 1, channels: 37, outputs: 20, height: 9, width: 9, kernel: (3, 3), stride: (1, 1), padding: (1, 1)),
        // Dilation at stride 1 with few taps: the weight gradient's vectors over positions read shifted planes
        // at two columns and two rows a tap; 99 positions, not a whole number of vectors.
        Case(
            batch: 3, channels: 2, outputs: 5, height: 11, width: 9, kernel: (3, 3), stride: (1, 1), padding: (2, 2),
            dilation: (2, 2)),
        // Whole vectors of positions and whole blocks of four channels: the forward pass over shifted planes,
        // dilated, and with an unequal kernel and padding (72 positions: AVX-512 takes the other path there).
        Case(
            batch: 2, channels: 2, outputs: 8, height: 12, width: 10, kernel: (3, 3), stride: (1, 1),
            padding: (2, 2), dilation: (2, 2)),
        Case(batch: 2, channels: 3, outputs: 4, height: 9, width: 9, kernel: (2, 3), stride: (1, 1), padding: (0, 1)),
    ]

    func values(_ count: Int, _ generator: RandomGenerator) -> [Double] {
        (0..<count).map { _ in Double(generator.next() % 2001) / 1000 - 1 }
    }

    func layout(_ item: Case) throws -> ConvolutionKernels.Layout {
        let geometry = ConvolutionGeometry(
            kernel: item.kernel, stride: item.stride, padding: item.padding, dilation: item.dilation)
        let (outputHeight, outputWidth) = try XCTUnwrap(geometry.outputSize(height: item.height, width: item.width))
        return ConvolutionKernels.Layout(
            batch: item.batch, channels: item.channels, height: item.height, width: item.width,
            outputHeight: outputHeight, outputWidth: outputWidth, geometry: geometry)
    }

    /// The forward output (with a bias), where the direct kernel takes it (dilation 1, four or more input
    /// channels) the input gradient, and the weight gradient of `item` by the direct kernel with `lanes`, by
    /// im2col + GEMM in Float32, and in Float64.
    func outputs(_ item: Case, lanes: Int, emulatingAVX512: Bool = false) throws -> (
        direct: [[Float]], im2col: [[Float]], exact: [[Double]]
    )? {
        let generator = RandomGenerator(seed: UInt64(item.channels * 100 + item.outputs))
        let layout = try layout(item)
        let input = values(item.batch * item.channels * item.height * item.width, generator)
        let weight = values(item.outputs * item.channels * item.kernel.0 * item.kernel.1, generator)
        let bias = values(item.outputs, generator)
        let outputCount = item.batch * item.outputs * layout.positions
        let gradient = values(outputCount, generator)
        let (inputFloat, weightFloat, biasFloat, gradientFloat) = (
            input.map(Float.init), weight.map(Float.init), bias.map(Float.init), gradient.map(Float.init)
        )
        let adjoint = DirectConvolution.appliesToInputGradient(layout)
        var direct: [[Float]] = []
        guard
            DirectConvolution.withLanes(
                lanes, emulatingAVX512: emulatingAVX512,
                {
                    // Each kernel writes into NaNs and says whether it took the convolution.
                    func run(_ count: Int, taken: Bool, _ kernel: (inout [Float]) -> Bool) {
                        var values = [Float](repeating: .nan, count: count)
                        XCTAssertEqual(kernel(&values), taken, "\(item)")
                        if taken { direct.append(values) }
                    }
                    run(outputCount, taken: true) {
                        DirectConvolution.forward(
                            input: inputFloat, weight: weightFloat, bias: biasFloat, output: &$0,
                            outputChannels: item.outputs, layout: layout)
                    }
                    run(input.count, taken: adjoint) {
                        DirectConvolution.inputGradient(
                            outputGradient: gradientFloat, weight: weightFloat, inputGradient: &$0,
                            outputChannels: item.outputs, layout: layout)
                    }
                    run(weight.count, taken: true) {
                        DirectConvolution.weightGradient(
                            input: inputFloat, outputGradient: gradientFloat, weightGradient: &$0,
                            outputChannels: item.outputs, layout: layout)
                    }
                    // The weight gradient again with the bias's in the same pass: the same weight bits.
                    var biasGradient = [Float](repeating: .nan, count: item.outputs)
                    var weightAgain = [Float](repeating: .nan, count: weight.count)
                    let taken = biasGradient.withUnsafeMutableBufferPointer { bias in
                        DirectConvolution.weightGradient(
                            input: inputFloat, outputGradient: gradientFloat, weightGradient: &weightAgain,
                            biasGradient: bias.baseAddress, outputChannels: item.outputs, layout: layout)
                    }
                    XCTAssertTrue(taken, "\(item)")
                    XCTAssertEqual(
                        weightAgain.map(\.bitPattern), direct.last?.map(\.bitPattern), "with the bias, \(item)")
                    direct.append(biasGradient)
                    return true
                }) != nil
        else { return nil }
        func reference<T: TensorFloat>(_ input: [T], _ weight: [T], _ bias: [T], _ gradient: [T]) -> [[T]] {
            var output = [T](repeating: 0, count: outputCount)
            ConvolutionKernels.forward(
                input: input, weight: weight, bias: bias, output: &output, outputChannels: item.outputs,
                layout: layout)
            var weightGradient = [T](repeating: 0, count: weight.count)
            ConvolutionKernels.backwardWeight(
                input: input, outputGradient: gradient, weightGradient: &weightGradient,
                outputChannels: item.outputs, layout: layout)
            var biasGradient = [T](repeating: 0, count: item.outputs)
            for index in gradient.indices { biasGradient[index / layout.positions % item.outputs] += gradient[index] }
            guard adjoint else { return [output, weightGradient, biasGradient] }
            var inputGradient = [T](repeating: 0, count: input.count)
            ConvolutionKernels.backwardInput(
                outputGradient: gradient, weight: weight, inputGradient: &inputGradient,
                outputChannels: item.outputs, layout: layout)
            return [output, inputGradient, weightGradient, biasGradient]
        }
        return (
            direct, reference(inputFloat, weightFloat, biasFloat, gradientFloat),
            reference(input, weight, bias, gradient)
        )
    }

    func testDirectConvolutionMatchesIm2colAndFloat64AcrossShapes() throws {
        guard DirectConvolution.lanes > 0 else { throw XCTSkip("no AVX2/AVX-512 here: the direct kernels are off") }
        for item in cases {
            let result = try XCTUnwrap(try outputs(item, lanes: DirectConvolution.lanes))
            XCTAssertEqual(result.direct.count, result.im2col.count)
            let layout = try layout(item)
            let names =
                ["output"] + (DirectConvolution.appliesToInputGradient(layout) ? ["input gradient"] : [])
                + ["weight gradient", "bias gradient"]
            for (part, name) in zip(0..<result.direct.count, names) {
                // Each value sums products of numbers in [-1, 1] — C·kh·kw of them for an output (about as
                // many for an input gradient), N·Ho·Wo for a weight gradient: Float32 rounding is well
                // within 2e-6 of each term.
                let terms =
                    name.hasSuffix("weight gradient") || name == "bias gradient"
                    ? item.batch * layout.positions : item.channels * item.kernel.0 * item.kernel.1
                let tolerance = 2e-6 * Double(terms)
                for (index, value) in result.direct[part].enumerated() {
                    XCTAssertEqual(Double(value), result.exact[part][index], accuracy: tolerance, "\(name) \(item)")
                    XCTAssertEqual(
                        value, result.im2col[part][index], accuracy: Float(tolerance), "\(name) \(item) vs im2col")
                }
            }
        }
    }

    /// The engine's routing: stride-1 forward passes always direct; strided ones with fewer than 64 taps to
    /// im2col (measured faster); input gradients into fewer than four channels to im2col; strided weight
    /// gradients with fewer than 64 taps to im2col (stride-1 ones run over shifted planes).
    func testTheEngineRoutesByTheMeasuredRule() throws {
        guard DirectConvolution.lanes > 0 else { throw XCTSkip("no AVX2/AVX-512 here: the direct kernels are off") }
        let routes = try cases.map { item -> [Bool] in
            let layout = try layout(item)
            return [
                DirectConvolution.prefersForward(layout), DirectConvolution.appliesToInputGradient(layout),
                DirectConvolution.prefersWeightGradient(layout),
            ]
        }
        XCTAssertEqual(routes[0], [true, false, true])  // 1 → 32, 3×3: the input gradient by im2col
        XCTAssertEqual(routes[1], [true, true, true])  // 32 → 64, 3×3
        XCTAssertEqual(routes[8], [false, false, false])  // the critic's 2 → 64, 4×4 stride 2: 32 taps, 2 channels
        XCTAssertEqual(routes[9], [true, true, true])  // the critic's 64 → 128, 4×4 stride 2
        XCTAssertEqual(routes[15], [false, false, false])  // dilated stride 2 with 36 taps
        XCTAssertEqual(routes[17], [true, false, true])  // dilated stride 1 with 18 taps
        XCTAssertEqual(routes[7], [true, true, true])  // 7 → 17, 5×5: 175 taps
    }

    /// A gradient-penalty double backward in Float32 — forward, input gradient and weight gradient all by the
    /// direct kernels (stride 1 and 2, 72 and 128 taps), the penalty's gradient in the weights through the
    /// weight-gradient kernel — against the same computation in Float64 (im2col + GEMM).
    func testADoubleBackwardThroughTheDirectKernelsMatchesFloat64() throws {
        guard DirectConvolution.lanes > 0 else { throw XCTSkip("no AVX2/AVX-512 here: the direct kernels are off") }
        let generator = RandomGenerator(seed: 11)
        let x = values(2 * 8 * 10 * 10, generator)
        let first = values(16 * 8 * 3 * 3, generator)
        let second = values(4 * 16 * 2 * 2, generator)
        func penaltyGradients(_ dtype: DType) throws -> [[Double]] {
            let input = try Tensor(shape: [2, 8, 10, 10], values: x, dtype: dtype).requiringGrad()
            let w1 = try Tensor(shape: [16, 8, 3, 3], values: first, dtype: dtype).requiringGrad()
            let w2 = try Tensor(shape: [4, 16, 2, 2], values: second, dtype: dtype).requiringGrad()
            let hidden = try input.conv2d(weight: w1, padding: (1, 1)).tanh()
            let output = try hidden.conv2d(weight: w2, stride: (2, 2)).sum()
            let inputGradient = try XCTUnwrap(
                try Tensor.gradients(of: [output], withRespectTo: [input], createGraph: true)[0])
            try (inputGradient * inputGradient).sum().backward()
            return [try XCTUnwrap(w1.grad).toDoubles(), try XCTUnwrap(w2.grad).toDoubles()]
        }
        let single = try penaltyGradients(.float32)
        let double = try penaltyGradients(.float64)
        for (part, name) in zip(0..<2, ["first weight", "second weight"]) {
            let scale = double[part].map(Swift.abs).max() ?? 1
            for (index, value) in single[part].enumerated() {
                XCTAssertEqual(value, double[part][index], accuracy: 1e-4 * scale, "\(name) \(index)")
            }
        }
    }

    /// The bias gradient the weight-gradient kernel sums in its pass is differentiable: the weight gradient of
    /// a penalty on the bias gradient (∂/∂w Σ (∂L/∂b)² for L = Σ tanh(conv(x, w) + b)), through both the 9-tap
    /// kernel (vectors over positions) and the 72-tap one (vectors over channels), in Float32 against Float64.
    func testTheFusedBiasGradientDifferentiatesAsASum() throws {
        guard DirectConvolution.lanes > 0 else { throw XCTSkip("no AVX2/AVX-512 here: the direct kernels are off") }
        let generator = RandomGenerator(seed: 12)
        for channels in [1, 8] {
            let x = values(2 * channels * 9 * 9, generator)
            let w = values(4 * channels * 3 * 3, generator)
            let b = values(4, generator)
            func penaltyGradient(_ dtype: DType) throws -> [Double] {
                let input = try Tensor(shape: [2, channels, 9, 9], values: x, dtype: dtype)
                let weight = try Tensor(shape: [4, channels, 3, 3], values: w, dtype: dtype).requiringGrad()
                let bias = try Tensor(shape: [4], values: b, dtype: dtype).requiringGrad()
                let loss = try input.conv2d(weight: weight, bias: bias, padding: (1, 1)).tanh().sum()
                let gradients = try Tensor.gradients(of: [loss], withRespectTo: [weight, bias], createGraph: true)
                let biasGradient = try XCTUnwrap(gradients[1])
                return try XCTUnwrap(
                    Tensor.gradients(of: [(biasGradient * biasGradient).sum()], withRespectTo: [weight])[0]
                ).toDoubles()
            }
            let (single, double) = (try penaltyGradient(.float32), try penaltyGradient(.float64))
            let scale = double.map(Swift.abs).max() ?? 1
            XCTAssertGreaterThan(scale, 0)
            for (a, b) in zip(single, double) { XCTAssertEqual(a, b, accuracy: 1e-4 * scale, "\(channels) channels") }
        }
    }

    /// The vector bodies a CPU can run: AVX2 (8 lanes), AVX-512 (16), and the AVX-512 bodies' code emulated with
    /// pairs of AVX2 registers, which runs wherever AVX2 does, so the sixteen-lane blocks, tiles and tails are
    /// tested on CPUs without AVX-512 too.
    let vectorBodies: [(lanes: Int, emulatingAVX512: Bool)] = [(8, false), (16, false), (16, true)]

    func testVectorBodiesAndScalarBodyAgreeBitForBit() throws {
        for item in cases {
            guard let scalar = try outputs(item, lanes: 1) else { throw XCTSkip("direct kernels are off") }
            var compared = 0
            for body in vectorBodies {
                guard let vector = try outputs(item, lanes: body.lanes, emulatingAVX512: body.emulatingAVX512)
                else { continue }
                XCTAssertEqual(vector.direct, scalar.direct, "\(body) against the scalar body, \(item)")
                compared += 1
            }
            if compared == 0 { throw XCTSkip("this CPU has neither AVX2 nor AVX-512") }
            // Wherever AVX2 runs, so does the emulated AVX-512 body.
            if DirectConvolution.withLanes(8, {}) != nil { XCTAssertGreaterThanOrEqual(compared, 2, "\(item)") }
        }
    }

    /// Pieces go to whichever thread is free: one, two and three threads give the same forward and input-gradient
    /// bits over a batch that does not split evenly, and the weight gradient (summed per piece, the pieces in
    /// order) the same bits in every run at a thread count, close to one thread's.
    func testThreadCountsGiveTheSameBitsWhicheverThreadRunsAPiece() throws {
        let item = Case(
            batch: 37, channels: 8, outputs: 16, height: 14, width: 14, kernel: (3, 3), stride: (1, 1), padding: (1, 1))
        let previous = Parallel.threadCount
        defer { Parallel.setThreadCount(previous) }
        var results: [[[Float]]] = []
        for threads in [1, 2, 3] {
            Parallel.setThreadCount(threads)
            XCTAssertEqual(Parallel.chunkCount(item.batch, costPerItem: 16 * 72 * 196), threads)
            var runs: [[[Float]]] = []
            for _ in 0..<4 {
                guard let run = try outputs(item, lanes: 8) ?? outputs(item, lanes: 1) else {
                    throw XCTSkip("direct kernels are off")
                }
                runs.append(run.direct)
            }
            XCTAssertEqual(runs[0].count, 4)
            for run in runs.dropFirst() { XCTAssertEqual(run, runs[0], "\(threads) threads, run against run") }
            results.append(runs[0])
        }
        for (threads, result) in zip([2, 3], results.dropFirst()) {
            XCTAssertEqual(Array(result.prefix(2)), Array(results[0].prefix(2)), "\(threads) threads")
            for part in [2, 3] {
                for (a, b) in zip(result[part], results[0][part]) {
                    XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "parameter gradient at \(threads) threads")
                }
            }
        }
    }

    /// Vectors over output channels (every real output position, blocks of positions × channels) and vectors over
    /// the planes' positions give the same bits for every case, body and kernel, whichever the plan would choose.
    func testChannelAndPositionVectorsAgreeBitForBit() throws {
        var compared = 0
        for item in cases {
            for (lanes, emulatingAVX512) in vectorBodies {
                // The forcing reaches the plans, so the two runs below do take different paths.
                let layout = try layout(item)
                let modes = DirectConvolution.withLanes(lanes, emulatingAVX512: emulatingAVX512) {
                    [true, false].map { channels in
                        DirectConvolution.withChannelVectors(channels) {
                            DirectConvolution.usesChannelVectors(
                                layout, outputChannels: item.outputs, transposed: false)
                        }
                    }
                }
                if let modes { XCTAssertEqual(modes, [true, false], "\(lanes) lanes, \(item)") }
                guard
                    let byChannels = try DirectConvolution.withChannelVectors(
                        true, { try outputs(item, lanes: lanes, emulatingAVX512: emulatingAVX512) }),
                    let byPositions = try DirectConvolution.withChannelVectors(
                        false, { try outputs(item, lanes: lanes, emulatingAVX512: emulatingAVX512) })
                else { continue }
                XCTAssertEqual(
                    byChannels.direct, byPositions.direct, "\(lanes) lanes, emulated \(emulatingAVX512), \(item)")
                XCTAssertFalse(byChannels.direct.joined().contains { $0.isNaN }, "\(item)")
                compared += 1
            }
        }
        if compared == 0 { throw XCTSkip("this CPU has neither AVX2 nor AVX-512") }
    }

    /// The automatic choice: vectors over output channels for the critic's 64→128 stride-2 layer and its input
    /// gradient (a 7×7 output: 49 real positions against 64 computed over the planes' width), over positions for
    /// the benchmark CNN's first layer (9 taps, under the 64-tap floor) and for one output channel.
    func testPlansChooseChannelVectorsWhereTheyWasteLess() throws {
        guard DirectConvolution.lanes > 1 else { throw XCTSkip("no AVX2/AVX-512 here: the direct kernels are off") }
        func uses(_ item: Case, transposed: Bool) throws -> Bool? {
            DirectConvolution.usesChannelVectors(try layout(item), outputChannels: item.outputs, transposed: transposed)
        }
        let critic = cases[9]
        let first = cases[0]
        let single = cases[2]
        XCTAssertEqual([critic.channels, critic.outputs, first.channels, single.outputs], [64, 128, 1, 1])
        XCTAssertEqual(try uses(critic, transposed: false), true)
        XCTAssertEqual(try uses(critic, transposed: true), true)
        XCTAssertEqual(try uses(first, transposed: false), false)
        XCTAssertEqual(try uses(single, transposed: false), false)
    }

    /// A constant image gives one value per output channel at every interior position, and a periodic image
    /// the same value at positions of the same phase — where im2col + GEMM can differ in the last bits
    /// between GEMM blocks (with OpenBLAS's Haswell kernels, 2 ulp on the benchmark CNN's first convolution:
    /// `OPENBLAS_CORETYPE=Haswell LUCERNA_CONVOLUTION=im2col` fails this test; its Cooperlake kernels pass).
    func testEqualWindowsGiveEqualBitsEverywhere() throws {
        guard DirectConvolution.lanes > 0 else { throw XCTSkip("no AVX2/AVX-512 here: the direct kernels are off") }
        // The benchmark CNN's two convolutions (1 → 32 at 28×28, 32 → 64 at 14×14) and an odd one.
        for (channels, outputs, side) in [(1, 32, 28), (32, 64, 14), (8, 24, 20)] {
            try assertEqualWindowsGiveEqualBits(channels: channels, outputs: outputs, side: side)
        }
    }

    func assertEqualWindowsGiveEqualBits(channels: Int, outputs: Int, side: Int) throws {
        let generator = RandomGenerator(seed: 4)
        let weight = try Tensor(
            shape: [outputs, channels, 3, 3], values: values(outputs * channels * 9, generator), dtype: .float32)
        let bias = try Tensor(shape: [outputs], values: values(outputs, generator), dtype: .float32)
        for period in [1, 2, 3] {
            var image = [Float](repeating: 0, count: 2 * channels * side * side)
            for n in 0..<2 {
                for c in 0..<channels {
                    for h in 0..<side {
                        for w in 0..<side {
                            image[((n * channels + c) * side + h) * side + w] =
                                Float(1 + (h % period) * 3 + (w % period)) * 0.37 + Float(c) * 0.01
                        }
                    }
                }
            }
            let input = try Tensor(shape: [2, channels, side, side], scalars: image)
            let output = try input.conv2d(weight: weight, bias: bias, padding: (1, 1)).toFloats()
            for n in 0..<2 {
                for o in 0..<outputs {
                    var seen: [Int: Float] = [:]
                    for h in 1..<(side - 1) {
                        for w in 1..<(side - 1) {
                            let value = output[((n * outputs + o) * side + h) * side + w]
                            let phase = (h % period) * period + (w % period)
                            if let first = seen[phase] {
                                XCTAssertEqual(
                                    value.bitPattern, first.bitPattern,
                                    "\(channels) → \(outputs) at \(side)×\(side), period \(period), channel \(o) at \(h),\(w)"
                                )
                            } else {
                                seen[phase] = value
                            }
                        }
                    }
                }
            }
        }
    }

    /// The GAN's 4×4 stride-2 convolution and transposed convolution of a constant input: one value per output
    /// channel at every interior position of the same stride phase.
    func testStridedAndTransposedConvolutionsOfAConstantGiveEqualBitsPerPhase() throws {
        guard DirectConvolution.lanes > 0 else { throw XCTSkip("no AVX2/AVX-512 here: the direct kernels are off") }
        let generator = RandomGenerator(seed: 6)
        let (channels, outputs, side) = (16, 24, 14)
        let weight = try Tensor(
            shape: [outputs, channels, 4, 4], values: values(outputs * channels * 16, generator), dtype: .float32)
        let constant = try Tensor.full([2, channels, side, side], value: 0.37, dtype: .float32)
        let strided = try constant.conv2d(weight: weight, stride: (2, 2), padding: (1, 1))
        let transposedInput = try Tensor.full([2, outputs, side, side], value: -0.61, dtype: .float32)
        let transposed = try transposedInput.convTranspose2d(weight: weight, stride: (2, 2), padding: (1, 1))
        for (result, period) in [(strided, 1), (transposed, 2)] {
            let (count, size) = (result.shape[1], result.shape[2])
            let values = result.toFloats()
            for n in 0..<2 {
                for o in 0..<count {
                    var seen: [Int: UInt32] = [:]
                    for h in 2..<(size - 2) {
                        for w in 2..<(size - 2) {
                            let bits = values[((n * count + o) * size + h) * size + w].bitPattern
                            let phase = (h % period) * period + w % period
                            XCTAssertEqual(bits, seen[phase] ?? bits, "\(result.shape) channel \(o) at \(h),\(w)")
                            seen[phase] = bits
                        }
                    }
                }
            }
        }
    }

    /// After a convolution of a constant image every interior 2×2 max-pool window is a four-way tie; the
    /// gradient goes to each window's first element in row-major order, PyTorch's choice.
    func testMaxPoolTiesAfterAConvolutionBreakAsPyTorchBreaksThem() throws {
        guard DirectConvolution.lanes > 0 else { throw XCTSkip("no AVX2/AVX-512 here: the direct kernels are off") }
        let generator = RandomGenerator(seed: 9)
        let (channels, outputs, side) = (4, 16, 16)
        let weight = try Tensor(
            shape: [outputs, channels, 3, 3], values: values(outputs * channels * 9, generator), dtype: .float32)
        let input = try Tensor.full([1, channels, side, side], value: 0.5, dtype: .float32).requiringGrad()
        let activations = try input.conv2d(weight: weight, padding: (1, 1))
        let values = activations.toFloats()
        let pooled = try activations.maxPool2d(kernel: (2, 2))
        let activationGradient = try XCTUnwrap(
            try Tensor.gradients(of: [pooled.sum()], withRespectTo: [activations]).first ?? nil
        ).toFloats()
        for o in 0..<outputs {
            // Windows whose four elements are all interior (rows and columns 1...14): exact ties.
            for top in stride(from: 2, to: side - 2, by: 2) {
                for left in stride(from: 2, to: side - 2, by: 2) {
                    let index = { (h: Int, w: Int) in (o * side + h) * side + w }
                    let window = [
                        index(top, left), index(top, left + 1), index(top + 1, left), index(top + 1, left + 1),
                    ]
                    XCTAssertEqual(Set(window.map { values[$0].bitPattern }).count, 1, "a tie at \(o), \(top), \(left)")
                    XCTAssertEqual(
                        window.map { activationGradient[$0] }, [1, 0, 0, 0], "channel \(o) at \(top),\(left)")
                }
            }
        }
    }
}
