import Foundation
import LucernaCore
import LucernaNN

/// Adversarial debiasing: an adversary predicts the protected group from the model's prediction (and, for
/// equalized odds, from the prediction times the true label), and each step the model's gradient of its own
/// loss has its projection on the adversary's gradient removed and α times the adversary's gradient
/// subtracted, g ← ∇L_P − (∇L_P · u) u − α ∇L_A with u = ∇L_A / ‖∇L_A‖ per parameter tensor, so the model
/// neither helps nor feeds the adversary; the adversary descends its own loss L_A. As AIF360: the prediction
/// enters as s = σ((1 + |c|) · logit) with a trained c (from 1), the equalized-odds adversary reads
/// [s, s·y, s·(1 − y)], a linear layer (Glorot-uniform weights, zero bias) gives the group's logit, and L_A is
/// its binary cross-entropy. Generalised: a model with C > 2 classes enters as the softmax of its scaled
/// logits (and each class's share s·[y = k]), more than two groups as a softmax over the groups with
/// cross-entropy. The adversary's parameters train with the model's optimizer; its loss is logged every epoch
/// (`train_adversary_loss`, `train_adversary_accuracy`).
///
/// Reference: Zhang, Lemoine & Mitchell, "Mitigating Unwanted Biases with Adversarial Learning", AIES 2018
/// (AIF360 `AdversarialDebiasing`: α 0.1, the equalized-odds adversary).
public final class AdversarialDebiasing: TrainingMethod, ParameterOwner {
    public static let options = [
        OptionSpec("alpha", .number, default: .number(0.1), "α, the weight of the adversary's gradient"),
        OptionSpec(
            "criterion", .string, default: .string("equalized_odds"),
            "\"equalized_odds\" (the adversary also sees the label, AIF360's form) or \"demographic_parity\""),
    ]
    public let alpha: Double
    public let equalizedOdds: Bool
    /// c, W, b of the adversary once `prepare` has seen the data (or `setAdversary` set them).
    public private(set) var adversary: [Tensor] = []
    private var classes = 2
    private var groupCount = 2
    private var lossSum = 0.0
    private var correct = 0
    private var seen = 0

    public init(alpha: Double = 0.1, equalizedOdds: Bool = true) {
        self.alpha = alpha
        self.equalizedOdds = equalizedOdds
    }

    public convenience init(config: Config) throws {
        self.init(
            alpha: try config.nonNegativeNumber("alpha"),
            equalizedOdds: try config.choice("criterion", ["equalized_odds", "demographic_parity"]) == "equalized_odds")
    }

    public var fields: [String] { equalizedOdds ? ["groups", "targets", "logits"] : ["groups", "logits"] }

    public func parameters() -> [Tensor] { adversary }

    /// Width of s: one probability for two classes, the softmax otherwise.
    var predictionWidth: Int { classes == 2 ? 1 : classes }
    var inputWidth: Int { predictionWidth * (equalizedOdds ? 1 + (classes == 2 ? 2 : classes) : 1) }
    var outputWidth: Int { groupCount == 2 ? 1 : groupCount }

    public func prepare(_ data: TensorDataset, keys: TrainingKeys) throws {
        let name = "adversarial_debiasing"
        let groups = try TrainingMethodInputs.labels(data.tensor(keys.groups), keys.groups, owner: name)
        let labels = try TrainingMethodInputs.labels(
            data.tensor(keys.target), keys.target, count: groups.count, owner: name)
        classes = max((labels.max() ?? 0) + 1, 2)
        groupCount = max((groups.max() ?? 0) + 1, 2)
        guard classes <= 1000, groupCount <= 1000 else {
            throw TensorError(name, "\(classes) classes and \(groupCount) groups; at most 1000 each")
        }
        if adversary.count == 3, adversary[1].shape == [inputWidth, outputWidth] { return }
        let bound = (6 / Double(inputWidth + outputWidth)).squareRoot()
        let weight = try Tensor.uniform(
            [inputWidth, outputWidth], low: -bound, high: bound, generator: RandomGenerator.shared)
        try setAdversary(
            scale: try Tensor(shape: [], values: [1], dtype: .float32), weight: weight,
            bias: try Tensor.zeros([outputWidth]))
    }

    /// Sets the adversary's c, W `[inputs, outputs]` and b `[outputs]` (tests, and loading a fixed example).
    public func setAdversary(scale: Tensor, weight: Tensor, bias: Tensor) throws {
        guard scale.count == 1, weight.rank == 2, bias.rank == 1, bias.shape[0] == weight.shape[1] else {
            throw TensorError(
                "adversarial_debiasing",
                "adversary c, W, b must be a scalar, [inputs, outputs] and [outputs], got \(describe(shape: scale.shape)), \(describe(shape: weight.shape)), \(describe(shape: bias.shape))"
            )
        }
        adversary = [
            try scale.detach().requiringGrad(), try weight.detach().requiringGrad(), try bias.detach().requiringGrad(),
        ]
    }

    public func loss(_ losses: Tensor, _ context: RegularizerContext) throws -> Tensor {
        try checked(losses, count: losses.shape.first, "adversarial_debiasing").mean()
    }

    /// The adversary's input: s, and for equalized odds s times each label's indicator.
    func adversaryInput(logits: Tensor, targets: [Int]) throws -> Tensor {
        let name = "adversarial_debiasing"
        guard adversary.count == 3 else { throw TensorError(name, "prepare was not called with the training data") }
        let count = logits.shape.first ?? 0
        let scale = try adversary[0].abs() + 1
        let binaryLogit: Tensor
        let probabilities: Tensor
        if logits.rank == 1 || (logits.rank == 2 && logits.shape[1] == 1) {
            binaryLogit = try logits.reshaped([count, 1])
            probabilities = try (binaryLogit * scale).sigmoid()
        } else if logits.rank == 2, logits.shape[1] == 2 {
            let difference = try logits.sliced(axis: 1, start: 1, end: 2) - logits.sliced(axis: 1, start: 0, end: 1)
            probabilities = try (difference * scale).sigmoid()
        } else if logits.rank == 2, logits.shape[1] == classes {
            probabilities = try (logits * scale).softmax(axis: 1)
        } else {
            throw TensorError(
                name,
                "logits must be [N], [N, 1] or [N, \(classes)] for \(classes) classes, got \(describe(shape: logits.shape))"
            )
        }
        guard equalizedOdds else { return probabilities }
        // AIF360's column order for two classes: s, s·y, s·(1 − y).
        let order = classes == 2 ? [1, 0] : Array(0..<classes)
        var parts = [probabilities]
        for label in order {
            let indicator = try Tensor(
                shape: [count, 1], values: targets.map { $0 == label ? 1 : 0 }, dtype: probabilities.dtype)
            parts.append(try probabilities * indicator)
        }
        return try Tensor.concatenate(parts, axis: 1)
    }

    /// L_A, the adversary's loss on the batch.
    public func adversaryLoss(logits: Tensor, targets: Tensor?, groups: Tensor) throws -> Tensor {
        let name = "adversarial_debiasing"
        let count = logits.shape.first ?? 0
        let groupLabels = try TrainingMethodInputs.labels(groups, "groups", count: count, owner: name)
        let labels =
            equalizedOdds
            ? try TrainingMethodInputs.labels(targets, "targets", count: count, owner: name)
            : Array(repeating: 0, count: count)
        if let outside = groupLabels.first(where: { $0 >= groupCount }) {
            throw TensorError(name, "the batch has group \(outside), the training data only \(groupCount)")
        }
        let input = try adversaryInput(logits: logits, targets: labels)
        let output = try input.matmul(adversary[1].to(input.dtype)) + adversary[2].to(input.dtype)
        let loss: Tensor
        let predicted: [Int]
        if outputWidth == 1 {
            let target = try Tensor(shape: [count], values: groupLabels.map(Double.init), dtype: input.dtype)
            loss = try Losses.binaryCrossEntropyWithLogits(output.reshaped([count]), target)
            predicted = output.detach().toDoubles().map { $0 > 0 ? 1 : 0 }
        } else {
            loss = try Losses.crossEntropy(output, Tensor(shape: [count], integers: groupLabels))
            predicted = try output.detach().argmax(axis: 1).toIntegers()
        }
        lossSum += try loss.item() * Double(count)
        correct += zip(predicted, groupLabels).filter { $0 == $1 }.count
        seen += count
        return loss
    }

    public func backward(_ total: Tensor, context: RegularizerContext, parameters: [Tensor]) throws {
        let name = "adversarial_debiasing"
        let logits = try context.require(context.logits, "logits", name)
        let adversaryLoss = try adversaryLoss(
            logits: logits, targets: context.targets, groups: context.require(context.groups, "groups", name))
        let own = Set(adversary.map(ObjectIdentifier.init))
        let model = parameters.filter { !own.contains(ObjectIdentifier($0)) }
        let modelGradients = try Tensor.gradients(of: [total], withRespectTo: model)
        let adversaryGradients = try Tensor.gradients(of: [adversaryLoss], withRespectTo: model + adversary)
        try noGrad {
            for (index, parameter) in model.enumerated() {
                guard var gradient = modelGradients[index] ?? adversaryGradients[index].map({ $0.zerosLike() }) else {
                    continue
                }
                if let away = adversaryGradients[index] {
                    gradient = try Self.projected(gradient, away: away, alpha: alpha)
                }
                parameter.grad = try parameter.grad.map { try $0 + gradient } ?? gradient
            }
            for (offset, parameter) in adversary.enumerated() {
                guard let gradient = adversaryGradients[model.count + offset] else { continue }
                parameter.grad = try parameter.grad.map { try $0 + gradient } ?? gradient
            }
        }
    }

    /// g − (g · u) u − α a with u = a / max(‖a‖, 1e-6) (TensorFlow's `l2_normalize`, ε 1e-12 on ‖a‖²).
    public static func projected(_ gradient: Tensor, away: Tensor, alpha: Double) throws -> Tensor {
        let norm = Swift.max((try (away * away).sum().item()).squareRoot(), 1e-6)
        let unit = try away / norm
        return try gradient - unit * (gradient * unit).sum() - away * alpha
    }

    public func beginEpoch() {
        lossSum = 0
        correct = 0
        seen = 0
    }

    public func epochValues() -> [(name: String, value: Double)] {
        guard seen > 0 else { return [] }
        return [
            ("adversary_loss", lossSum / Double(seen)), ("adversary_accuracy", Double(correct) / Double(seen)),
        ]
    }

    public var state: [(name: String, tensor: Tensor)] { [] }
}

extension AdversarialDebiasing: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .method, "adversarial_debiasing",
            "an adversary predicts the group from the prediction; the model's gradient loses its projection on the adversary's",
            reference: "Zhang, Lemoine & Mitchell, \"Mitigating Unwanted Biases with Adversarial Learning\", AIES 2018",
            options: options, build: AdversarialDebiasing.init)
    ]
}
