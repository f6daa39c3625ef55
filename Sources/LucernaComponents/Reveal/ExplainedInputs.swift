import LucernaCore
import LucernaNN

/// What a Reveal-to-Revise step runs its model on: one input tensor, or the named modalities of a
/// ``MultimodalClassifier`` of which one is explained — its layers hold the concept, its pixels are
/// attributed — with the others held at their values, row by row. Slicing and selecting rows keep the
/// modalities of a sample together, so a CAV, a concept heatmap or a TCAV derivative of a sample sees that
/// sample's own recording beside its image, in batches of any size.
public struct ExplainedInputs {
    /// The explained input `[N, ...]` (the only one, or the explained modality's).
    public let explained: Tensor
    /// The explained modality's name, nil for a single-input model.
    public let modality: String?
    /// The other modalities, each with the same rows as ``explained``.
    public let held: [String: Tensor]

    public var count: Int { explained.shape.first ?? 0 }

    /// A single-input model's inputs.
    public init(_ inputs: Tensor) {
        explained = inputs
        modality = nil
        held = [:]
    }

    /// A multimodal classifier's inputs by modality, `modality` explained; every tensor must have the same
    /// number of rows.
    public init(modalities: [String: Tensor], explained modality: String, owner: String) throws {
        guard let explained = modalities[modality] else {
            throw ConfigurationError(
                owner,
                "modality '\(modality)' has no input; given: \(modalities.keys.sorted().joined(separator: ", "))")
        }
        let count = explained.shape.first ?? 0
        for (name, tensor) in modalities where tensor.shape.first != count {
            throw TensorError(
                owner,
                "input '\(name)' is \(describe(shape: tensor.shape)) and '\(modality)' \(describe(shape: explained.shape)): every modality needs the same rows"
            )
        }
        self.explained = explained
        self.modality = modality
        held = modalities.filter { $0.key != modality }
    }

    private init(explained: Tensor, modality: String?, held: [String: Tensor]) {
        self.explained = explained
        self.modality = modality
        self.held = held
    }

    /// Rows `start..<end` of every input.
    public func sliced(start: Int, end: Int) throws -> ExplainedInputs {
        ExplainedInputs(
            explained: try explained.sliced(axis: 0, start: start, end: end), modality: modality,
            held: try held.mapValues { try $0.sliced(axis: 0, start: start, end: end) })
    }

    /// The rows at `indices` of every input.
    public func selected(_ indices: [Int]) throws -> ExplainedInputs {
        ExplainedInputs(
            explained: try explained.indexSelect(axis: 0, indices: indices), modality: modality,
            held: try held.mapValues { try $0.indexSelect(axis: 0, indices: indices) })
    }

    /// `model` as a function of ``explained``: the model itself, or, for a modality, a ``ModalityView``
    /// holding these rows of the other modalities (its layers are the classifier's own, so
    /// `encoders.image.relu1` names the same module).
    public func view(of model: Module, owner: String) throws -> Module {
        guard let modality else { return model }
        guard let classifier = model as? MultimodalClassifier else {
            throw ConfigurationError(
                owner, "inputs by modality need a multimodal classifier (models.multimodal_classifier)")
        }
        var inputs = held
        inputs[modality] = explained
        return try ModalityView(model: classifier, modality: modality, inputs: inputs)
    }

    /// The results of `body` over batches of at most `size` rows, each with the model seen as a function of
    /// that batch's explained rows.
    public func batches<Result>(
        of size: Int, model: Module, owner: String, _ body: (Module, Tensor) throws -> Result
    ) throws -> [Result] {
        var results: [Result] = []
        for start in stride(from: 0, to: count, by: max(size, 1)) {
            let part = try sliced(start: start, end: min(start + max(size, 1), count))
            results.append(try body(part.view(of: model, owner: owner), part.explained))
        }
        return results
    }
}
