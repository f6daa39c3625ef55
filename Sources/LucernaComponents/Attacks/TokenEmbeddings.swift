import LucernaCore
import LucernaNN

/// The embedding table of a token model, found for the text attacks: the `Embedding` module named `layer`
/// (its full dotted name or its last parts), else the first one in the model.
struct TokenEmbeddings {
    let module: Embedding
    let name: String

    init(model: Module, layer: String?, attack: String) throws {
        let embeddings = model.namedModules().compactMap { entry in
            (entry.module as? Embedding).map { (entry.name, $0) }
        }
        let found =
            layer.map { layer in embeddings.first { $0.0 == layer || $0.0.hasSuffix("." + layer) } } ?? embeddings.first
        guard let (name, module) = found else {
            let names = embeddings.map(\.0)
            throw TensorError(
                "attacks.\(attack)",
                layer.map {
                    "the model has no embedding layer '\($0)'\(suggestion(for: $0, in: names)); it has \(names.isEmpty ? "none" : names.joined(separator: ", "))"
                }
                    ?? "the model has no Embedding layer to attack (token models: embedding_bag_encoder, text_cnn_encoder, transformer_encoder)"
            )
        }
        self.module = module
        self.name = name
    }

    /// Token ids `[N, T]` (int64) checked against the table.
    func check(_ tokens: Tensor, attack: String) throws -> [Int] {
        guard tokens.rank == 2, tokens.dtype == .int64 else {
            throw TensorError(
                "attacks.\(attack)",
                "expected token ids [N, T] (int64), got \(tokens.dtype) \(describe(shape: tokens.shape))")
        }
        let ids = tokens.toIntegers()
        let vocabulary = module.weight.shape[0]
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw TensorError(
                "attacks.\(attack)", "token id \(bad) is outside the embedding table of \(vocabulary) rows (\(name))")
        }
        return ids
    }

    /// Runs `body` with `delta` (`[N, T, D]`) added to the table's output.
    func adding<T>(_ delta: Tensor, attack: String, _ body: () throws -> T) throws -> T {
        let identifier = module.addOutputTransform { _, _, output in
            guard output.shape == delta.shape else {
                throw TensorError(
                    "attacks.\(attack)",
                    "the embedding \(self.name) gave \(describe(shape: output.shape)), the perturbation is \(describe(shape: delta.shape)) (is the table used twice per pass?)"
                )
            }
            return try output + delta
        }
        defer { module.removeOutputTransform(identifier) }
        return try body()
    }

    /// For each row of `points` (`[M, D]`), the nearest row of the table by Euclidean distance among the
    /// ids not in `excluded`, in chunks of rows.
    func nearest(_ points: Tensor, excluding excluded: Set<Int>) throws -> [Int] {
        let table = try module.weight.detach().to(.float64)
        let vocabulary = table.shape[0]
        let squaredNorms = try table.square().sum(axes: [1]).toDoubles()
        let allowed = (0..<vocabulary).map { !excluded.contains($0) }
        let all = try points.detach().to(.float64)
        var result: [Int] = []
        let rows = points.shape[0]
        let chunk = 256
        for start in stride(from: 0, to: rows, by: chunk) {
            let part = try all.sliced(axis: 0, start: start, end: min(start + chunk, rows))
            // ‖p − w‖² = ‖p‖² − 2 p·w + ‖w‖²: the first term is the same for every w.
            let products = try part.matmul(table, transposingSelf: false, transposingOther: true).toDoubles()
            for row in 0..<part.shape[0] {
                var best = -1
                var bestValue = Double.infinity
                for id in 0..<vocabulary where allowed[id] {
                    let value = squaredNorms[id] - 2 * products[row * vocabulary + id]
                    if value < bestValue { (best, bestValue) = (id, value) }
                }
                result.append(best)
            }
        }
        return result
    }

    /// The `count` ids whose rows have the highest cosine similarity to the row of each id, best first
    /// (ties by id), among the ids not in `excluded` (nor the id itself).
    func neighbours(of ids: [Int], count: Int, excluding excluded: Set<Int>) throws -> [Int: [Int]] {
        let table = try module.weight.detach().to(.float64)
        let vocabulary = table.shape[0]
        let norms = try table.square().sum(axes: [1]).toDoubles().map { $0.squareRoot() }
        let allowed = (0..<vocabulary).map { !excluded.contains($0) }
        var result: [Int: [Int]] = [:]
        let unique = Array(Set(ids)).sorted()
        let chunk = 256
        for start in stride(from: 0, to: unique.count, by: chunk) {
            let part = Array(unique[start..<min(start + chunk, unique.count)])
            let products = try table.indexSelect(axis: 0, indices: part).matmul(
                table, transposingSelf: false, transposingOther: true
            ).toDoubles()
            for (row, id) in part.enumerated() {
                var best: [(id: Int, score: Double)] = []
                for other in 0..<vocabulary where other != id && allowed[other] {
                    let score = products[row * vocabulary + other] / max(norms[id] * norms[other], 1e-12)
                    guard best.count < count || score > best[best.count - 1].score else { continue }
                    let position = best.firstIndex { score > $0.score } ?? best.count
                    best.insert((other, score), at: position)
                    if best.count > count { best.removeLast() }
                }
                result[id] = best.map(\.id)
            }
        }
        return result
    }
}
