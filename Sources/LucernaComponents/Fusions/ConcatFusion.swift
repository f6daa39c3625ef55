import LucernaCore
import LucernaNN

/// Early fusion by concatenation: `[x₁, …, xₘ]` along features, optionally projected to `dim` by a
/// linear layer (`projection`).
public final class ConcatFusion: ModalityFusion {
    public static let options =
        commonOptions + [
            OptionSpec("dim", .integer, "output size; nil keeps the concatenation (sum of input_dims)")
        ]
    let projection: Linear?

    public init(config: Config) throws {
        let projection = try config.optionalInteger("dim").map {
            try Linear(try config.integers("input_dims").reduce(0, +), $0, dtype: try Self.parameterType(config))
        }
        self.projection = projection
        try super.init(config: config)
        if let projection { registerModule("projection", projection) }
    }

    public override func combine(_ inputs: [Tensor]) throws -> Tensor {
        let joined = try Tensor.concatenate(inputs, axis: 1)
        return try projection.map { try $0(joined) } ?? joined
    }

    public override var summary: String { super.summary + (projection.map { ", dim=\($0.outputFeatures)" } ?? "") }
}

extension ConcatFusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .fusion, "concat", "concatenate modality features, optionally project to dim",
            reference: "Baltrušaitis, Ahuja & Morency, \"Multimodal Machine Learning: A Survey and Taxonomy\", 2019",
            options: ConcatFusion.options, build: ConcatFusion.init)
    ]
}
