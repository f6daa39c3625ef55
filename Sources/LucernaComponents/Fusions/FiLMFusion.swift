import LucernaCore
import LucernaNN

/// FiLM: one modality (`condition`, 1-based) modulates the others feature-wise, γ ⊙ x + β with
/// γ = 1 + Δγ(c) and β = β(c) linear in the conditioning features c, x the other modalities concatenated.
/// Predicting Δγ, as Perez et al. do, makes the fusion the identity on x when its parameters are zero.
public final class FiLMFusion: ModalityFusion {
    public static let options =
        commonOptions + [
            OptionSpec("condition", .integer, default: .number(2), "the modality (1-based) that conditions the others")
        ]
    public let condition: Int
    let scale: Linear, shift: Linear

    public init(config: Config) throws {
        let dimensions = try config.integers("input_dims")
        let condition = try config.integer("condition") - 1
        guard dimensions.count >= 2, dimensions.indices.contains(condition) else {
            throw config.error(
                "condition must name one of the \(dimensions.count) modalities (1 to \(dimensions.count), and there must be at least 2), got \(condition + 1)"
            )
        }
        self.condition = condition
        let modulated = dimensions.enumerated().filter { $0.offset != condition }.map(\.element).reduce(0, +)
        let dtype = try Self.parameterType(config)
        scale = try Linear(dimensions[condition], modulated, dtype: dtype)
        shift = try Linear(dimensions[condition], modulated, dtype: dtype)
        try super.init(config: config, minimumModalities: 2)
        registerModule("scale", scale)
        registerModule("shift", shift)
    }

    public override func combine(_ inputs: [Tensor]) throws -> Tensor {
        let others = inputs.enumerated().filter { $0.offset != condition }.map(\.element)
        let features = others.count == 1 ? others[0] : try Tensor.concatenate(others, axis: 1)
        let conditioning = inputs[condition]
        return try features * (scale(conditioning) + 1) + shift(conditioning)
    }

    public override var summary: String { super.summary + ", condition=\(condition + 1)" }
}

extension FiLMFusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .fusion, "film", "one modality scales and shifts the others feature-wise (γ = 1 + Δγ)",
            reference:
                "Perez, Strub, de Vries, Dumoulin & Courville, \"FiLM: Visual Reasoning with a General Conditioning Layer\", AAAI 2018",
            options: FiLMFusion.options, build: FiLMFusion.init)
    ]
}
