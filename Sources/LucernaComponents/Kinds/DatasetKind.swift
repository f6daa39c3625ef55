import LucernaCore
import LucernaNN

/// A split of a data set as named tensors (`images`, `labels`, ...), in a fixed order.
public final class TensorDataset {
    public let name: String
    public let tensors: [(name: String, tensor: Tensor)]
    /// Facts about the set that are not per sample (`vocabulary_size`, `speaker_names`).
    public let metadata: [String: ConfigValue]

    public init(name: String, tensors: [(name: String, tensor: Tensor)], metadata: [String: ConfigValue] = [:]) {
        self.name = name
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor called `name`.
    public func tensor(_ name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }

    /// Number of samples (the first axis of the first tensor).
    public var count: Int { tensors.first?.tensor.shape.first ?? 0 }

    /// The samples `indices`, in that order, as a set called `name` (this set's name by default).
    public func rows(_ indices: [Int], name: String? = nil) throws -> TensorDataset {
        TensorDataset(
            name: name ?? self.name,
            tensors: try tensors.map { ($0.name, try $0.tensor.indexSelect(axis: 0, indices: indices)) },
            metadata: metadata)
    }
}

extension ComponentKind {
    /// Data sets: named tensors sharing their first axis.
    public static let dataset = ComponentKind(
        name: "dataset", namespace: "data", protocolName: "TensorDataset", accepts: { $0 is TensorDataset },
        conformance: { instance, probe in
            let dataset = try probe.instance(instance, as: TensorDataset.self, "a data set")
            let shapes = dataset.tensors.map { "\($0.name) \(describe(shape: $0.tensor.shape))" }
            guard let count = dataset.tensors.first?.tensor.shape.first, count > 0,
                dataset.tensors.allSatisfy({ $0.tensor.shape.first == count })
            else { throw probe.fail("its tensors must share a non-empty first axis, got \(shapes)") }
            probe.passed("\(count) samples: \(shapes.joined(separator: ", "))")
        })
}

extension ComponentKindKey where Self == TypedComponentKind<TensorDataset> {
    public static var dataset: Self { TypedComponentKind(.dataset) }
}
