import LucernaCore
import LucernaNN

/// Greedy word substitution under a token budget (TextFooler's search): the real tokens of each input
/// ranked by importance — how much deleting the token (replacing it by padding) lowers the probability of
/// the true class — then, in that order, each token replaced by the candidate that lowers that probability
/// most (kept only when it lowers it), until the prediction changes or `budget` tokens are substituted.
/// Candidates: the `candidates` nearest tokens of the model's embedding table by cosine similarity, or a
/// `synonyms` table `[V, K]` of candidate ids per token id (negative ids and padding ignored) — with the
/// model's own embeddings, substitutes are near in the model's space, not necessarily synonyms; give
/// counter-fitted synonym lists for meaning-preserving attacks. Padding and `unknown` are never
/// candidates; inputs already misclassified (targeted: already at their target) are left alone.
public final class WordSubstitution: TokenAttack {
    static let options = [
        OptionSpec("budget", .integer, default: .number(5), "most tokens substituted per input"),
        OptionSpec("candidates", .integer, default: .number(10), "nearest embedding neighbours tried per token"),
        OptionSpec(
            "synonyms", .tensor,
            "[V, K] candidate ids per token id (int64; negative = none) instead of embedding neighbours"),
        OptionSpec(
            "layer", .string,
            "the embedding module whose table gives the neighbours (default: the model's first Embedding)"),
        OptionSpec("padding", .integer, default: .number(0), "the padding id (a deleted token)"),
        OptionSpec("unknown", .integer, default: .number(1), "the unknown-token id, never a candidate"),
        OptionSpec("targeted", .boolean, default: .boolean(false), "the labels given are targets to reach"),
        OptionSpec("batch_size", .integer, default: .number(512), "variants per model query"),
    ]
    public let budget: Int, candidateCount: Int, padding: Int, unknown: Int, targeted: Bool, batchSize: Int
    public let layer: String?
    let synonyms: [Int: [Int]]?

    init(config: Config) throws {
        budget = try config.positiveInteger("budget")
        candidateCount = try config.positiveInteger("candidates")
        padding = try config.integer("padding")
        unknown = try config.integer("unknown")
        targeted = try config.boolean("targeted")
        batchSize = try config.positiveInteger("batch_size")
        layer = config.has("layer") ? try config.string("layer") : nil
        if config.has("synonyms") {
            let table = try config.tensor("synonyms")
            guard table.rank == 2, !table.dtype.isFloatingPoint else {
                throw config.error(
                    "synonyms must be an int64 tensor [V, K], got \(table.dtype) \(describe(shape: table.shape))")
            }
            let (rows, width) = (table.shape[0], table.shape[1])
            let values = table.toIntegers()
            let (padding, unknown) = (padding, unknown)
            var map: [Int: [Int]] = [:]
            for id in 0..<rows {
                map[id] = (0..<width).map { values[id * width + $0] }.filter {
                    $0 >= 0 && $0 != padding && $0 != unknown && $0 != id
                }
            }
            synonyms = map
        } else {
            synonyms = nil
        }
    }

    public var label: String {
        "word_substitution budget=\(budget) \(synonyms == nil ? "candidates=\(candidateCount) (embedding neighbours)" : "synonym table")\(targeted ? " targeted" : "")"
    }

    public func perturb(model: Module, inputs tokens: Tensor, targets: Tensor) throws -> Tensor {
        let embeddings = try TokenEmbeddings(model: model, layer: layer, attack: "word_substitution")
        let ids = try embeddings.check(tokens, attack: "word_substitution")
        guard targets.rank == 1, targets.count == tokens.shape[0] else {
            throw TensorError("attacks.word_substitution", "\(targets.count) labels for \(tokens.shape[0]) inputs")
        }
        if let synonyms, let largest = synonyms.values.flatMap({ $0 }).max(),
            largest >= embeddings.module.weight.shape[0]
        {
            throw TensorError(
                "attacks.word_substitution",
                "synonym id \(largest) is outside the vocabulary of \(embeddings.module.weight.shape[0])")
        }
        let (count, length) = (tokens.shape[0], tokens.shape[1])
        let labels = targets.toIntegers()
        return try model.evaluating {
            try noGrad {
                /// Class probabilities of token rows, each standing for sample `samples[i]`.
                func probabilities(_ rows: [[Int]], samples: [Int]) throws -> [[Double]] {
                    var result: [[Double]] = []
                    for start in stride(from: 0, to: rows.count, by: batchSize) {
                        let end = min(start + batchSize, rows.count)
                        let batch = try Tensor(
                            shape: [end - start, length], integers: rows[start..<end].flatMap { $0 })
                        let output = try model.restricted(toRows: Array(samples[start..<end]))(batch).softmax(axis: 1)
                        let classes = output.shape[1]
                        let values = try output.to(.float64).toDoubles()
                        result += (0..<(end - start)).map { Array(values[$0 * classes..<($0 + 1) * classes]) }
                    }
                    return result
                }
                /// What the attack lowers: the label's probability (targeted: minus the target's).
                func score(_ p: [Double], _ sample: Int) -> Double { targeted ? -p[labels[sample]] : p[labels[sample]] }
                func succeeded(_ p: [Double], _ sample: Int) -> Bool {
                    let predicted = p.indices.max { p[$0] < p[$1] } ?? 0
                    return targeted ? predicted == labels[sample] : predicted != labels[sample]
                }
                var current = (0..<count).map { Array(ids[$0 * length..<($0 + 1) * length]) }
                let base = try probabilities(current, samples: Array(0..<count))
                var currentScore = (0..<count).map { score(base[$0], $0) }
                var active = (0..<count).filter { !succeeded(base[$0], $0) }
                // 1. Importance by deletion.
                var variants: [[Int]] = []
                var owners: [Int] = []
                var positions: [Int] = []
                for sample in active {
                    for position in 0..<length where current[sample][position] != padding {
                        var deleted = current[sample]
                        deleted[position] = padding
                        variants.append(deleted)
                        owners.append(sample)
                        positions.append(position)
                    }
                }
                let deletions = try probabilities(variants, samples: owners)
                var order: [Int: [Int]] = [:]
                var importance: [Int: [(position: Int, drop: Double)]] = [:]
                for (index, sample) in owners.enumerated() {
                    importance[sample, default: []].append(
                        (positions[index], currentScore[sample] - score(deletions[index], sample)))
                }
                for (sample, drops) in importance {
                    order[sample] = drops.sorted {
                        $0.drop > $1.drop || ($0.drop == $1.drop && $0.position < $1.position)
                    }.map(\.position)
                }
                // 2. Candidates per token id.
                let neighbours =
                    try synonyms
                    ?? embeddings.neighbours(
                        of: ids.filter { $0 != padding }, count: candidateCount,
                        excluding: [padding, unknown])
                // 3. Greedy substitution, one position per active input per round.
                var substituted = [Int](repeating: 0, count: count)
                var next = [Int](repeating: 0, count: count)
                while !active.isEmpty {
                    var variants: [[Int]] = []
                    var owners: [Int] = []
                    var candidates: [Int: Range<Int>] = [:]  // each sample's variants
                    for sample in active {
                        let ranked = order[sample] ?? []
                        guard next[sample] < ranked.count else { continue }
                        let position = ranked[next[sample]]
                        next[sample] += 1
                        let options = neighbours[current[sample][position]] ?? []
                        let first = variants.count
                        for candidate in options {
                            var changed = current[sample]
                            changed[position] = candidate
                            variants.append(changed)
                            owners.append(sample)
                        }
                        candidates[sample] = first..<variants.count
                    }
                    let results = try probabilities(variants, samples: owners)
                    var still: [Int] = []
                    for sample in active {
                        guard let range = candidates[sample] else { continue }
                        if let best = range.min(by: { score(results[$0], sample) < score(results[$1], sample) }),
                            score(results[best], sample) < currentScore[sample]
                        {
                            current[sample] = variants[best]
                            currentScore[sample] = score(results[best], sample)
                            substituted[sample] += 1
                            if succeeded(results[best], sample) { continue }
                        }
                        if substituted[sample] < budget && next[sample] < (order[sample]?.count ?? 0) {
                            still.append(sample)
                        }
                    }
                    active = still
                }
                return try Tensor(shape: tokens.shape, integers: current.flatMap { $0 })
            }
        }
    }
}

extension WordSubstitution: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .attack, "word_substitution",
            "greedy token substitution by deletion importance under a token budget (TextFooler's search)",
            reference:
                "Jin, Jin, Zhou & Szolovits, \"Is BERT Really Robust? A Strong Baseline for Natural Language Attack on Text Classification and Entailment\", AAAI 2020 (TextFooler); Alzantot et al., EMNLP 2018",
            options: WordSubstitution.options, build: WordSubstitution.init)
    ]
}
