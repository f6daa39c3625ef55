import LucernaCore
import LucernaNN

/// Fusion by summation: each modality is projected to `dim` by its own linear layer (`projections.i`)
/// and the projections are added.
///
/// Reference: Baltrušaitis, Ahuja & Morency, "Multimodal Machine Learning: A Survey and Taxonomy", 2019.
public final class SumFusion: Module, Fusion {
    public static let options = [
        OptionSpec("input_dims", .integers, default: .list([.number(64), .number(64)]), "feature size of each modality"),
        OptionSpec("dim", .integer, default: .number(64), "output size (each modality is projected to it)"),
    ]
    public let inputDimensions: [Int]
    let projections: [Linear]

    public init(config: Config) throws {
        inputDimensions = try config.integers("input_dims")
        guard !inputDimensions.isEmpty, inputDimensions.allSatisfy({ $0 > 0 }) else {
            throw TensorError(config.owner, "input_dims must be a non-empty list of positive sizes, got \(inputDimensions)")
        }
        let dimension = try config.positiveInteger("dim")
        projections = try inputDimensions.map { try Linear($0, dimension) }
        super.init()
        let container = registerModule("projections", Module())
        for (position, projection) in projections.enumerated() { container.registerModule("\(position)", projection) }
    }

    public func fuse(_ inputs: [Tensor]) throws -> Tensor {
        try checkFusionInputs(inputs, dimensions: inputDimensions, "fusions.sum")
        var total = try projections[0](inputs[0])
        for (projection, input) in zip(projections.dropFirst(), inputs.dropFirst()) { total = try total + projection(input) }
        return total
    }

    public override var summary: String { "input_dims=\(inputDimensions), dim=\(projections.first?.outputFeatures ?? 0)" }
}
