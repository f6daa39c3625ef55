import LucernaCore
import LucernaNN

/// Fusion by summation or averaging: each modality is projected to `dim` by its own linear layer
/// (`projections.i`) and the projections are added (`sum`) or averaged (`mean`).
public final class SumFusion: ModalityFusion {
    public static let options =
        commonOptions + [
            OptionSpec("dim", .integer, default: .number(64), "output size (each modality is projected to it)")
        ]
    private(set) var projections: [Linear] = []
    public let averages: Bool

    public init(config: Config, averages: Bool) throws {
        self.averages = averages
        let dimension = try config.positiveInteger("dim")
        try super.init(config: config)
        projections = try registerProjections(to: dimension)
    }

    static func builder(averages: Bool) -> (Config) throws -> SumFusion {
        { try SumFusion(config: $0, averages: averages) }
    }

    public override func combine(_ inputs: [Tensor]) throws -> Tensor {
        var total = try projections[0](inputs[0])
        for (projection, input) in zip(projections.dropFirst(), inputs.dropFirst()) {
            total = try total + projection(input)
        }
        return averages ? try total / Double(inputs.count) : total
    }

    public override var summary: String { super.summary + ", dim=\(projections.first?.outputFeatures ?? 0)" }
}

extension SumFusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .fusion, "sum", "project each modality to dim and add", reference: "Baltrušaitis et al., 2019",
            options: SumFusion.options, build: SumFusion.builder(averages: false)),
        ComponentEntry(
            .fusion, "mean", "project each modality to dim and average",
            reference: "Baltrušaitis et al., 2019; MultiBench",
            options: SumFusion.options, build: SumFusion.builder(averages: true)),
    ]
}
