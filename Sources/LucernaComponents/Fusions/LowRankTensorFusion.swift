import LucernaCore
import LucernaNN

/// Low-rank multimodal fusion: the tensor-fusion weight decomposed into `rank` modality-specific factors,
/// h = Σᵣ λᵣ Πᵢ ([xᵢ; 1] Wᵢ⁽ʳ⁾) + b, linear in each modality's size instead of exponential. Factors
/// `factors.i` [rank, dᵢ + 1, dim] (Xavier normal), `rank_weights` [rank] (Xavier normal), `bias` [dim].
public final class LowRankTensorFusion: ModalityFusion {
    public static let options =
        commonOptions + [
            OptionSpec("dim", .integer, default: .number(64), "output size"),
            OptionSpec("rank", .integer, default: .number(4), "rank of the decomposition"),
        ]
    public let rank: Int, outputDimension: Int
    public private(set) var factors: [Tensor] = []
    public let rankWeights: Tensor, bias: Tensor

    public init(config: Config) throws {
        rank = try config.positiveInteger("rank")
        outputDimension = try config.positiveInteger("dim")
        let dtype = try Self.parameterType(config)
        rankWeights = try Initializers.xavierNormal([1, rank], dtype: dtype, generator: .shared).reshaped([rank])
        bias = try Tensor.zeros([outputDimension], dtype: dtype)
        try super.init(config: config)
        let container = registerModule("factors", Module())
        for (position, dimension) in inputDimensions.enumerated() {
            let factor = try Initializers.xavierNormal(
                [rank, dimension + 1, outputDimension], dtype: dtype, generator: .shared)
            factors.append(container.registerParameter("\(position)", factor))
        }
        registerParameter("rank_weights", rankWeights)
        registerParameter("bias", bias)
    }

    public override func combine(_ inputs: [Tensor]) throws -> Tensor {
        let count = inputs[0].shape[0]
        var product: Tensor?
        for (input, factor) in zip(inputs, factors) {
            let extended = try TensorFusion.appendingOne(input)  // [N, d + 1]
            let flat = try factor.permuted([1, 0, 2]).reshaped([factor.shape[1], rank * outputDimension])
            let projected = try extended.matmul(flat).reshaped([count, rank, outputDimension])  // [N, rank, dim]
            product = try product.map { try $0 * projected } ?? projected
        }
        guard let product else { throw TensorError(operation, "no modalities") }
        return try (product * rankWeights.reshaped([1, rank, 1])).sum(axes: [1]) + bias
    }

    public override var summary: String { super.summary + ", dim=\(outputDimension), rank=\(rank)" }
}

extension LowRankTensorFusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .fusion, "low_rank_tensor", "tensor fusion with a rank-r factorised weight",
            reference:
                "Liu, Shen, Lakshminarasimhan, Liang, Zadeh & Morency, \"Efficient Low-rank Multimodal Fusion with Modality-Specific Factors\", ACL 2018",
            options: LowRankTensorFusion.options, build: LowRankTensorFusion.init)
    ]
}
