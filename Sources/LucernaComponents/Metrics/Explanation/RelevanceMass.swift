import LucernaCore

/// Relevance mass accuracy: the share of the total attribution that falls inside the mask,
/// Σ_mask a / Σ a (of |a| with `absolute = true`). Samples with zero total are left out.
public final class RelevanceMass: MaskedAttributionMetric {
    static let options = [OptionSpec("absolute", .boolean, default: .boolean(false), "use absolute attributions")]
    let absolute: Bool

    init(config: Config) throws {
        absolute = try config.boolean("absolute")
        super.init(owner: config.owner)
    }

    override func score(map: [Double], mask: [Bool]) -> Double? {
        let values = absolute ? map.map(abs) : map
        let total = values.reduce(0, +)
        guard total != 0 else { return nil }
        return zip(values, mask).filter { $0.1 }.reduce(0) { $0 + $1.0 } / total
    }
}

extension RelevanceMass: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "relevance_mass", "share of the attribution inside the mask",
            reference: "Arras, Osman & Samek, \"CLEVR-XAI\", Information Fusion 2022; Quantus `RelevanceMassAccuracy`",
            options: RelevanceMass.options, build: RelevanceMass.init)
    ]
}
