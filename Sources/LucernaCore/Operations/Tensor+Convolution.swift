extension Tensor {
    /// 2-D cross-correlation (PyTorch's `conv2d`): input `[N, C, H, W]`, weight `[O, C, kh, kw]`, optional
    /// bias `[O]`; output `[N, O, Ho, Wo]`.
    public func conv2d(
        weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1)
    ) throws -> Tensor {
        guard weight.rank == 4 else {
            throw TensorError("conv2d", "weight must be [out, in, kh, kw], got \(describe(shape: weight.shape))")
        }
        let geometry = ConvolutionGeometry(
            kernel: (weight.shape[2], weight.shape[3]), stride: stride,
            padding: padding, dilation: dilation)
        if let bias {
            guard bias.shape == [weight.shape[0]], bias.dtype == weight.dtype else {
                throw TensorError(
                    "conv2d",
                    "bias \(bias.dtype) \(describe(shape: bias.shape)) does not match \(weight.shape[0]) output channels of \(weight.dtype)"
                )
            }
        }
        if weight.shape[2] == 1, weight.shape[3] == 1, stride == (1, 1), padding == (0, 0), rank == 4,
            shape[1] == weight.shape[1], dtype == weight.dtype
        {
            return try pointwiseConvolution(weight: weight, bias: bias)
        }
        return try convolution(weight: weight, bias: bias, geometry: geometry)
    }

    /// A 1×1 convolution with stride 1 and no padding as one matrix product per sample, W[O, C] · x[n][C, HW]
    /// (no im2col copy): SAGAN's query, key and value projections. Its backward is the product's, so
    /// gradients of gradients flow as for any convolution.
    private func pointwiseConvolution(weight: Tensor, bias: Tensor?) throws -> Tensor {
        let (count, height, width) = (shape[0], shape[2], shape[3])
        let outputs = weight.shape[0]
        let flat = try reshaped([count, shape[1], height * width])
        var result = try weight.reshaped([outputs, weight.shape[1]]).matmul(flat)
        if let bias { result = try result + bias.reshaped([outputs, 1]) }
        return try result.reshaped([count, outputs, height, width])
    }

    /// 2-D transposed convolution (PyTorch's `conv_transpose2d`): input `[N, C_in, H, W]`, weight
    /// `[C_in, C_out, kh, kw]`; output size `(H-1)·s - 2p + d·(k-1) + outputPadding + 1`.
    public func convTranspose2d(
        weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1)
    ) throws -> Tensor {
        guard rank == 4, weight.rank == 4 else {
            throw TensorError(
                "conv_transpose2d",
                "input must be [N, C, H, W] and weight [in, out, kh, kw], got \(describe(shape: shape)) and \(describe(shape: weight.shape))"
            )
        }
        let geometry = ConvolutionGeometry(
            kernel: (weight.shape[2], weight.shape[3]), stride: stride,
            padding: padding, dilation: dilation)
        try geometry.validate("conv_transpose2d")
        guard outputPadding.0 >= 0, outputPadding.1 >= 0,
            outputPadding.0 < Swift.max(stride.0, dilation.0), outputPadding.1 < Swift.max(stride.1, dilation.1)
        else {
            throw TensorError(
                "conv_transpose2d",
                "output padding \(outputPadding) must be non-negative and smaller than stride or dilation")
        }
        let height =
            (shape[2] - 1) * stride.0 - 2 * padding.0 + dilation.0 * (weight.shape[2] - 1) + outputPadding.0 + 1
        let width = (shape[3] - 1) * stride.1 - 2 * padding.1 + dilation.1 * (weight.shape[3] - 1) + outputPadding.1 + 1
        guard height > 0, width > 0 else {
            throw TensorError("conv_transpose2d", "input \(describe(shape: shape)) gives an empty output")
        }
        try Tensor.validate(
            shape: [shape[0], weight.shape[1], height, width], dtype: dtype, operation: "conv_transpose2d")
        var result = try transposedConvolution(weight: weight, geometry: geometry, outputSize: (height, width))
        if let bias {
            guard bias.shape == [weight.shape[1]] else {
                throw TensorError(
                    "conv_transpose2d",
                    "bias \(describe(shape: bias.shape)) does not match \(weight.shape[1]) output channels")
            }
            result = try result + bias.reshaped([1, weight.shape[1], 1, 1])
        }
        return result
    }

    /// Checks operands of the convolution primitives and returns the im2col layout.
    private func convolutionLayout(
        _ operation: String, weightShape: [Int], geometry: ConvolutionGeometry, inputSize: (Int, Int)? = nil
    ) throws -> ConvolutionKernels.Layout {
        try requireFloatingPoint(operation)
        try geometry.validate(operation)
        guard rank == 4 else {
            throw TensorError(operation, "input must be [N, C, H, W], got \(describe(shape: shape))")
        }
        let (height, width) = inputSize ?? (shape[2], shape[3])
        let channels = inputSize == nil ? shape[1] : weightShape[1]
        guard weightShape.count == 4, weightShape[1] == channels || inputSize != nil else {
            throw TensorError(
                operation,
                "input \(describe(shape: shape)) has \(shape[1]) channels but weight \(describe(shape: weightShape)) expects \(weightShape.count == 4 ? weightShape[1] : -1)"
            )
        }
        guard let (outputHeight, outputWidth) = geometry.outputSize(height: height, width: width) else {
            throw TensorError(
                operation,
                "kernel \(geometry.kernel) with dilation \(geometry.dilation) and padding \(geometry.padding) does not fit input \(height)x\(width)"
            )
        }
        // The im2col buffer of one sample, [C·kh·kw, outH·outW], is allocated too.
        try Tensor.validate(
            shape: [channels, geometry.kernel.height, geometry.kernel.width, outputHeight, outputWidth], dtype: dtype,
            operation: operation)
        return ConvolutionKernels.Layout(
            batch: shape[0], channels: channels, height: height, width: width,
            outputHeight: outputHeight, outputWidth: outputWidth, geometry: geometry)
    }

    /// The convolution primitive: y = conv(x, w), by the direct kernel where the engine prefers it (Float32;
    /// ``DirectConvolution/prefersForward(_:)``), else as im2col + one GEMM.
    func convolution(weight: Tensor, bias: Tensor? = nil, geometry: ConvolutionGeometry) throws -> Tensor {
        let layout = try convolutionLayout("conv2d", weightShape: weight.shape, geometry: geometry)
        guard weight.dtype == dtype else {
            throw TensorError("conv2d", "input is \(dtype) but weight is \(weight.dtype)")
        }
        let outputChannels = weight.shape[0]
        try Tensor.validate(
            shape: [layout.batch, outputChannels, layout.outputHeight, layout.outputWidth], dtype: dtype,
            operation: "conv2d")
        let result = Tensor(
            uninitializedShape: [layout.batch, outputChannels, layout.outputHeight, layout.outputWidth],
            dtype: dtype)
        if dtype == .float32 {
            let (input, weights, output) = (
                pointer(as: Float.self), weight.pointer(as: Float.self), result.pointer(as: Float.self)
            )
            let biases = bias.map { UnsafePointer($0.pointer(as: Float.self)) }
            if !DirectConvolution.prefersForward(layout)
                || !DirectConvolution.forward(
                    input: input, weight: weights, bias: biases, output: output, outputChannels: outputChannels,
                    layout: layout)
            {
                ConvolutionKernels.forward(
                    input: input, weight: weights, bias: biases, output: output, outputChannels: outputChannels,
                    layout: layout)
            }
        } else {
            ConvolutionKernels.forward(
                input: pointer(as: Double.self), weight: weight.pointer(as: Double.self),
                bias: bias.map { UnsafePointer($0.pointer(as: Double.self)) },
                output: result.pointer(as: Double.self), outputChannels: outputChannels, layout: layout)
        }
        let inputSize = (shape[2], shape[3])
        return Tensor.record(result, operation: "conv2d", inputs: [self, weight] + (bias.map { [$0] } ?? [])) {
            [self] gradient, _ in
            let inputGradient =
                self.needsGradient
                ? try gradient.transposedConvolution(weight: weight, geometry: geometry, outputSize: inputSize) : nil
            let parameters = try self.convolutionParameterGradients(
                gradient, geometry: geometry, weight: weight.needsGradient, bias: bias?.needsGradient == true)
            return [inputGradient] + parameters.prefix(bias == nil ? 1 : 2)
        }
    }

    /// The adjoint of ``convolution(weight:geometry:)`` in its input: `self` is `[N, O, Ho, Wo]`, weight
    /// `[O, C, kh, kw]`, result `[N, C, H, W]` with `outputSize = (H, W)`.
    func transposedConvolution(weight: Tensor, geometry: ConvolutionGeometry, outputSize: (Int, Int)) throws -> Tensor {
        guard rank == 4, weight.rank == 4, shape[1] == weight.shape[0], weight.dtype == dtype else {
            throw TensorError(
                "conv_transpose2d",
                "input \(describe(shape: shape)) does not match weight \(describe(shape: weight.shape)) (input channels must equal weight's first dimension, equal dtypes)"
            )
        }
        let layout = try convolutionLayout(
            "conv_transpose2d", weightShape: weight.shape, geometry: geometry,
            inputSize: outputSize)
        guard layout.outputHeight == shape[2], layout.outputWidth == shape[3] else {
            throw TensorError(
                "conv_transpose2d", "input \(describe(shape: shape)) does not match output size \(outputSize)")
        }
        try Tensor.validate(
            shape: [shape[0], layout.channels, outputSize.0, outputSize.1], dtype: dtype, operation: "conv_transpose2d")
        // The direct kernel writes every element; im2col's col2im accumulates into zeros.
        let direct = dtype == .float32 && DirectConvolution.appliesToInputGradient(layout)
        let result = Tensor(
            uninitializedShape: [shape[0], layout.channels, outputSize.0, outputSize.1], dtype: dtype,
            zeroed: !direct)
        if dtype == .float32 {
            let (gradient, weights, output) = (
                pointer(as: Float.self), weight.pointer(as: Float.self), result.pointer(as: Float.self)
            )
            if !direct
                || !DirectConvolution.inputGradient(
                    outputGradient: gradient, weight: weights, inputGradient: output, outputChannels: shape[1],
                    layout: layout)
            {
                if direct { output.update(repeating: 0, count: result.count) }
                ConvolutionKernels.backwardInput(
                    outputGradient: gradient, weight: weights, inputGradient: output, outputChannels: shape[1],
                    layout: layout)
            }
        } else {
            ConvolutionKernels.backwardInput(
                outputGradient: pointer(as: Double.self), weight: weight.pointer(as: Double.self),
                inputGradient: result.pointer(as: Double.self), outputChannels: shape[1],
                layout: layout)
        }
        return Tensor.record(result, operation: "conv_transpose2d", inputs: [self, weight]) { [self] gradient, _ in
            [
                self.needsGradient ? try gradient.convolution(weight: weight, geometry: geometry) : nil,
                weight.needsGradient ? try gradient.convolutionWeightGradient(self, geometry: geometry) : nil,
            ]
        }
    }

    /// The gradients of a convolution's weight (with `weight`) and bias (with `bias`) for its output gradient
    /// `[N, O, Ho, Wo]` (`self` the input), nil for each not asked for. Where the direct weight-gradient kernel
    /// takes the convolution, it sums the bias's gradient in the same pass (recorded as a `sum` over samples and
    /// positions whose backward broadcasts, so gradients of gradients flow as through `sum(axes:)`); else the
    /// bias's is `sum(axes: [0, 2, 3])`.
    func convolutionParameterGradients(
        _ outputGradient: Tensor, geometry: ConvolutionGeometry, weight: Bool, bias: Bool
    )
        throws -> [Tensor?]
    {
        guard weight else { return [nil, bias ? try outputGradient.sum(axes: [0, 2, 3]) : nil] }
        let gradients = try weightAndBiasGradients(outputGradient, geometry: geometry, bias: bias)
        return [gradients.weight, bias ? try gradients.bias ?? outputGradient.sum(axes: [0, 2, 3]) : nil]
    }

    /// The adjoint of ``convolution(weight:geometry:)`` in its weight: `self` is the input `[N, C, H, W]`,
    /// `outputGradient` is `[N, O, Ho, Wo]`, result `[O, C, kh, kw]`.
    func convolutionWeightGradient(_ outputGradient: Tensor, geometry: ConvolutionGeometry) throws -> Tensor {
        try weightAndBiasGradients(outputGradient, geometry: geometry, bias: false).weight
    }

    /// The weight gradient, and with `bias` the bias's when the direct kernel computed it in the same pass (nil
    /// when im2col + GEMM computed the weight's).
    private func weightAndBiasGradients(_ outputGradient: Tensor, geometry: ConvolutionGeometry, bias: Bool) throws
        -> (weight: Tensor, bias: Tensor?)
    {
        let outputChannels = outputGradient.shape.count == 4 ? outputGradient.shape[1] : 0
        let weightShape = [outputChannels, rank == 4 ? shape[1] : 0, geometry.kernel.height, geometry.kernel.width]
        let layout = try convolutionLayout("conv2d_weight", weightShape: weightShape, geometry: geometry)
        guard outputGradient.rank == 4, outputGradient.shape[0] == shape[0],
            outputGradient.shape[2] == layout.outputHeight, outputGradient.shape[3] == layout.outputWidth
        else {
            throw TensorError(
                "conv2d_weight",
                "gradient \(describe(shape: outputGradient.shape)) does not match input \(describe(shape: shape))")
        }
        guard outputGradient.dtype == dtype else {
            throw TensorError("conv2d_weight", "input is \(dtype) but gradient is \(outputGradient.dtype)")
        }
        let result = Tensor(uninitializedShape: weightShape, dtype: dtype)
        var biasResult: Tensor?
        if dtype == .float32 {
            let (input, gradient, output) = (
                pointer(as: Float.self), outputGradient.pointer(as: Float.self), result.pointer(as: Float.self)
            )
            let biasSums = bias ? Tensor(uninitializedShape: [outputChannels], dtype: dtype) : nil
            if DirectConvolution.prefersWeightGradient(layout)
                && DirectConvolution.weightGradient(
                    input: input, outputGradient: gradient, weightGradient: output,
                    biasGradient: biasSums?.pointer(as: Float.self), outputChannels: outputChannels, layout: layout)
            {
                biasResult = biasSums
            } else {
                ConvolutionKernels.backwardWeight(
                    input: input, outputGradient: gradient, weightGradient: output, outputChannels: outputChannels,
                    layout: layout)
            }
        } else {
            ConvolutionKernels.backwardWeight(
                input: pointer(as: Double.self), outputGradient: outputGradient.pointer(as: Double.self),
                weightGradient: result.pointer(as: Double.self), outputChannels: outputChannels,
                layout: layout)
        }
        let gradientShape = outputGradient.shape
        return (
            recordWeightGradient(result, outputGradient: outputGradient, geometry: geometry),
            biasResult.map { sums in
                Tensor.record(sums, operation: "sum", inputs: [outputGradient]) { gradient, _ in
                    [try gradient.reshaped([1, outputChannels, 1, 1]).expanded(to: gradientShape)]
                }
            }
        )
    }

    /// Records a weight gradient computed from this input and `outputGradient`: its backward is a transposed
    /// convolution in the input and a convolution in the output gradient.
    private func recordWeightGradient(_ result: Tensor, outputGradient: Tensor, geometry: ConvolutionGeometry)
        -> Tensor
    {
        Tensor.record(result, operation: "conv2d_weight", inputs: [self, outputGradient]) { [self] gradient, _ in
            [
                self.needsGradient
                    ? try outputGradient.transposedConvolution(
                        weight: gradient, geometry: geometry,
                        outputSize: (self.shape[2], self.shape[3])) : nil,
                outputGradient.needsGradient ? try self.convolution(weight: gradient, geometry: geometry) : nil,
            ]
        }
    }
}
