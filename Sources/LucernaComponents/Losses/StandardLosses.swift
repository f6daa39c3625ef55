import LucernaCore
import LucernaNN

/// The built-in criteria: thin, configured wrappers of ``Losses`` (PyTorch's functional losses).
public final class StandardLoss: Loss {
    let compute: (Tensor, Tensor) throws -> Tensor

    init(_ compute: @escaping (Tensor, Tensor) throws -> Tensor) { self.compute = compute }

    public func loss(_ prediction: Tensor, _ target: Tensor) throws -> Tensor { try compute(prediction, target) }

    static let reductionOption = OptionSpec("reduction", .string, default: .string("mean"), "mean, sum or none")

    static func reduction(_ config: Config) throws -> Reduction {
        Reduction(rawValue: try config.choice("reduction", ["mean", "sum", "none"])) ?? .mean
    }

    static let crossEntropyOptions = [
        OptionSpec("label_smoothing", .number, default: .number(0), "mass spread uniformly over classes, in [0, 1]"),
        OptionSpec("weight", .tensor, "per-class weights [C]"),
        OptionSpec("ignore_index", .integer, "target value (0-based class) that contributes nothing"),
        reductionOption,
    ]

    static func crossEntropy(_ config: Config) throws -> StandardLoss {
        let smoothing = try config.number("label_smoothing")
        let reduction = try reduction(config)
        let weight = config.has("weight") ? try config.tensor("weight") : nil
        let ignore = try config.optionalInteger("ignore_index")
        return StandardLoss {
            try Losses.crossEntropy(
                $0, $1, weight: weight, ignoreIndex: ignore, labelSmoothing: smoothing,
                reduction: reduction)
        }
    }

    static func nll(_ config: Config) throws -> StandardLoss {
        let reduction = try reduction(config)
        return StandardLoss { try Losses.nll($0, $1, reduction: reduction) }  // which requires int64 targets
    }

    static func mse(_ config: Config) throws -> StandardLoss {
        let reduction = try reduction(config)
        return StandardLoss { try Losses.mse($0, $1, reduction: reduction) }
    }

    static func l1(_ config: Config) throws -> StandardLoss {
        let reduction = try reduction(config)
        return StandardLoss { try Losses.l1($0, $1, reduction: reduction) }
    }

    static func binaryCrossEntropy(_ config: Config) throws -> StandardLoss {
        let reduction = try reduction(config)
        return StandardLoss { try Losses.binaryCrossEntropyWithLogits($0, $1, reduction: reduction) }
    }

    static let klOptions = [
        OptionSpec("reduction", .string, default: .string("batchmean"), "batchmean, mean, sum or none")
    ]

    static func klDivergence(_ config: Config) throws -> StandardLoss {
        let reduction =
            Losses.KLReduction(rawValue: try config.choice("reduction", ["batchmean", "mean", "sum", "none"]))
            ?? .batchMean
        return StandardLoss { try Losses.klDivergence($0, $1, reduction: reduction) }
    }
}

extension StandardLoss: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .loss, "cross_entropy", "cross-entropy of logits [N, C] and class targets [N]",
            reference: "PyTorch F.cross_entropy",
            options: StandardLoss.crossEntropyOptions, build: StandardLoss.crossEntropy),
        ComponentEntry(
            .loss, "nll", "negative log-likelihood of log-probabilities", reference: "PyTorch F.nll_loss",
            options: [StandardLoss.reductionOption], build: StandardLoss.nll),
        ComponentEntry(
            .loss, "mse", "mean squared error", reference: "PyTorch F.mse_loss",
            options: [StandardLoss.reductionOption], build: StandardLoss.mse),
        ComponentEntry(
            .loss, "l1", "mean absolute error", reference: "PyTorch F.l1_loss",
            options: [StandardLoss.reductionOption], build: StandardLoss.l1),
        ComponentEntry(
            .loss, "bce_with_logits", "binary cross-entropy on logits",
            reference: "PyTorch F.binary_cross_entropy_with_logits",
            options: [StandardLoss.reductionOption], build: StandardLoss.binaryCrossEntropy),
        ComponentEntry(
            .loss, "kl_div", "KL divergence of log-probabilities from target probabilities",
            reference: "PyTorch F.kl_div",
            options: StandardLoss.klOptions, build: StandardLoss.klDivergence),
    ]
}
