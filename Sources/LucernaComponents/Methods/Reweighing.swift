import LucernaCore

/// Reweighing: every training sample of protected group g and label y weighs
/// w(g, y) = P(g) · P(y) / P(g, y) = n_g · n_y / (N · n_{g,y}) (counts over the training data), the weights that
/// make group and label independent; the loss is the batch's weighted mean Σ w_i l_i / Σ w_i (the form of
/// PyTorch's weighted cross-entropy). The weights by group and label are logged every epoch
/// (`train_weight_g<g>_y<y>`).
///
/// Reference: Kamiran & Calders, "Data preprocessing techniques for classification without discrimination",
/// Knowledge and Information Systems 2012 (AIF360's `Reweighing`).
public final class Reweighing: TrainingMethod {
    public static let options: [OptionSpec] = []
    /// w(g, y), indexed [g][y], once `prepare` has seen the data.
    public private(set) var weights: [[Double]] = []

    public init() {}
    public convenience init(config: Config) throws { self.init() }

    public var fields: [String] { ["groups", "targets"] }

    public func prepare(_ data: TensorDataset, keys: TrainingKeys) throws {
        let name = "reweighing"
        let groups = try TrainingMethodInputs.labels(data.tensor(keys.groups), keys.groups, owner: name)
        let labels = try TrainingMethodInputs.labels(
            data.tensor(keys.target), keys.target, count: groups.count, owner: name)
        weights = try Self.weights(groups: groups, labels: labels)
    }

    /// w(g, y) = n_g · n_y / (N · n_{g,y}); 0 for a (group, label) pair with no sample.
    public static func weights(groups: [Int], labels: [Int]) throws -> [[Double]] {
        guard !groups.isEmpty, groups.count == labels.count else {
            throw TensorError("reweighing", "\(groups.count) groups for \(labels.count) labels")
        }
        let groupCount = (groups.max() ?? 0) + 1
        let classCount = (labels.max() ?? 0) + 1
        guard groupCount * classCount <= 1_000_000 else {
            throw TensorError("reweighing", "\(groupCount) groups × \(classCount) labels is too many cells")
        }
        var joint = Array(repeating: Array(repeating: 0, count: classCount), count: groupCount)
        var byGroup = Array(repeating: 0, count: groupCount)
        var byLabel = Array(repeating: 0, count: classCount)
        for (group, label) in zip(groups, labels) {
            joint[group][label] += 1
            byGroup[group] += 1
            byLabel[label] += 1
        }
        let total = Double(groups.count)
        return (0..<groupCount).map { group in
            (0..<classCount).map { label in
                joint[group][label] == 0
                    ? 0 : Double(byGroup[group]) * Double(byLabel[label]) / (total * Double(joint[group][label]))
            }
        }
    }

    public func loss(_ losses: Tensor, _ context: RegularizerContext) throws -> Tensor {
        let name = "reweighing"
        let count = losses.shape.first
        _ = try checked(losses, count: count, name)
        guard !weights.isEmpty else { throw TensorError(name, "prepare was not called with the training data") }
        let groups = try TrainingMethodInputs.labels(context.groups, "groups", count: count, owner: name)
        let labels = try TrainingMethodInputs.labels(context.targets, "targets", count: count, owner: name)
        var sample: [Double] = []
        for (group, label) in zip(groups, labels) {
            guard group < weights.count, label < weights[group].count else {
                throw TensorError(
                    name, "the batch has group \(group) with label \(label), which the training data lacks")
            }
            sample.append(weights[group][label])
        }
        let total = sample.reduce(0, +)
        guard total > 0 else { return try (losses * 0).sum() }
        let weightTensor = try Tensor(shape: [sample.count], values: sample.map { $0 / total }, dtype: losses.dtype)
        return try (losses * weightTensor).sum()
    }

    public func epochValues() -> [(name: String, value: Double)] {
        weights.enumerated().flatMap { group, row in
            row.enumerated().map { (name: "weight_g\(group)_y\($0.offset)", value: $0.element) }
        }
    }
}

extension Reweighing: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .method, "reweighing",
            "sample weights P(g)P(y)/P(g,y) that make group and label independent; the loss their weighted mean",
            reference:
                "Kamiran & Calders, \"Data preprocessing techniques for classification without discrimination\", KAIS 2012",
            options: options, build: Reweighing.init)
    ]
}
