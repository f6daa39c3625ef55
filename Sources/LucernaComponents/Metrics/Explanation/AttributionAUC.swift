import LucernaCore

/// Attribution AUC: the ROC AUC of the attribution values as scores for "inside the mask", per sample
/// (ties count half), averaged. Samples whose mask is empty or full are left out.
public final class AttributionAUC: MaskedAttributionMetric {
    static let options: [OptionSpec] = []

    init(config: Config) throws { super.init(owner: config.owner) }

    override func score(map: [Double], mask: [Bool]) -> Double? { areaUnderCurve(scores: map, positives: mask) }
}

extension AttributionAUC: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "attribution_auc", "ROC AUC of attributions as scores for the mask",
            reference: "Fawcett, \"An introduction to ROC analysis\", 2006; Quantus `AUC` (localisation)",
            options: AttributionAUC.options, build: AttributionAUC.init)
    ]
}
