import Foundation
import LucernaCore
import LucernaData
import LucernaNN

/// Mini-batch helpers and a plain supervised training epoch for classifiers.
public enum ClassifierTraining {
    /// Splits `0..<labels.count` into (train, validation), stratified by label (``DataSplits/stratified``).
    public static func stratifiedSplit(
        labels: [Int], validationFraction: Double,
        generator: RandomGenerator
    ) -> (train: [Int], validation: [Int]) {
        let split = DataSplits.stratified(keys: labels, fraction: validationFraction, generator: generator)
        return (split.kept, split.heldOut)
    }

    /// Batches of `indices` (``DataSplits/batches``).
    public static func batches(
        _ indices: [Int], size: Int, shuffle: Bool, dropLast: Bool = false,
        generator: RandomGenerator
    ) -> [[Int]] {
        DataSplits.batches(indices, size: size, shuffle: shuffle, dropLast: dropLast, generator: generator)
    }

    /// Trains one epoch with cross-entropy; returns the mean loss. Throws on a non-finite loss, naming the step.
    public static func trainEpoch(
        model: Module, data: ImageClassificationSet, indices: [Int], batchSize: Int,
        optimizer: Optimizer, generator: RandomGenerator, progress: Progress? = nil
    ) throws -> Double {
        model.train()
        var totalLoss = 0.0
        var seen = 0
        for (step, batch) in batches(indices, size: batchSize, shuffle: true, generator: generator).enumerated() {
            try Interruption.check("train")
            let inputs = try data.images.indexSelect(axis: 0, indices: batch)
            let targets = try data.labels.indexSelect(axis: 0, indices: batch)
            optimizer.zeroGrad()
            let loss = try Losses.crossEntropy(model(inputs), targets)
            let value = try loss.item()
            guard value.isFinite else {
                throw TensorError("train", "loss became \(value) at step \(step) (batch of \(batch.count))")
            }
            try loss.backward()
            try optimizer.step()
            totalLoss += value * Double(batch.count)
            seen += batch.count
            progress?.update(seen, note: String(format: "loss %.4f", totalLoss / Double(seen)))
        }
        return totalLoss / Double(max(seen, 1))
    }

    /// Accuracy of `model` (in evaluation mode, without recording) on `indices` (all when nil).
    public static func accuracy(
        model: Module, data: ImageClassificationSet, indices: [Int]? = nil,
        batchSize: Int = 1000
    ) throws -> Double {
        try model.evaluating { try countCorrect(model: model, data: data, indices: indices, batchSize: batchSize) }
    }

    private static func countCorrect(model: Module, data: ImageClassificationSet, indices: [Int]?, batchSize: Int)
        throws -> Double
    {
        let selected = indices ?? Array(0..<data.count)
        let labels = data.labels.toIntegers()
        var correct = 0
        try noGrad {
            for batch in batches(selected, size: batchSize, shuffle: false, generator: RandomGenerator(seed: 0)) {
                let predictions = try model(data.images.indexSelect(axis: 0, indices: batch)).argmax(axis: 1)
                    .toIntegers()
                for (position, index) in batch.enumerated() where predictions[position] == labels[index] {
                    correct += 1
                }
            }
        }
        return Double(correct) / Double(max(selected.count, 1))
    }
}
