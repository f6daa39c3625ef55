import LucernaCore
import LucernaNN

/// PGD in embedding space for token models: a perturbation of each real token's embedding (padding tokens,
/// id `padding`, stay untouched) inside a per-token L2 ball of radius ε (or an L∞ ball), found by `steps`
/// projected steps of size α on the cross-entropy (normalised gradients for L2, signs for L∞), from zero or
/// a random point of the ball. The threat model is the continuous one of embedding-space adversarial
/// training: robust accuracy (`evaluate{attacks = ...}`) and adversarial training use the logits of the
/// perturbed embeddings (`adversarialLogits`). `perturb` returns tokens: each perturbed embedding's nearest
/// row of the table (Euclidean, never the padding id), the discrete text closest to the attack.
public final class EmbeddingPGD: TokenAttack {
    static let options = [
        OptionSpec(
            "eps", .number, default: .number(1),
            "radius of each token's ball (the embeddings are N(0, 1) at initialisation)"),
        OptionSpec("alpha", .number, default: .number(0.25), "step size"),
        OptionSpec("steps", .integer, default: .number(10), "iterations"),
        OptionSpec("norm", .string, default: .string("l2"), "l2 (per token) or linf"),
        OptionSpec(
            "random_start", .boolean, default: .boolean(false), "start from a uniform random point of each token's ball"
        ),
        OptionSpec("layer", .string, "the embedding module to perturb (default: the model's first Embedding)"),
        OptionSpec("padding", .integer, default: .number(0), "the padding id, never perturbed"),
        OptionSpec("targeted", .boolean, default: .boolean(false), "the labels given are targets to reach"),
    ]
    public let eps: Double, alpha: Double, steps: Int, norm: GradientSignAttack.Norm, randomStart: Bool
    public let layer: String?, padding: Int, targeted: Bool

    init(config: Config) throws {
        eps = try config.number("eps")
        alpha = try config.number("alpha")
        steps = try config.positiveInteger("steps")
        guard let norm = GradientSignAttack.Norm(rawValue: try config.choice("norm", ["l2", "linf"])) else {
            throw config.error("norm must be l2 or linf")
        }
        self.norm = norm
        randomStart = try config.boolean("random_start")
        layer = config.has("layer") ? try config.string("layer") : nil
        padding = try config.integer("padding")
        targeted = try config.boolean("targeted")
        guard eps >= 0, alpha >= 0 else { throw config.error("eps and alpha must be non-negative") }
    }

    public var label: String {
        "embedding_pgd \(norm == .l2 ? "L2 per token" : "Linf") eps=\(eps) alpha=\(alpha) steps=\(steps) random_start=\(randomStart)\(targeted ? " targeted" : "")"
    }

    /// The perturbation `[N, T, D]` of the embeddings of `tokens` (zero at padding), the table it is for and
    /// the token ids.
    func perturbation(model: Module, tokens: Tensor, targets: Tensor) throws -> (
        delta: Tensor, embeddings: TokenEmbeddings, ids: [Int]
    ) {
        let embeddings = try TokenEmbeddings(model: model, layer: layer, attack: "embedding_pgd")
        let ids = try embeddings.check(tokens, attack: "embedding_pgd")
        guard targets.rank == 1, targets.count == tokens.shape[0] else {
            throw TensorError("attacks.embedding_pgd", "\(targets.count) labels for \(tokens.shape[0]) inputs")
        }
        let (count, length, dimension) = (tokens.shape[0], tokens.shape[1], embeddings.module.weight.shape[1])
        let dtype = embeddings.module.weight.dtype
        let mask = try Tensor(shape: [count, length, 1], values: ids.map { $0 == padding ? 0.0 : 1.0 }, dtype: dtype)
        let delta = try model.evaluating { () throws -> Tensor in
            var delta = try Tensor.zeros([count, length, dimension], dtype: dtype)
            if randomStart && eps > 0 {
                let start = try Tensor.uniform([count, length, dimension], low: -1, high: 1, dtype: dtype)
                delta = try project(norm == .linf ? start * eps : start * (eps / Double(dimension).squareRoot())) * mask
            }
            for _ in 0..<steps {
                let leaf = try delta.detach().requiringGrad()
                let loss = try embeddings.adding(leaf, attack: "embedding_pgd") {
                    try Losses.crossEntropy(model(tokens), targets)
                }
                guard
                    let gradient = try Tensor.gradients(of: [targeted ? loss.negated() : loss], withRespectTo: [leaf])
                        .first ?? nil
                else {
                    throw TensorError(
                        "attacks.embedding_pgd", "the loss does not depend on the embeddings of \(embeddings.name)")
                }
                delta = try noGrad {
                    let direction =
                        norm == .linf
                        ? try gradient.sign()
                        : try gradient / (gradient.square().sum(axes: [2], keepingDimensions: true).sqrt() + 1e-12)
                    return try project(delta + direction * alpha) * mask
                }
            }
            return delta.detach()
        }
        return (delta, embeddings, ids)
    }

    /// Onto each token's ball.
    func project(_ delta: Tensor) throws -> Tensor {
        if norm == .linf { return try delta.clamp(min: -eps, max: eps) }
        let lengths = try delta.square().sum(axes: [2], keepingDimensions: true).sqrt()
        return try delta * (lengths.clamp(min: eps) + 1e-12).reciprocal() * eps
    }

    public func perturb(model: Module, inputs tokens: Tensor, targets: Tensor) throws -> Tensor {
        let (delta, embeddings, ids) = try perturbation(model: model, tokens: tokens, targets: targets)
        let dimension = delta.shape[2]
        let moved = try (embeddings.module.weight.detach().embedding(tokens) + delta).reshaped([ids.count, dimension])
        var result = try embeddings.nearest(moved, excluding: [padding])
        // Padding stays; a table with no other row (nearest gives -1) leaves the token as it was.
        for (index, id) in ids.enumerated() where id == padding || result[index] < 0 { result[index] = id }
        return try Tensor(shape: tokens.shape, integers: result)
    }

    public func adversarialLogits(model: Module, inputs tokens: Tensor, targets: Tensor) throws -> Tensor {
        let (delta, embeddings, _) = try perturbation(model: model, tokens: tokens, targets: targets)
        return try embeddings.adding(delta, attack: "embedding_pgd") { try model(tokens) }
    }
}

extension EmbeddingPGD: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .attack, "embedding_pgd",
            "PGD on the embeddings of a token model's real tokens (per-token L2 or L∞ ball); perturb returns the nearest tokens",
            reference:
                "Miyato, Dai & Goodfellow, \"Adversarial Training Methods for Semi-Supervised Text Classification\", ICLR 2017 (perturbations of word embeddings); Zhu et al., \"FreeLB\", ICLR 2020 (projected gradient steps in embedding space); Madry et al., ICLR 2018 (PGD)",
            options: EmbeddingPGD.options, build: EmbeddingPGD.init)
    ]
}
