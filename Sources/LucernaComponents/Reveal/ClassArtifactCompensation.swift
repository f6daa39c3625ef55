import LucernaCore
import LucernaNN

/// Class artifact compensation (ClArC) as a model transform at inference: a layer's activations x are moved
/// along the concept direction v to a target projection z, x' = x + λ · v (z − vᵀx̂), with x̂ the features
/// the CAV was fitted on (x pooled per channel, or x itself for a flat CAV) and the move applied at every
/// position. P-ClArC (`projective`) removes the concept: z is the mean projection of the samples without it;
/// A-ClArC (`additive`) adds it to every sample: z is the concept samples' mean projection. The layer's
/// output is replaced while the transform is installed (a PyTorch forward hook that returns a value).
/// `reactive` (R-ClArC) moves only the samples whose projection vᵀx̂ lies nearer the concept's mean than the
/// others' (the CAV detects the artifact there) and leaves the rest as they are.
///
/// Reference: Anders et al., "Finding and removing Clever Hans: Using explanation methods to debug and
/// improve deep models", Information Fusion 2022; Pahde et al., "Reveal to Revise", MICCAI 2023
/// (maxdreyer/Reveal2Revise `PClarc`, `AClarc`); Bareeva et al., "Reactive Model Correction: Mitigating Harm
/// to Task-Relevant Features via Conditional Bias Suppression", 2024 (arXiv 2404.09601).
public struct ClassArtifactCompensation {
    public enum Mode: String, CaseIterable, Sendable { case projective, additive }

    public let cav: ConceptActivationVector
    public let mode: Mode
    /// λ (R2R's A-ClArC `lamb`; 1 projects exactly).
    public let strength: Double
    /// Move only the samples the CAV detects the concept in (projection nearer the concept's mean than the
    /// others').
    public let reactive: Bool

    public init(cav: ConceptActivationVector, mode: Mode, strength: Double = 1, reactive: Bool = false) {
        self.cav = cav
        self.mode = mode
        self.strength = strength
        self.reactive = reactive
    }

    /// The per-sample move λ (z − length), zero where `reactive` finds no concept.
    func move(_ length: Tensor) throws -> Tensor {
        let move = try (length * -1 + target) * strength
        guard reactive else { return move }
        // 1 where the projection lies on the concept mean's side of the midpoint, 0 elsewhere (an indicator:
        // no gradient); the concept's mean need not be the larger one.
        let side: Double = cav.conceptMean >= cav.otherMean ? 1 : -1
        let gate = try ((length - (cav.conceptMean + cav.otherMean) / 2) * side).sign().relu().detach()
        return try move * gate
    }

    /// z: the projection the activations are moved to.
    public var target: Double { mode == .projective ? cav.otherMean : cav.conceptMean }

    /// The corrected activations (differentiable in x).
    public func apply(_ activations: Tensor) throws -> Tensor {
        let count = activations.shape.first ?? 0
        let dtype = activations.dtype
        let direction = try Tensor(shape: [cav.vector.count], doubles: cav.vector).to(dtype)
        let perSample = activations.count / max(count, 1)
        if activations.rank >= 3, cav.pooling != .flat, cav.vector.count == activations.shape[1] {
            let channels = activations.shape[1]
            let grouped = try activations.reshaped([count, channels, -1])
            let pooled = cav.pooling == .max ? try grouped.max(axis: 2) : try grouped.mean(axes: [2])
            let length = try (pooled * direction.reshaped([1, channels])).sum(axes: [1])
            let move = try self.move(length).reshaped([count, 1, 1])
            return try (grouped + move * direction.reshaped([1, channels, 1])).reshaped(activations.shape)
        }
        guard cav.vector.count == perSample else {
            throw TensorError(
                "clarc",
                "the CAV has \(cav.vector.count) entries; the layer outputs \(describe(shape: activations.shape))")
        }
        let rows = try activations.reshaped([count, perSample])
        let length = try (rows * direction.reshaped([1, perSample])).sum(axes: [1])
        let move = try self.move(length).reshaped([count, 1])
        return try (rows + move * direction.reshaped([1, perSample])).reshaped(activations.shape)
    }

    /// Installs the correction on `layer`'s output; remove it with `layer.removeOutputTransform(_:)`.
    @discardableResult
    public func install(on layer: Module) -> Int {
        layer.addOutputTransform { _, _, output in try apply(output) }
    }
}

/// Testing with CAVs: how a class's score reacts to the concept direction at a layer. For each sample the
/// directional derivative S = ∇_a f_class · v (per position for a channel CAV, then averaged over
/// positions); the TCAV score is the share of samples with S > 0 among those with S ≠ 0, the sensitivity the
/// mean |S|. After a successful correction the score drifts to chance (0.5) or the sensitivity to 0.
///
/// Reference: Kim et al., "Interpretability Beyond Feature Attribution: Quantitative Testing with Concept
/// Activation Vectors (TCAV)", ICML 2018; Dreyer, Pahde et al., AAAI 2024 (frederikpahde/rrclarc
/// `measure_tcav.py`, the mean TCAV quotient).
public enum ConceptSensitivity {
    public struct Result: Sendable {
        public let score: Double
        public let sensitivity: Double
        public let derivatives: [Double]
    }

    /// `inputs`: a single-input model's (`ExplainedInputs(x)`) or a multimodal classifier's by modality, the
    /// layer then in the explained modality's encoder.
    public static func measure(
        model: Module, layer layerName: String, cav: ConceptActivationVector, inputs: ExplainedInputs,
        classIndex: Int, batchSize: Int = 256
    ) throws -> Result {
        let layer = try ArtifactLocalization.layer(layerName, in: model, owner: "tcav")
        guard inputs.count > 0 else { throw TensorError("tcav", "no inputs") }
        var derivatives: [Double] = []
        try model.evaluating {
            _ = try inputs.batches(of: batchSize, model: model, owner: "tcav") { view, batch in
                let (logits, activations) = try view.forward(
                    batch, capturing: layer, owner: "tcav", layerName: layerName)
                guard logits.rank == 2, (0..<logits.shape[1]).contains(classIndex) else {
                    throw TensorError(
                        "tcav", "class \(classIndex) is not a column of logits \(describe(shape: logits.shape))")
                }
                let score = try logits.sliced(axis: 1, start: classIndex, end: classIndex + 1).sum()
                guard let gradient = try Tensor.gradients(of: [score], withRespectTo: [activations]).first ?? nil else {
                    throw TensorError("tcav", "the class score does not depend on layer \(layerName)")
                }
                let rows = gradient.shape[0]
                let values = gradient.toDoubles()
                let perSample = values.count / rows
                let channels = gradient.rank >= 3 ? gradient.shape[1] : perSample
                for sample in 0..<rows {
                    let base = sample * perSample
                    if cav.pooling != .flat, gradient.rank >= 3, cav.vector.count == channels {
                        let positions = perSample / channels
                        var total = 0.0
                        for channel in 0..<channels {
                            var sum = 0.0
                            for position in 0..<positions { sum += values[base + channel * positions + position] }
                            total += sum * cav.vector[channel]
                        }
                        derivatives.append(total / Double(positions))
                    } else if cav.vector.count == perSample {
                        derivatives.append((0..<perSample).reduce(0) { $0 + values[base + $1] * cav.vector[$1] })
                    } else {
                        throw TensorError(
                            "tcav",
                            "the CAV has \(cav.vector.count) entries; layer \(layerName) outputs \(describe(shape: gradient.shape))"
                        )
                    }
                }
            }
        }
        let positive = derivatives.filter { $0 > 0 }.count
        let negative = derivatives.filter { $0 < 0 }.count
        return Result(
            score: positive + negative > 0 ? Double(positive) / Double(positive + negative) : 0.5,
            sensitivity: derivatives.reduce(0) { $0 + abs($1) } / Double(derivatives.count),
            derivatives: derivatives)
    }
}
