import Foundation
import LucernaCore
import LucernaNN

/// Cross-modal attention (MulT-style): each modality's token sequence `[N, Lᵢ, dᵢ]` (a pooled `[N, dᵢ]` is a
/// sequence of one) is projected to `dim`, scaled by √dim and given sinusoidal positions; then for every
/// ordered pair (target t, source s ≠ t) `layers` pre-norm blocks let t attend to s —
/// x ← x + MHA(LN(x), LN(s), LN(s)); x ← x + FFN(LN(x)) with FFN = Linear(dim, 4·dim) → ReLU → Linear —
/// a final layer norm, and mean pooling over t's positions. The output concatenates the m(m−1) pooled
/// vectors (in the order t = 1…m, s = 1…m, s ≠ t): `[N, m(m−1)·dim]`. The attention weights of each pair's
/// last block (averaged over heads, `[N, L_t, L_s]`) are kept from the latest forward for inspection.
public final class CrossModalAttentionFusion: ModalityFusion {
    public static let options =
        commonOptions + [
            OptionSpec("dim", .integer, default: .number(32), "model width of the cross-modal blocks"),
            OptionSpec("heads", .integer, default: .number(4), "attention heads (dim must be a multiple)"),
            OptionSpec("layers", .integer, default: .number(1), "cross-modal blocks per modality pair"),
            OptionSpec("dropout", .number, default: .number(0), "attention dropout"),
        ]

    /// One pre-norm cross-attention block.
    final class Block: Module {
        let attention: MultiheadAttention
        let targetNorm: LayerNorm, sourceNorm: LayerNorm, feedForwardNorm: LayerNorm
        let expand: Linear, contract: Linear

        init(dimension: Int, heads: Int, dropout: Double, dtype: DType) throws {
            attention = try MultiheadAttention(embedDimension: dimension, heads: heads, dropout: dropout, dtype: dtype)
            targetNorm = try LayerNorm([dimension], dtype: dtype)
            sourceNorm = try LayerNorm([dimension], dtype: dtype)
            feedForwardNorm = try LayerNorm([dimension], dtype: dtype)
            expand = try Linear(dimension, 4 * dimension, dtype: dtype)
            contract = try Linear(4 * dimension, dimension, dtype: dtype)
            super.init()
            registerModule("attention", attention)
            registerModule("target_norm", targetNorm)
            registerModule("source_norm", sourceNorm)
            registerModule("feed_forward_norm", feedForwardNorm)
            registerModule("expand", expand)
            registerModule("contract", contract)
        }

        func callAsFunction(target: Tensor, source: Tensor) throws -> (Tensor, Tensor) {
            let normalizedSource = try sourceNorm(source)
            let (attended, weights) = try attention.attendWithWeights(
                query: targetNorm(target), key: normalizedSource, value: normalizedSource)
            let mixed = try target + attended
            return (try mixed + contract(expand(feedForwardNorm(mixed)).relu()), weights)
        }
    }

    public let dimension: Int
    private(set) var projections: [Linear] = []
    /// Per ordered pair (target, source), its blocks and final norm.
    private(set) var pairs: [(target: Int, source: Int, blocks: [Block], norm: LayerNorm)] = []
    /// The latest forward's attention weights per pair `(target, source)`, `[N, L_t, L_s]`.
    public private(set) var attentionWeights: [(target: Int, source: Int, weights: Tensor)] = []

    public init(config: Config) throws {
        dimension = try config.positiveInteger("dim")
        let heads = try config.positiveInteger("heads")
        let layers = try config.positiveInteger("layers")
        let dropout = try config.number("dropout")
        guard dimension % heads == 0 else {
            throw config.error("dim \(dimension) must be a multiple of heads \(heads)")
        }
        try super.init(config: config, acceptsSequences: true, minimumModalities: 2)
        projections = try registerProjections(to: dimension)
        let container = registerModule("pairs", Module())
        for target in inputDimensions.indices {
            for source in inputDimensions.indices where source != target {
                let pair = container.registerModule("\(target + 1)_from_\(source + 1)", Module())
                let blocks = try (0..<layers).map { index in
                    pair.registerModule(
                        "\(index)", try Block(dimension: dimension, heads: heads, dropout: dropout, dtype: dtype))
                }
                let norm = pair.registerModule("norm", try LayerNorm([dimension], dtype: dtype))
                pairs.append((target, source, blocks, norm))
            }
        }
    }

    /// Sinusoidal positions by (length, dtype), computed once.
    private var positionCache: [String: Tensor] = [:]

    /// Sinusoidal positions [L, dim] (Vaswani et al.), as MulT adds them.
    func positions(_ length: Int, dtype: DType) throws -> Tensor {
        let key = "\(length) \(dtype)"
        if let cached = positionCache[key] { return cached }
        var values = [Double](repeating: 0, count: length * dimension)
        for position in 0..<length {
            for index in 0..<(dimension / 2) {
                let angle = Double(position) / pow(10000, Double(2 * index) / Double(dimension))
                values[position * dimension + 2 * index] = sin(angle)
                values[position * dimension + 2 * index + 1] = cos(angle)
            }
        }
        let table = try Tensor(shape: [length, dimension], values: values, dtype: dtype)
        positionCache[key] = table
        return table
    }

    public override func combine(_ inputs: [Tensor]) throws -> Tensor {
        let sequences = try zip(inputs, projections).map { input, projection -> Tensor in
            let sequence = input.rank == 2 ? try input.unsqueezed(axis: 1) : input
            return try projection(sequence) * Double(dimension).squareRoot()
                + positions(sequence.shape[1], dtype: sequence.dtype)
        }
        var pooled: [Tensor] = []
        var weights: [(Int, Int, Tensor)] = []
        for (target, source, blocks, norm) in pairs {
            var state = sequences[target]
            var last: Tensor?
            for block in blocks { (state, last) = try block(target: state, source: sequences[source]) }
            if let last { weights.append((target, source, last.detach())) }
            pooled.append(try norm(state).mean(axes: [1]))
        }
        attentionWeights = weights
        return try Tensor.concatenate(pooled, axis: 1)
    }

    public override var summary: String { super.summary + ", dim=\(dimension), pairs=\(pairs.count)" }
}

extension CrossModalAttentionFusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .fusion, "cross_attention", "MulT-style cross-modal attention between modality token sequences",
            reference:
                "Tsai, Bai, Liang, Kolter, Morency & Salakhutdinov, \"Multimodal Transformer for Unaligned Multimodal Language Sequences\", ACL 2019",
            options: CrossModalAttentionFusion.options, build: CrossModalAttentionFusion.init)
    ]
}
