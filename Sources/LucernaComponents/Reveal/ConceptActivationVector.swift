import LucernaCore

/// A concept activation vector (CAV): the direction in a layer's activations that separates samples with a
/// concept (an artifact) from samples without, unit length, as Reveal-to-Revise localises an artifact.
/// Activations `[N, C, h, w]` are pooled per channel first (`pooling = "max"` over positions, R2R's
/// `cavs_max`; `"mean"`), or kept whole (`"flat"`, one entry per activation); `[N, D]` are used as they are.
/// The direction is a linear SVM's weights (no intercept, class-balanced; ``LinearSupportVectorMachine``)
/// or the "signal"/pattern CAV cov(X, y) / var(y) (Haufe et al.'s pattern, which points along the
/// concept's signal rather than a filter that also cancels noise). Also kept: the mean projection vᵀx of
/// the concept samples and of the others, the targets of A- and P-ClArC.
///
/// Reference: Kim et al., "Interpretability Beyond Feature Attribution: Quantitative Testing with Concept
/// Activation Vectors (TCAV)", ICML 2018; Pahde et al., "Navigating Neural Space: Revisiting Concept
/// Activation Vectors to Overcome Directional Divergence", 2024 (signal CAV); Pahde et al., "Reveal to
/// Revise", MICCAI 2023 (maxdreyer/Reveal2Revise `get_cav`).
public struct ConceptActivationVector: Sendable {
    public enum Method: String, CaseIterable, Sendable { case svm, signal }
    public enum Pooling: String, CaseIterable, Sendable { case max, mean, flat }

    /// The unit direction: one entry per channel, or per activation for `flat`.
    public let vector: [Double]
    public let pooling: Pooling
    /// The mean of vᵀx over the concept samples and over the others.
    public let conceptMean: Double, otherMean: Double

    public init(vector: [Double], pooling: Pooling, conceptMean: Double, otherMean: Double) {
        self.vector = vector
        self.pooling = pooling
        self.conceptMean = conceptMean
        self.otherMean = otherMean
    }

    /// The feature rows a CAV sees: `[N, C, h, w]` pooled per channel (or flattened), `[N, D]` as given.
    public static func features(_ activations: Tensor, pooling: Pooling, owner: String = "cav") throws -> (
        rows: [Double], count: Int, width: Int
    ) {
        guard activations.dtype.isFloatingPoint, activations.rank >= 2, activations.count > 0 else {
            throw TensorError(
                owner,
                "activations must be a non-empty floating-point [N, D] or [N, C, h, w] tensor, got \(activations.dtype) \(describe(shape: activations.shape))"
            )
        }
        let count = activations.shape[0]
        let values = activations.toDoubles()
        guard values.allSatisfy(\.isFinite) else { throw TensorError(owner, "the activations contain NaN or infinity") }
        if activations.rank == 2 || pooling == .flat {
            return (values, count, values.count / count)
        }
        let channels = activations.shape[1]
        let positions = activations.count / (count * channels)
        var rows = [Double](repeating: 0, count: count * channels)
        for row in 0..<(count * channels) {
            let slice = values[(row * positions)..<((row + 1) * positions)]
            rows[row] = pooling == .max ? slice.max() ?? 0 : slice.reduce(0, +) / Double(positions)
        }
        return (rows, count, channels)
    }

    /// Fits the direction on feature rows labelled true (concept) or false.
    public static func fit(
        rows: [Double], count: Int, width: Int, labels: [Bool], method: Method, pooling: Pooling,
        machine: LinearSupportVectorMachine = LinearSupportVectorMachine()
    ) throws -> ConceptActivationVector {
        let concept = labels.filter { $0 }.count
        guard labels.count == count, concept > 0, concept < count else {
            throw TensorError(
                "cav",
                "needs concept and other samples among \(count) rows; got \(concept) concept samples and \(labels.count) labels"
            )
        }
        var direction: [Double]
        switch method {
        case .svm:
            direction = try machine.fit(rows: rows, count: count, width: width, labels: labels)
        case .signal:
            // cov(x_d, y) / var(y) with y 1 for the concept, 0 otherwise (the n − 1 factors cancel).
            let targets = labels.map { $0 ? 1.0 : 0.0 }
            let targetMean = Double(concept) / Double(count)
            let variance = targets.reduce(0) { $0 + ($1 - targetMean) * ($1 - targetMean) }
            direction = [Double](repeating: 0, count: width)
            var means = [Double](repeating: 0, count: width)
            for sample in 0..<count {
                for feature in 0..<width { means[feature] += rows[sample * width + feature] }
            }
            for feature in 0..<width { means[feature] /= Double(count) }
            for sample in 0..<count {
                let residual = targets[sample] - targetMean
                for feature in 0..<width {
                    direction[feature] += (rows[sample * width + feature] - means[feature]) * residual
                }
            }
            for feature in 0..<width { direction[feature] /= variance }
        }
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0, norm.isFinite else {
            throw TensorError(
                "cav", "the \(method.rawValue) direction is zero: the features do not separate the concept")
        }
        direction = direction.map { $0 / norm }
        var sums = (concept: 0.0, other: 0.0)
        for sample in 0..<count {
            var projection = 0.0
            for feature in 0..<width { projection += direction[feature] * rows[sample * width + feature] }
            if labels[sample] { sums.concept += projection } else { sums.other += projection }
        }
        return ConceptActivationVector(
            vector: direction, pooling: pooling, conceptMean: sums.concept / Double(concept),
            otherMean: sums.other / Double(count - concept))
    }

    /// The samples a CAV is fitted on, as R2R picks them: at most `maximum` concept samples and
    /// `multiple` times as many others (all there are if fewer), drawn without replacement, in index order.
    public static func select(labels: [Bool], maximum: Int, multiple: Double, seed: UInt64) -> [Int] {
        let generator = RandomGenerator(seed: seed)
        func draw(_ pool: [Int], _ wanted: Int) -> [Int] {
            guard wanted < pool.count else { return pool }
            return generator.permutation(pool.count).prefix(wanted).map { pool[$0] }
        }
        let concept = draw(labels.indices.filter { labels[$0] }, max(maximum, 1))
        let others = draw(labels.indices.filter { !labels[$0] }, Int((Double(concept.count) * multiple).rounded()))
        return (concept + others).sorted()
    }

    /// vᵀx per sample for activations pooled as the CAV was.
    public func projections(_ activations: Tensor) throws -> [Double] {
        let (rows, count, width) = try Self.features(activations, pooling: pooling)
        guard width == vector.count else {
            throw TensorError(
                "cav", "the activations give \(width) features per sample; the CAV has \(vector.count)")
        }
        return (0..<count).map { sample in
            (0..<width).reduce(0) { $0 + vector[$1] * rows[sample * width + $1] }
        }
    }
}
