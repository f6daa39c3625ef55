import Foundation
import LucernaComponents
import LucernaCore

/// Evaluates a model on a data set: the mean loss (when a loss is given) and each metric's value and
/// `report()`, in evaluation mode and without recording, in batches. The model's modules get their modes
/// back afterwards (PyTorch's `model.eval()` ... `model.train(was_training)`).
public enum Evaluation {
    public static func run(
        model: TrainableModel, data: TensorDataset, metrics: [(name: String, metric: Metric)],
        loss: ((Tensor, Batch) throws -> Tensor)?, targetKey: String, groupKey: String,
        batchSize: Int, label: String = "eval", reports: Bool = false
    ) throws
        -> (values: [String: Double], reports: [String: [String: ConfigValue]])
    {
        guard batchSize > 0 else { throw TensorError("evaluate", "batch size must be positive, got \(batchSize)") }
        guard data.count > 0 else { throw TensorError("evaluate", "the data set \(data.name) is empty") }
        guard data.tensor(targetKey) != nil else {
            throw TensorError(
                "evaluate",
                "\(data.name) has no '\(targetKey)' tensor; it has \(data.tensors.map(\.name).joined(separator: ", "))")
        }
        for (_, metric) in metrics { metric.reset() }
        let progress = Progress(label, total: data.count)
        defer { progress.finish() }
        var totalLoss = 0.0
        var seen = 0
        try model.evaluating {
            try noGrad {
                for start in stride(from: 0, to: data.count, by: batchSize) {
                    let indices = Array(start..<min(start + batchSize, data.count))
                    let batch = try select(indices, from: data)
                    let logits = try model.forward(batch)
                    if let loss { totalLoss += try loss(logits, batch).item() * Double(indices.count) }
                    seen += indices.count
                    if let targets = batch[targetKey] {
                        for (_, metric) in metrics {
                            try metric.update(predictions: logits, targets: targets, groups: batch[groupKey])
                        }
                    }
                    progress.update(seen)
                }
            }
        }
        var values: [String: Double] = [:]
        if loss != nil { values["loss"] = totalLoss / Double(max(seen, 1)) }
        var details: [String: [String: ConfigValue]] = [:]
        for (name, metric) in metrics {
            values[name] = try metric.compute()
            if reports { details[name] = try metric.report() }
        }
        return (values, details)
    }

    /// The rows `indices` of every tensor of `data`.
    public static func select(_ indices: [Int], from data: TensorDataset) throws -> Batch {
        var batch = Batch()
        for (name, tensor) in data.tensors { batch[name] = try tensor.indexSelect(axis: 0, indices: indices) }
        return batch
    }
}
