import LucernaCore
import LucernaNN

/// Any attack on a multimodal classifier: on one modality (the others held at their values, through
/// ``ModalityView``, so image attacks such as Square see images) or on several at once (their values
/// flattened and concatenated per sample into one vector that the attack perturbs: one budget — one L∞ or
/// L2 ball and one valid range — over all attacked values).
///
/// Reference: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018 (the
/// threat model per input); Tian & Xu, "Can audio-visual integration strengthen robustness under multimodal
/// attacks?", CVPR 2021 (attacking one modality or all of them).
public enum MultimodalAttack {
    /// `inputs` with the modalities `attacked` (all of them when nil) replaced by adversarial values.
    public static func perturb(_ attack: Attack, model: MultimodalClassifier, inputs: [String: Tensor], targets: Tensor,
                               attacked: [String]? = nil) throws -> [String: Tensor] {
        let names = (attacked ?? inputs.keys.sorted())
        guard !names.isEmpty else { throw TensorError("attack", "no modality to attack") }
        for name in names where inputs[name] == nil {
            throw TensorError("attack", "no input for modality '\(name)'\(suggestion(for: name, in: inputs.keys.sorted())); given: \(inputs.keys.sorted().joined(separator: ", "))")
        }
        var result = inputs
        if names.count == 1, let name = names.first, let input = inputs[name] {
            result[name] = try attack.perturb(model: ModalityView(model: model, modality: name, inputs: inputs), inputs: input, targets: targets)
            return result
        }
        let view = try JointModalityView(model: model, attacked: names, inputs: inputs)
        let adversarial = try attack.perturb(model: view, inputs: view.flattened, targets: targets)
        for (name, value) in try view.split(adversarial) { result[name] = value }
        return result
    }
}

/// A multimodal classifier as a function of `[N, D₁ + D₂ + ...]`: the attacked modalities' values flattened
/// and concatenated per sample, the other modalities held.
final class JointModalityView: Module {
    let model: MultimodalClassifier
    let attacked: [(name: String, shape: [Int], size: Int)]
    let held: [String: Tensor]
    let flattened: Tensor

    init(model: MultimodalClassifier, attacked names: [String], inputs: [String: Tensor]) throws {
        let tensors = names.compactMap { inputs[$0] }
        guard tensors.count == names.count, let count = tensors.first?.shape.first,
              tensors.allSatisfy({ $0.rank >= 2 && $0.shape[0] == count && $0.dtype.isFloatingPoint }) else {
            throw TensorError("attack", "the attacked modalities \(names.joined(separator: ", ")) must be floating-point batches with the same number of samples, got \(tensors.map { "\($0.dtype) \(describe(shape: $0.shape))" }.joined(separator: ", "))")
        }
        let dtype = tensors[0].dtype
        self.model = model
        attacked = zip(names, tensors).map { ($0, Array($1.shape.dropFirst()), $1.count / max(count, 1)) }
        held = inputs.filter { !names.contains($0.key) }.mapValues { $0.detach() }
        flattened = try Tensor.concatenate(tensors.map { try $0.detach().to(dtype).reshaped([count, $0.count / max(count, 1)]) }, axis: 1)
        super.init()
        for (name, child) in model.children { registerModule(name, child) }
    }

    private init(model: MultimodalClassifier, attacked: [(name: String, shape: [Int], size: Int)], held: [String: Tensor], flattened: Tensor) {
        self.model = model
        self.attacked = attacked
        self.held = held
        self.flattened = flattened
        super.init()
        for (name, child) in model.children { registerModule(name, child) }
    }

    /// Each attacked modality's part of `values` (`[N, ΣD]`) in its own shape.
    func split(_ values: Tensor) throws -> [(String, Tensor)] {
        let rows = values.shape[0]
        var offset = 0
        return try attacked.map { modality in
            defer { offset += modality.size }
            return (modality.name, try values.sliced(axis: 1, start: offset, end: offset + modality.size).reshaped([rows] + modality.shape))
        }
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        let total = attacked.reduce(0) { $0 + $1.size }
        guard input.rank == 2, input.shape[1] == total, input.shape[0] == flattened.shape[0] else {
            throw TensorError("attack", "a joint attack on \(attacked.map(\.name).joined(separator: ", ")) must query [\(flattened.shape[0]), \(total)], got \(describe(shape: input.shape))")
        }
        var inputs = held
        for (name, value) in try split(input) { inputs[name] = value }
        return try model.forward(modalities: inputs)
    }

    override func restricted(toRows rows: [Int]) throws -> Module {
        JointModalityView(model: model, attacked: attacked, held: try held.mapValues { try $0.indexSelect(axis: 0, indices: rows) },
                          flattened: try flattened.indexSelect(axis: 0, indices: rows))
    }
}
