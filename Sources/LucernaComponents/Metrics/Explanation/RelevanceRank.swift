import LucernaCore

/// Relevance rank accuracy: with K the mask's size, the share of the K highest-attributed pixels that lie
/// inside the mask (ties broken by position). Samples with an empty mask are left out.
public final class RelevanceRank: MaskedAttributionMetric {
    static let options: [OptionSpec] = []

    init(config: Config) throws { super.init(owner: config.owner) }

    override func score(map: [Double], mask: [Bool]) -> Double? {
        let size = mask.filter { $0 }.count
        guard size > 0 else { return nil }
        let top = map.indices.sorted { map[$0] > map[$1] || (map[$0] == map[$1] && $0 < $1) }.prefix(size)
        return Double(top.filter { mask[$0] }.count) / Double(size)
    }
}

extension RelevanceRank: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "relevance_rank", "share of the top-|mask| pixels inside the mask",
            reference: "Arras, Osman & Samek, \"CLEVR-XAI\", Information Fusion 2022; Quantus `RelevanceRankAccuracy`",
            options: RelevanceRank.options, build: RelevanceRank.init)
    ]
}
