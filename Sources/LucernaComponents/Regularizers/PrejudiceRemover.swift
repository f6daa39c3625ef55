import LucernaCore
import LucernaNN

/// The prejudice remover regularizer: η · the mutual information between the prediction and the subgroup,
/// estimated on the batch as Kamishima et al. do, (1/N) Σ_i Σ_y p(y|x_i) · ln(P̂(y|s_i) / P̂(y)), with
/// P̂(y|s) the mean predicted probability of y over group s's samples and P̂(y) over all. A single logit is
/// a binary model (p, 1 − p); `[N, C]` logits are softmaxed. The sum is divided by N so η weighs it like a
/// mean loss (Kamishima et al. sum both the log-likelihood and the regularizer, the same ratio).
///
/// Reference: Kamishima, Akaho, Asoh & Sakuma, "Fairness-Aware Classifier with Prejudice Remover
/// Regularizer", ECML PKDD 2012; AIF360 `PrejudiceRemover` (η = 1).
public final class PrejudiceRemover: Regularizer {
    public static let options = [
        OptionSpec("weight", .number, default: .number(1), "η, the coefficient of the mutual information")
    ]
    public let weight: Double

    public init(weight: Double = 1) { self.weight = weight }
    public convenience init(config: Config) throws { self.init(weight: try config.nonNegativeNumber("weight")) }

    public func requirements(model: RegularizedModel?) throws -> RegularizerRequirements {
        RegularizerRequirements(fields: ["groups"])
    }

    public func penalty(_ context: RegularizerContext) throws -> Tensor {
        let name = "prejudice_remover"
        let logits = try context.require(context.logits, "logits", name)
        let count = logits.shape.first ?? 0
        let groups = try FairnessPenaltyInputs.labels(
            context.require(context.groups, "groups", name), count: count, "groups", owner: name)
        // p(y | x) as [N, C].
        let probabilities: Tensor
        if logits.rank == 1 || (logits.rank == 2 && logits.shape[1] == 1) {
            let positive = try logits.reshaped([count, 1]).sigmoid()
            probabilities = try Tensor.concatenate([1 - positive, positive], axis: 1)
        } else {
            guard logits.rank == 2 else {
                throw TensorError(
                    name, "logits must be [N], [N, 1] or [N, classes], got \(describe(shape: logits.shape))")
            }
            probabilities = try logits.softmax(axis: 1)
        }
        // Groups renumbered 0..<K over those present, so every group's mean is defined.
        let present = FairnessPenaltyInputs.groupRows(groups, among: Array(0..<count))
        var compact = [Int](repeating: 0, count: count)
        for (index, entry) in present.enumerated() { for row in entry.rows { compact[row] = index } }
        let membership = try Tensor.oneHot(
            Tensor(shape: [count], integers: compact), classes: present.count,
            dtype: probabilities.dtype)  // [N, K]
        let sizes = try Tensor(
            shape: [present.count, 1], values: present.map { Double($0.rows.count) }, dtype: probabilities.dtype)
        let conditional = try membership.matmul(probabilities, transposingSelf: true, transposingOther: false) / sizes
        let perSample = try membership.matmul(conditional)  // P̂(y | s_i), [N, C]
        let marginal = try probabilities.mean(axes: [0], keepingDimensions: true)  // P̂(y), [1, C]
        let ratio = try perSample.clamp(min: 1e-12).log() - marginal.clamp(min: 1e-12).log()
        return try (probabilities * ratio).sum() * (weight / Double(max(count, 1)))
    }
}

extension PrejudiceRemover: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .regularizer, "prejudice_remover",
            "η · mutual information between prediction and subgroup, estimated on the batch (Kamishima et al.)",
            reference:
                "Kamishima et al., \"Fairness-Aware Classifier with Prejudice Remover Regularizer\", ECML PKDD 2012",
            options: options, build: PrejudiceRemover.init)
    ]
}
