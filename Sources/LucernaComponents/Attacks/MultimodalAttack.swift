import LucernaCore
import LucernaNN

/// A modality's own threat model in a joint attack: its ε and valid range, each the attack's when nil.
public struct ModalityBudget: Sendable, Equatable {
    public var eps: Double?, low: Double?, high: Double?

    public init(eps: Double? = nil, low: Double? = nil, high: Double? = nil) {
        self.eps = eps
        self.low = low
        self.high = high
    }
}

/// Any attack on a multimodal classifier: on one modality (the others held at their values, through
/// ``ModalityView``, so image attacks such as Square see images) or on several at once (their values
/// flattened and concatenated per sample into one vector that the attack perturbs).
///
/// By default every attacked modality shares the attack's budget and valid range (`clamp_min`, `clamp_max`);
/// a modality whose values lie outside that range is an error, not silently clamped. With `budgets`, each
/// modality m has its own ε_m and range: the attack runs on u_m = (ε / ε_m)·x_m, with the range scaled alike,
/// so an L∞ attack (FGSM, BIM, PGD, MI-FGSM, APGD, Square) moves each modality within its own ε_m-ball and
/// range, steps of α scale to α·ε_m/ε, and an L2 attack's ball becomes the ellipsoid Σ‖δ_m‖²(ε/ε_m)² ≤ ε²
/// (DeepFool, which has no budget, measures distance in those units). Only attacks with a valid range
/// (``RangeBoundedAttack``) take budgets.
///
/// Reference: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018 (the
/// threat model per input); Tian & Xu, "Can audio-visual integration strengthen robustness under multimodal
/// attacks?", CVPR 2021 (attacking one modality or all of them, each with its own budget).
public enum MultimodalAttack {
    /// `inputs` with the modalities `attacked` (all of them when nil, or the keys of `budgets` when given)
    /// replaced by adversarial values.
    public static func perturb(
        _ attack: Attack, model: MultimodalClassifier, inputs: [String: Tensor], targets: Tensor,
        attacked: [String]? = nil, budgets: [String: ModalityBudget] = [:]
    ) throws -> [String: Tensor] {
        let names = attacked ?? (budgets.isEmpty ? inputs.keys.sorted() : budgets.keys.sorted())
        guard !names.isEmpty else { throw TensorError("attack", "no modality to attack") }
        for name in names + budgets.keys.sorted() where inputs[name] == nil {
            throw TensorError(
                "attack",
                "no input for modality '\(name)'\(suggestion(for: name, in: inputs.keys.sorted())); given: \(inputs.keys.sorted().joined(separator: ", "))"
            )
        }
        if let extra = budgets.keys.sorted().first(where: { !names.contains($0) }) {
            throw TensorError(
                "attack",
                "a budget for modality '\(extra)', which is not attacked (attacked: \(names.joined(separator: ", ")))")
        }
        guard let bounded = attack as? RangeBoundedAttack, bounded.validRange.isUniform else {
            guard budgets.isEmpty else {
                throw TensorError(
                    "attack",
                    "\(attack.label): per-modality budgets need an attack with one valid range (fgsm, fgsm_rs, bim, pgd, mifgsm, apgd_ce, apgd_dlr, square, deepfool)"
                )
            }
            return try perturbSharing(attack, model: model, inputs: inputs, targets: targets, attacked: names)
        }
        if budgets.isEmpty && names.count == 1, let name = names.first, let input = inputs[name] {
            try check(
                input, modality: name, low: bounded.validRange.low[0], high: bounded.validRange.high[0], attack: attack)
            return try perturbSharing(attack, model: model, inputs: inputs, targets: targets, attacked: names)
        }
        var result = inputs
        // Each modality's scale ε/ε_m and range, checked against its clean values.
        var scales: [Double] = []
        var ranges: [(low: Double, high: Double)] = []
        for name in names {
            let budget = budgets[name] ?? ModalityBudget()
            let low = budget.low ?? bounded.validRange.low[0]
            let high = budget.high ?? bounded.validRange.high[0]
            guard low < high else {
                throw TensorError("attack", "modality '\(name)': clamp_min \(low) must be below clamp_max \(high)")
            }
            var scale = 1.0
            if let eps = budget.eps {
                guard let attackEps = bounded.budget else {
                    throw TensorError(
                        "attack",
                        "\(attack.label) has no budget, so modality '\(name)' cannot have an eps; give it a range only")
                }
                guard eps > 0, eps.isFinite, attackEps > 0 else {
                    throw TensorError(
                        "attack",
                        "modality '\(name)': eps must be positive and finite (to hold a modality, leave it out), and the attack's eps positive; got \(eps) and \(attackEps)"
                    )
                }
                scale = attackEps / eps
            }
            if let input = inputs[name] { try check(input, modality: name, low: low, high: high, attack: attack) }
            scales.append(scale)
            ranges.append((low, high))
        }
        let view = try JointModalityView(model: model, attacked: names, inputs: inputs, scales: scales)
        var lows: [Double] = []
        var highs: [Double] = []
        for (index, modality) in view.attacked.enumerated() {
            lows += Array(repeating: ranges[index].low * scales[index], count: modality.size)
            highs += Array(repeating: ranges[index].high * scales[index], count: modality.size)
        }
        let range = try ValidRange(low: lows, high: highs, owner: "attack")
        let adversarial = try bounded.perturb(model: view, inputs: view.flattened, targets: targets, within: range)
        for (index, (name, value)) in try view.split(adversarial).enumerated() {
            // Dividing the scale back out may round a value past its range by an ulp.
            result[name] = scales[index] == 1 ? value : try value.clamp(min: ranges[index].low, max: ranges[index].high)
        }
        return result
    }

    /// The attack on the attacked modalities under its own budget and range: one modality through
    /// ``ModalityView`` (keeping its shape), several flattened into one vector. What attacks without a valid
    /// range (Carlini-Wagner, Lua plugins) and single-modality attacks without budgets use.
    static func perturbSharing(
        _ attack: Attack, model: MultimodalClassifier, inputs: [String: Tensor], targets: Tensor,
        attacked names: [String]
    ) throws -> [String: Tensor] {
        var result = inputs
        if names.count == 1, let name = names.first, let input = inputs[name] {
            result[name] = try attack.perturb(
                model: ModalityView(model: model, modality: name, inputs: inputs), inputs: input, targets: targets)
            return result
        }
        let view = try JointModalityView(model: model, attacked: names, inputs: inputs)
        let adversarial = try attack.perturb(model: view, inputs: view.flattened, targets: targets)
        for (name, value) in try view.split(adversarial) { result[name] = value }
        return result
    }

    /// A clear error, naming the modality and its span, when its clean values leave the range the attack
    /// would keep them in (``ValidRange/firstViolation(in:size:)``).
    static func check(_ input: Tensor, modality: String, low: Double, high: Double, attack: Attack) throws {
        let values = input.toDoubles()
        guard ValidRange(low: low, high: high).firstViolation(in: values, size: max(values.count, 1)) != nil else {
            return
        }
        let smallest = values.min() ?? .nan
        let largest = values.max() ?? .nan
        throw TensorError(
            "attack",
            "modality '\(modality)' spans [\(smallest), \(largest)], outside the valid range [\(low), \(high)] of \(attack.label); give it its own range, e.g. {\(modality) = {clamp_min = -math.huge, clamp_max = math.huge}}"
        )
    }
}

/// A multimodal classifier as a function of `[N, D₁ + D₂ + ...]`: the attacked modalities' values, each
/// times its scale, flattened and concatenated per sample (one attacked modality keeps its shape), the other
/// modalities held.
final class JointModalityView: Module {
    let model: MultimodalClassifier
    let attacked: [(name: String, shape: [Int], size: Int, scale: Double)]
    let held: [String: Tensor]
    let flattened: Tensor

    init(model: MultimodalClassifier, attacked names: [String], inputs: [String: Tensor], scales: [Double]? = nil)
        throws
    {
        let tensors = names.compactMap { inputs[$0] }
        guard tensors.count == names.count, let count = tensors.first?.shape.first,
            tensors.allSatisfy({ $0.rank >= 2 && $0.shape[0] == count && $0.dtype.isFloatingPoint })
        else {
            throw TensorError(
                "attack",
                "the attacked modalities \(names.joined(separator: ", ")) must be floating-point batches with the same number of samples, got \(tensors.map { "\($0.dtype) \(describe(shape: $0.shape))" }.joined(separator: ", "))"
            )
        }
        let scales = scales ?? Array(repeating: 1, count: names.count)
        guard scales.count == names.count, scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw TensorError("attack", "one positive scale per attacked modality, got \(scales)")
        }
        let dtype = tensors[0].dtype
        self.model = model
        attacked = names.indices.map {
            (names[$0], Array(tensors[$0].shape.dropFirst()), tensors[$0].count / max(count, 1), scales[$0])
        }
        held = inputs.filter { !names.contains($0.key) }.mapValues { $0.detach() }
        let scaled = try zip(tensors, scales).map { tensor, scale in
            try (scale == 1 ? tensor.detach() : tensor.detach() * scale).to(dtype)
        }
        flattened =
            scaled.count == 1
            ? scaled[0]
            : try Tensor.concatenate(scaled.map { try $0.reshaped([count, $0.count / max(count, 1)]) }, axis: 1)
        super.init()
        for (name, child) in model.children { registerModule(name, child) }
    }

    private init(
        model: MultimodalClassifier, attacked: [(name: String, shape: [Int], size: Int, scale: Double)],
        held: [String: Tensor], flattened: Tensor
    ) {
        self.model = model
        self.attacked = attacked
        self.held = held
        self.flattened = flattened
        super.init()
        for (name, child) in model.children { registerModule(name, child) }
    }

    /// Each attacked modality's part of `values` (shaped like ``flattened``) in its own shape and units.
    func split(_ values: Tensor) throws -> [(String, Tensor)] {
        let rows = values.shape[0]
        var offset = 0
        return try attacked.map { modality in
            defer { offset += modality.size }
            let part =
                attacked.count == 1 ? values : try values.sliced(axis: 1, start: offset, end: offset + modality.size)
            let shaped = try part.reshaped([rows] + modality.shape)
            return (modality.name, modality.scale == 1 ? shaped : try shaped / modality.scale)
        }
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        guard input.shape.count == flattened.shape.count,
            Array(input.shape.dropFirst()) == Array(flattened.shape.dropFirst()),
            input.shape[0] == flattened.shape[0]
        else {
            throw TensorError(
                "attack",
                "an attack on \(attacked.map(\.name).joined(separator: ", ")) must query \(describe(shape: flattened.shape)), got \(describe(shape: input.shape))"
            )
        }
        var inputs = held
        for (name, value) in try split(input) { inputs[name] = value }
        return try model.forward(modalities: inputs)
    }

    override func restricted(toRows rows: [Int]) throws -> Module {
        JointModalityView(
            model: model, attacked: attacked, held: try held.mapValues { try $0.indexSelect(axis: 0, indices: rows) },
            flattened: try flattened.indexSelect(axis: 0, indices: rows))
    }
}
