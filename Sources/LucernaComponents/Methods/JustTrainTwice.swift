import LucernaCore

/// Just Train Twice: an identification model trained with plain ERM for `epochs` epochs; its misclassified
/// training samples form the error set, which the second stage upsamples `upweight` times (each error sample
/// appears λ_up times in the training data, as the reference code's upsampled index list) and trains on from
/// the same initial weights with plain ERM. The error set's size (overall and per group when the data has
/// groups) is logged. Needs no group labels to train: groups only annotate the logs.
///
/// Reference: Liu, Haghgoo, Chen, Raghunathan, Koh, Sagawa, Liang & Finn, "Just Train Twice: Improving Group
/// Robustness without Training Group Information", ICML 2021 (anniesch/jtt: T and λ_up 60/100 Waterbirds,
/// 1/50 CelebA, 2/6 CivilComments).
public final class JustTrainTwice: TwoStageTrainingMethod {
    public static let options = [
        OptionSpec("epochs", .integer, default: .number(1), "T, the identification model's epochs"),
        OptionSpec("upweight", .integer, default: .number(6), "λ_up, how many times each error sample appears"),
    ]
    public let firstStageEpochs: Int
    public let upweight: Int
    public private(set) var errorCount = 0

    public init(epochs: Int = 1, upweight: Int = 6) {
        firstStageEpochs = epochs
        self.upweight = upweight
    }

    public convenience init(config: Config) throws {
        let epochs = try config.positiveInteger("epochs")
        let upweight = try config.positiveInteger("upweight")
        guard upweight <= 10_000 else { throw ConfigurationError(config.owner, "upweight must be at most 10000") }
        self.init(epochs: epochs, upweight: upweight)
    }

    public var fields: [String] { [] }

    public func loss(_ losses: Tensor, _ context: RegularizerContext) throws -> Tensor {
        try checked(losses, count: losses.shape.first, "jtt").mean()
    }

    /// Every row once, then each misclassified row λ_up − 1 more times.
    public func secondStageRows(misclassified: [Bool]) throws -> [Int] {
        let errors = misclassified.indices.filter { misclassified[$0] }
        errorCount = errors.count
        var rows = Array(misclassified.indices)
        for _ in 1..<max(upweight, 1) { rows += errors }
        return rows
    }

    public func epochValues() -> [(name: String, value: Double)] { [("jtt_errors", Double(errorCount))] }
}

extension JustTrainTwice: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .method, "jtt",
            "Just Train Twice: ERM for T epochs, then retrain with its training errors upsampled λ_up times",
            reference:
                "Liu et al., \"Just Train Twice: Improving Group Robustness without Training Group Information\", ICML 2021",
            options: options, build: JustTrainTwice.init)
    ]
}
