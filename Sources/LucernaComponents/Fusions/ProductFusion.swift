import LucernaCore
import LucernaNN

/// Multiplicative fusion: each modality projected to `dim` (`projections.i`), the projections multiplied
/// element-wise — second- (and higher-) order interactions between modalities at the cost of a sum.
public final class ProductFusion: ModalityFusion {
    public static let options =
        commonOptions + [
            OptionSpec("dim", .integer, default: .number(64), "output size (each modality is projected to it)")
        ]
    private(set) var projections: [Linear] = []

    public init(config: Config) throws {
        let dimension = try config.positiveInteger("dim")
        try super.init(config: config)
        projections = try registerProjections(to: dimension)
    }

    public override func combine(_ inputs: [Tensor]) throws -> Tensor {
        var product = try projections[0](inputs[0])
        for (projection, input) in zip(projections.dropFirst(), inputs.dropFirst()) {
            product = try product * projection(input)
        }
        return product
    }
}

extension ProductFusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .fusion, "product", "project each modality to dim and multiply element-wise",
            reference:
                "Kim et al., \"Hadamard Product for Low-rank Bilinear Pooling\", ICLR 2017; Jayakumar et al., \"Multiplicative Interactions and Where to Find Them\", ICLR 2020",
            options: ProductFusion.options, build: ProductFusion.init)
    ]
}
