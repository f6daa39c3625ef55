import LucernaCore

/// Top-k accuracy: the fraction of samples whose target is among the k highest scores (predictions
/// `[N, C]`), or equals the predicted label (predictions `[N]` of class indices). Micro-averaged over
/// every sample seen since `reset`, as torchmetrics' `MulticlassAccuracy(average="micro")`.
public final class Accuracy: Metric {
    public static let options = [
        OptionSpec("top_k", .integer, default: .number(1), "count a hit when the target is among the k best")
    ]
    public let topK: Int
    private(set) var correct = 0, total = 0

    public init(config: Config) throws {
        topK = try config.positiveInteger("top_k")
    }

    public func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        let labels = targets.toIntegers()
        guard targets.rank == 1, predictions.shape.first == labels.count else {
            throw TensorError(
                "metrics.accuracy",
                "predictions \(describe(shape: predictions.shape)) and targets \(describe(shape: targets.shape)) must share the batch axis, targets [N]"
            )
        }
        switch predictions.rank {
        case 1:
            guard topK == 1 else {
                throw TensorError("metrics.accuracy", "top_k > 1 needs scores [N, C], got labels [N]")
            }
            correct += zip(predictions.toIntegers(), labels).filter { $0 == $1 }.count
        case 2:
            let classes = predictions.shape[1]
            guard topK <= classes else {
                throw TensorError("metrics.accuracy", "top_k \(topK) exceeds \(classes) classes")
            }
            let scores = predictions.toDoubles()
            for (sample, label) in labels.enumerated() {
                guard label >= 0, label < classes else {
                    throw TensorError(
                        "metrics.accuracy", "target \(label) of sample \(sample + 1) is outside 0..<\(classes)")
                }
                let row = scores[(sample * classes)..<((sample + 1) * classes)]
                let score = row[row.startIndex + label]
                // Rank = classes scoring strictly higher, plus equal ones before the label (first-index ties).
                let higher = row.enumerated().filter {
                    $0.element > score || ($0.element == score && $0.offset < label)
                }.count
                if higher < topK && !score.isNaN { correct += 1 }
            }
        default:
            throw TensorError(
                "metrics.accuracy",
                "predictions must be scores [N, C] or labels [N], got \(describe(shape: predictions.shape))")
        }
        total += labels.count
    }

    public func compute() throws -> Double {
        guard total > 0 else { throw TensorError("metrics.accuracy", "no samples seen (call update first)") }
        return Double(correct) / Double(total)
    }

    public func reset() { (correct, total) = (0, 0) }
}

extension Accuracy: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "accuracy", "top-k accuracy over all samples seen",
            reference: "torchmetrics `MulticlassAccuracy`, https://lightning.ai/docs/torchmetrics",
            options: Accuracy.options, build: Accuracy.init)
    ]
}
