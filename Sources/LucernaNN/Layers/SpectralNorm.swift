import LucernaCore

/// Spectral normalisation of an affine layer's weight, as PyTorch's `torch.nn.utils.spectral_norm`: the
/// layer computes with W / σ(W), σ estimated by power iteration on W reshaped to a matrix with the output
/// axis first (`[out, -1]`; ConvTranspose2d's axis 1). Each training forward runs `powerIterations` steps
/// without gradients, v ← normalize(Wᵀu), u ← normalize(Wv) (normalize: x / max(‖x‖, ε)), updating the
/// buffers; σ = uᵀWv is then differentiated through W only. In evaluation the stored u and v are used as
/// they are. The state dict matches PyTorch's: `weight_orig`, `bias`, `weight_u`, `weight_v`.
///
/// Reference: Miyato, Kataoka, Koyama & Yoshida, "Spectral Normalization for Generative Adversarial
/// Networks", ICLR 2018; PyTorch `torch.nn.utils.spectral_norm`.
public final class SpectralNorm: Module {
    public let layer: any AffineLayer
    public let weightOriginal: Tensor, u: Tensor, v: Tensor
    public let powerIterations: Int, epsilon: Double
    let rows: Int, columns: Int

    public init(
        _ layer: any AffineLayer, powerIterations: Int = 1, epsilon: Double = 1e-12,
        generator: RandomGenerator = .shared
    ) throws {
        guard powerIterations >= 0, epsilon > 0 else {
            throw TensorError(
                "SpectralNorm", "power iterations must be ≥ 0 and epsilon > 0, got \(powerIterations), \(epsilon)")
        }
        self.layer = layer
        self.powerIterations = powerIterations
        self.epsilon = epsilon
        weightOriginal = layer.weight
        rows = layer.weight.shape[layer.outputAxisOfWeight]
        columns = layer.weight.count / rows
        let dtype = layer.weight.dtype
        u = try SpectralNorm.normalized(Tensor.normal([rows], dtype: dtype, generator: generator), epsilon)
        v = try SpectralNorm.normalized(Tensor.normal([columns], dtype: dtype, generator: generator), epsilon)
        super.init()
        if let bias = layer.bias { registerParameter("bias", bias) }
        registerParameter("weight_orig", weightOriginal)
        registerBuffer("weight_u", u)
        registerBuffer("weight_v", v)
    }

    static func normalized(_ vector: Tensor, _ epsilon: Double) throws -> Tensor {
        let norm = try (vector * vector).sum().item().squareRoot()
        return try vector / max(norm, epsilon)
    }

    /// The weight as a matrix `[out, -1]`, the output axis first.
    func weightMatrix() throws -> Tensor {
        let axis = layer.outputAxisOfWeight
        guard axis != 0 else { return try weightOriginal.reshaped([rows, columns]) }
        var order = Array(0..<weightOriginal.rank)
        order.remove(at: axis)
        return try weightOriginal.permuted([axis] + order).reshaped([rows, columns])
    }

    /// σ = uᵀWv with the current u and v (differentiable in W).
    public func sigma() throws -> Tensor {
        let matrix = try weightMatrix()
        let product = try matrix.matmul(v.detach().reshaped([columns, 1])).reshaped([rows])
        return try (product * u.detach()).sum()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        if isTraining && powerIterations > 0 {
            try noGrad {
                let matrix = try weightMatrix().detach()
                var (left, right) = (u.copy(), v.copy())
                for _ in 0..<powerIterations {
                    right = try SpectralNorm.normalized(
                        matrix.matmul(left.reshaped([rows, 1]), transposingSelf: true, transposingOther: false)
                            .reshaped([columns]), epsilon)
                    left = try SpectralNorm.normalized(
                        matrix.matmul(right.reshaped([columns, 1])).reshaped([rows]), epsilon)
                }
                try u.assign(left)
                try v.assign(right)
            }
        }
        let weight = try weightOriginal / sigma()
        return try layer.apply(input, weight: weight, bias: layer.bias)
    }

    public override var typeName: String { "SpectralNorm(\(layer.typeName))" }
    public override var summary: String { layer.summary }
}
