import LucernaCore

/// Pointing game: a hit when the map's maximum lies inside the mask (the first maximum in row-major order
/// on ties); the score is the hit rate. Samples with an empty mask are left out.
public final class PointingGame: MaskedAttributionMetric {
    static let options: [OptionSpec] = []

    init(config: Config) throws { super.init(owner: config.owner) }

    override func score(map: [Double], mask: [Bool]) -> Double? {
        guard mask.contains(true),
            let top = map.indices.max(by: { map[$0] < map[$1] || (map[$0] == map[$1] && $0 > $1) })
        else { return nil }
        return mask[top] ? 1 : 0
    }
}

extension PointingGame: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "pointing_game", "share of maps whose maximum lies in the mask",
            reference:
                "Zhang et al., \"Top-down Neural Attention by Excitation Backprop\", IJCV 2018; Quantus `PointingGame`",
            options: PointingGame.options, build: PointingGame.init)
    ]
}
