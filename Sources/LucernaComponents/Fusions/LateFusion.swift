import LucernaCore
import LucernaNN

/// Late fusion of per-modality predictions (logits `[N, classes]`, one per modality, from unimodal heads):
/// their average (`weights = "average"`) or a learned convex combination (`"learned"`: softmax of a
/// trained score per modality, `modality_scores`, starting from the average).
public final class LateFusion: ModalityFusion {
    public static let options =
        commonOptions + [
            OptionSpec(
                "weights", .string, default: .string("average"),
                "average, or learned (softmax of a trained score per modality)")
        ]
    public let learned: Bool
    public let scores: Tensor?

    public init(config: Config) throws {
        let dimensions = try config.integers("input_dims")
        guard Set(dimensions).count == 1 else {
            throw config.error(
                "late fusion combines predictions of one size; input_dims must all equal the number of classes, got \(dimensions)"
            )
        }
        learned = try config.choice("weights", ["average", "learned"]) == "learned"
        scores = learned ? try Tensor.zeros([dimensions.count], dtype: try Self.parameterType(config)) : nil
        try super.init(config: config)
        if let scores { registerParameter("modality_scores", scores) }
    }

    /// The weight of each modality (softmax of the scores, or 1/m).
    public func modalityWeights() throws -> Tensor {
        try scores?.softmax(axis: 0)
            ?? Tensor.full([inputDimensions.count], value: 1 / Double(inputDimensions.count), dtype: dtype)
    }

    public override func combine(_ inputs: [Tensor]) throws -> Tensor {
        let weights = try modalityWeights().to(inputs[0].dtype)
        var total = try inputs[0] * weights.sliced(axis: 0, start: 0, end: 1)
        for (position, input) in inputs.enumerated().dropFirst() {
            total = try total + input * weights.sliced(axis: 0, start: position, end: position + 1)
        }
        return total
    }
}

extension LateFusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .fusion, "late", "average or learned convex combination of per-modality logits",
            reference:
                "Baltrušaitis, Ahuja & Morency, \"Multimodal Machine Learning: A Survey and Taxonomy\", 2019 (late fusion); MultiBench (Liang et al., NeurIPS 2021)",
            options: LateFusion.options, build: LateFusion.init)
    ]
}
