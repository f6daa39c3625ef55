import LucernaCore
import LucernaNN

/// Early fusion by concatenation: `[x₁, …, xₘ]` along features, optionally projected to `dim` by a
/// linear layer (`projection`).
///
/// Reference: Baltrušaitis, Ahuja & Morency, "Multimodal Machine Learning: A Survey and Taxonomy", 2019.
public final class ConcatFusion: Module, Fusion {
    public static let options = [
        OptionSpec("input_dims", .integers, default: .list([.number(64), .number(64)]), "feature size of each modality"),
        OptionSpec("dim", .integer, "output size; nil keeps the concatenation (sum of input_dims)"),
    ]
    public let inputDimensions: [Int]
    let projection: Linear?

    public init(config: Config) throws {
        inputDimensions = try config.integers("input_dims")
        guard !inputDimensions.isEmpty, inputDimensions.allSatisfy({ $0 > 0 }) else {
            throw TensorError(config.owner, "input_dims must be a non-empty list of positive sizes, got \(inputDimensions)")
        }
        let total = inputDimensions.reduce(0, +)
        projection = try config.optionalInteger("dim").map { try Linear(total, $0) }
        super.init()
        if let projection { registerModule("projection", projection) }
    }

    public func fuse(_ inputs: [Tensor]) throws -> Tensor {
        try checkFusionInputs(inputs, dimensions: inputDimensions, "fusions.concat")
        let joined = try Tensor.concatenate(inputs, axis: 1)
        return try projection.map { try $0(joined) } ?? joined
    }

    public override var summary: String { "input_dims=\(inputDimensions)" + (projection.map { ", dim=\($0.outputFeatures)" } ?? "") }
}

/// Checks one `[N, dᵢ]` tensor per modality with matching batch sizes.
func checkFusionInputs(_ inputs: [Tensor], dimensions: [Int], _ operation: String) throws {
    guard inputs.count == dimensions.count else {
        throw TensorError(operation, "expected \(dimensions.count) modality inputs (input_dims = \(dimensions)), got \(inputs.count)")
    }
    for (position, (input, dimension)) in zip(inputs, dimensions).enumerated() {
        guard input.rank == 2, input.shape[1] == dimension, input.shape[0] == inputs[0].shape[0] else {
            throw TensorError(operation, "input \(position + 1) must be [N, \(dimension)] with the batch size of input 1, got \(describe(shape: input.shape))")
        }
    }
}
