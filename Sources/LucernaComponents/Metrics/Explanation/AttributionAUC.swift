import LucernaCore

/// Attribution AUC: the ROC AUC of the attribution values as scores for "inside the mask", per sample
/// (ties count half), averaged. Samples whose mask is empty or full are left out.
///
/// Reference: Fawcett, "An introduction to ROC analysis", 2006; Quantus `AUC` (localisation).
public final class AttributionAUC: MaskedAttributionMetric {
    static let options: [OptionSpec] = []

    init(config: Config) throws { super.init(owner: config.owner) }

    override func score(map: [Double], mask: [Bool]) -> Double? { areaUnderCurve(scores: map, positives: mask) }
}
