import LucernaCore

/// A layer computing an affine map of its input from a weight and an optional bias (Linear, Conv2d,
/// ConvTranspose2d), which can be re-applied with other parameters: what layer-wise relevance propagation
/// rules need (they evaluate the layer with clamped, scaled or merged weights).
public protocol AffineLayer: Module {
    var weight: Tensor { get }
    var bias: Tensor? { get }
    /// The weight dimension indexing output channels (0 for Linear and Conv2d, 1 for ConvTranspose2d).
    var outputAxisOfWeight: Int { get }
    /// The layer's computation with `weight` and `bias` in place of its own (differentiable in all three).
    func apply(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor
}

extension Linear: AffineLayer {
    public var outputAxisOfWeight: Int { 0 }

    public func apply(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        let product = try input.matmul(weight, transposingSelf: false, transposingOther: true)
        guard let bias else { return product }
        return try product + bias
    }
}

extension Conv2d: AffineLayer {
    public var outputAxisOfWeight: Int { 0 }

    public func apply(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        try input.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
    }
}

extension ConvTranspose2d: AffineLayer {
    public var outputAxisOfWeight: Int { 1 }

    public func apply(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        try input.convTranspose2d(
            weight: weight, bias: bias, stride: stride, padding: padding,
            outputPadding: outputPadding, dilation: dilation)
    }
}
