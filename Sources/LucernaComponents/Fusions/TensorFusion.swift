import LucernaCore
import LucernaNN

/// Tensor fusion: the outer product of the modalities with a 1 appended to each,
/// vec([x₁; 1] ⊗ [x₂; 1] ⊗ …), of size Π(dᵢ + 1) — every unimodal, bimodal and trimodal interaction —
/// optionally projected to `dim`.
public final class TensorFusion: ModalityFusion {
    public static let options =
        commonOptions + [
            OptionSpec("dim", .integer, "output size of a linear layer after the product; nil keeps Π(dᵢ + 1) features")
        ]
    let projection: Linear?

    public init(config: Config) throws {
        let size = try config.integers("input_dims").reduce(1) { $0 * ($1 + 1) }
        guard size <= 1 << 20 else {
            throw config.error(
                "the outer product would have \(size) features; reduce input_dims or use low_rank_tensor")
        }
        projection = try config.optionalInteger("dim").map {
            try Linear(size, $0, dtype: try Self.parameterType(config))
        }
        try super.init(config: config)
        if let projection { registerModule("projection", projection) }
    }

    /// [x; 1] for a batch of feature vectors.
    static func appendingOne(_ input: Tensor) throws -> Tensor {
        try Tensor.concatenate([input, Tensor.ones([input.shape[0], 1], dtype: input.dtype)], axis: 1)
    }

    public override func combine(_ inputs: [Tensor]) throws -> Tensor {
        let count = inputs[0].shape[0]
        var product = try Self.appendingOne(inputs[0])
        for input in inputs.dropFirst() {
            let extended = try Self.appendingOne(input)
            // [N, a, 1] · [N, 1, b] → [N, a·b], the earlier modalities varying slowest.
            product = try (product.unsqueezed(axis: 2) * extended.unsqueezed(axis: 1)).reshaped([
                count, product.shape[1] * extended.shape[1],
            ])
        }
        return try projection.map { try $0(product) } ?? product
    }
}

extension TensorFusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .fusion, "tensor", "outer product of the modalities with a 1 appended to each",
            reference:
                "Zadeh, Chen, Poria, Cambria & Morency, \"Tensor Fusion Network for Multimodal Sentiment Analysis\", EMNLP 2017",
            options: TensorFusion.options, build: TensorFusion.init)
    ]
}
