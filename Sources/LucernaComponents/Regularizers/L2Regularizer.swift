import LucernaCore
import LucernaNN

/// L2 weight penalty `weight · Σ‖w‖²` over the model's parameters; biases and other rank-1 parameters
/// (normalization scales) are skipped unless `include_bias`. Its gradient `2·weight·w` equals SGD
/// weight decay with coefficient `2·weight`.
public final class L2Regularizer: Regularizer {
    public static let options = [
        OptionSpec("weight", .number, default: .number(1e-4), "coefficient of the penalty"),
        OptionSpec(
            "include_bias", .boolean, default: .boolean(false), "also penalize biases and other rank-1 parameters"),
    ]
    public let weight: Double, includeBias: Bool

    public init(config: Config) throws {
        weight = try config.number("weight")
        includeBias = try config.boolean("include_bias")
        guard weight >= 0, weight.isFinite else {
            throw ConfigurationError(config.owner, "weight must be finite and non-negative, got \(weight)")
        }
    }

    public func penalty(_ context: RegularizerContext) throws -> Tensor {
        let penalized = context.parameters.filter { includeBias || $0.tensor.rank > 1 }
        guard let first = penalized.first else {
            throw TensorError(
                "regularizers.l2", "no parameters to penalize (pass parameters = model:parameters() or a model)")
        }
        var total = try (first.tensor * first.tensor).sum()
        for parameter in penalized.dropFirst() { total = try total + (parameter.tensor * parameter.tensor).sum() }
        return try total * weight
    }
}

extension L2Regularizer: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .regularizer, "l2", "weight · sum of squared weights",
            reference: "Krogh & Hertz, \"A Simple Weight Decay Can Improve Generalization\", 1992",
            options: L2Regularizer.options, build: L2Regularizer.init)
    ]
}
