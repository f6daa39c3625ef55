import LucernaComponents
import LucernaCore
import LucernaNN

/// Bias feedback for a conditional generator, two penalties on each generated batch, both differentiated
/// into the generator:
/// - **subgroup shares**: each generated sample's membership of the protected subgroups — the softmax of a
///   group classifier's outputs, or a group function's probabilities — averaged over the batch into soft
///   shares p̄; the penalty is ‖p̄ − t‖² for the target shares t (uniform by default). The logged
///   `fairness_discrepancy` is ‖p̄ − t‖₂, Choi et al.'s fairness discrepancy.
/// - **even per-class accuracy**: the auditing classifier's probability of each sample's conditioning class,
///   averaged per class present in the batch (a soft per-class accuracy a_c); the penalty is
///   mean_c (a* − a_c)² with a* the best class's value, not differentiated, so that weaker classes are
///   raised to the best one and the best is not pulled down. Logged: `class_accuracy_gap` (a* − min_c a_c).
///
/// Both networks run in evaluation mode and are not trained; images reach them in [0, 1].
///
/// Reference: the paper's bias feedback; Choi et al., "Fair Generative Modeling via Weak Supervision",
/// ICML 2020 (fairness discrepancy); Tan et al., "Improving the Fairness of Deep Generative Models without
/// Retraining", 2020.
public struct BiasFeedback {
    /// How a generated sample's subgroup is seen.
    public enum Groups {
        /// A classifier over the subgroups: the softmax of its outputs `[N, G]`.
        case classifier(Module)
        /// A function of the images `[N, C, H, W]` in [0, 1] returning probabilities `[N, G]` (rows summing to
        /// 1) or `[N]` (the probability of the second of two groups), differentiable in the images.
        case function((Tensor) throws -> Tensor)
    }

    public let groups: Groups?
    /// The target shares (summing to 1), or nil for uniform over the groups.
    public let target: [Double]?
    public let weight: Double
    /// The auditing classifier whose per-class accuracy on generated samples is kept even, or none.
    public let classifier: Module?
    public let accuracyWeight: Double
    /// Generator steps between feedback updates (1: every step).
    public let every: Int

    public init(
        groups: Groups?, target: [Double]?, weight: Double, classifier: Module?, accuracyWeight: Double, every: Int
    ) throws {
        let owner = "train_gan fairness"
        guard groups != nil || classifier != nil else {
            throw TensorError(owner, "needs groups (a group classifier or function), a classifier, or both")
        }
        guard weight >= 0, weight.isFinite, accuracyWeight >= 0, accuracyWeight.isFinite, every >= 1 else {
            throw TensorError(
                owner,
                "weights must be non-negative numbers and every at least 1, got \(weight), \(accuracyWeight), \(every)")
        }
        if let target {
            guard target.count >= 2, target.allSatisfy({ $0 >= 0 && $0.isFinite }),
                abs(target.reduce(0, +) - 1) < 1e-6
            else {
                throw TensorError(owner, "target must be two or more non-negative shares summing to 1, got \(target)")
            }
        }
        (self.groups, self.target, self.weight) = (groups, target, weight)
        (self.classifier, self.accuracyWeight, self.every) = (classifier, accuracyWeight, every)
    }

    /// The networks whose parameters the generator step must not train.
    public var frozenParameters: [Tensor] {
        var parameters = classifier?.parameters() ?? []
        if case .classifier(let module) = groups { parameters += module.parameters() }
        return parameters
    }

    /// The weighted penalty (in the graph of `images`) and the logged values (`bias_penalty`,
    /// `fairness_discrepancy`, `class_accuracy_gap`), for generated `images` in [−1, 1] and their
    /// conditioning `labels` `[N]`. `classifierOutputs`: the auditing classifier's outputs on these images
    /// when another feedback already ran it (in the graph of `images`), instead of a second forward pass.
    public func evaluate(images: Tensor, labels: Tensor, classifierOutputs: Tensor? = nil) throws -> (
        term: Tensor, values: [String: Double]
    ) {
        let scaled = try images.affine(scale: 0.5, shift: 0.5)
        var term = Tensor(0, dtype: images.dtype)
        var values: [String: Double] = [:]
        if let groups {
            let probabilities = try groupProbabilities(scaled, groups: groups)
            let count = probabilities.shape[1]
            let shares = try probabilities.mean(axes: [0])
            let goal = target ?? Array(repeating: 1 / Double(count), count: count)
            guard goal.count == count else {
                throw TensorError(
                    "train_gan fairness", "target has \(goal.count) shares but the groups give \(count) probabilities")
            }
            let squared = try (shares - Tensor(shape: [count], values: goal, dtype: shares.dtype)).square().sum()
            values["fairness_discrepancy"] = try squared.item().squareRoot()
            term = try term + squared * weight
        }
        if let classifier {
            let outputs = try classifierOutputs ?? classifier.evaluating { try classifier(scaled) }
            let (penalty, gap) = try accuracyPenalty(outputs: outputs, labels: labels)
            values["class_accuracy_gap"] = gap
            term = try term + penalty * accuracyWeight
        }
        values["bias_penalty"] = try term.item()
        return (term, values)
    }

    /// The subgroup probabilities `[N, G]` of `images` in [0, 1], checked.
    func groupProbabilities(_ images: Tensor, groups: Groups) throws -> Tensor {
        let count = images.shape[0]
        switch groups {
        case .classifier(let module):
            let outputs = try module.evaluating { try module(images) }
            guard outputs.rank == 2, outputs.shape[0] == count, outputs.shape[1] >= 2 else {
                throw TensorError(
                    "train_gan fairness",
                    "the group classifier must give [N, G] outputs with G ≥ 2 for \(count) images, got \(describe(shape: outputs.shape))"
                )
            }
            return try outputs.softmax(axis: 1)
        case .function(let function):
            var result = try function(images).to(images.dtype)
            if result.rank == 1, result.shape[0] == count {
                result = try Tensor.concatenate([1 - result, result].map { try $0.unsqueezed(axis: 1) }, axis: 1)
            }
            guard result.rank == 2, result.shape[0] == count, result.shape[1] >= 2 else {
                throw TensorError(
                    "train_gan fairness",
                    "groups must return probabilities [N, G] (G ≥ 2) or [N] for \(count) images, got \(describe(shape: result.shape))"
                )
            }
            let (entries, rowSums) = try noGrad { (result.toDoubles(), try result.sum(axes: [1]).toDoubles()) }
            guard entries.allSatisfy({ $0 >= -1e-6 && $0 <= 1 + 1e-6 }), rowSums.allSatisfy({ abs($0 - 1) < 1e-4 })
            else {
                throw TensorError(
                    "train_gan fairness",
                    "groups must return probabilities in [0, 1] whose rows sum to 1 (got values from \(entries.min() ?? 0) to \(entries.max() ?? 0), row sums from \(rowSums.min() ?? 0) to \(rowSums.max() ?? 0))"
                )
            }
            return result
        }
    }

    /// mean_c (a* − a_c)² over the classes present, a_c the classifier's mean probability of class c on the
    /// samples drawn for c and a* the largest (constant); and a* − min_c a_c.
    func accuracyPenalty(outputs: Tensor, labels: Tensor) throws -> (Tensor, Double) {
        let count = labels.shape[0]
        let classes = outputs.rank == 2 ? outputs.shape[1] : 0
        let indices = labels.toIntegers()
        guard outputs.rank == 2, outputs.shape[0] == count, indices.allSatisfy({ (0..<classes).contains($0) }) else {
            throw TensorError(
                "train_gan fairness",
                "the classifier must give [N, classes] outputs covering the labels, got \(describe(shape: outputs.shape)) for labels up to \(indices.max() ?? 0)"
            )
        }
        let own = try outputs.softmax(axis: 1).gathering(
            axis: 1, indices: Tensor(shape: [count, 1], integers: indices)
        ).reshaped([count])
        let (perClass, sizes) = try own.groupMeans(groups: indices, groupCount: classes)
        let present = sizes.indices.filter { sizes[$0] > 0 }
        let means = try perClass.indexSelect(axis: 0, indices: present)
        let values = means.toDoubles()
        let best = values.max() ?? 0
        let penalty = try (Tensor(best, dtype: means.dtype) - means).square().mean()
        return (penalty, best - (values.min() ?? 0))
    }
}
