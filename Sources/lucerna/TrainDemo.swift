import ArgumentParser
import Foundation
import LucernaCore
import LucernaData
import LucernaNN
import LucernaTrain

/// Trains the benchmark CNN on Fashion-MNIST: the main job until Lua recipes land.
struct TrainDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-demo",
        abstract: "Train the benchmark CNN on Fashion-MNIST (AdamW + cosine annealing, stratified validation split).")

    @OptionGroup var common: CommonOptions
    @Option(help: "Epochs.") var epochs = 5
    @Option(help: "Mini-batch size.") var batchSize = 64
    @Option(help: "Peak learning rate.") var learningRate = 1e-3
    @Option(help: "AdamW weight decay.") var weightDecay = 1e-2
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Fraction of the training set held out for validation (stratified).") var validation = 0.1
    @Option(help: "Use only this many training images (for quick runs).") var limit: Int?
    @Option(help: "Write the trained model's state dict here (safetensors, loadable by PyTorch).") var checkpoint:
        String?

    func run() throws {
        try common.apply()
        do { try train() } catch let error as ValidationError { throw error } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8) ?? Data())
            throw ExitCode(1)
        }
    }

    func train() throws {
        guard epochs > 0, batchSize > 0, validation >= 0, validation < 1 else {
            throw ValidationError("epochs and batch size must be positive, validation in [0, 1)")
        }
        let clock = Date()
        let trainSet = try DataLocation.fashionMNIST(split: "train", explicit: common.data)
        let testSet = try DataLocation.fashionMNIST(split: "t10k", explicit: common.data)
        emit(
            String(
                format: "Fashion-MNIST: %d train, %d test images, loaded in %.2f s; %d threads",
                trainSet.count, testSet.count, Date().timeIntervalSince(clock), Parallel.threadCount))
        let generator = RandomGenerator(seed: seed)
        RandomGenerator.shared.reseed(seed)
        var labels = trainSet.labels.toIntegers()
        if let limit { labels = Array(labels.prefix(max(limit, 1))) }
        let split = ClassifierTraining.stratifiedSplit(
            labels: labels, validationFraction: validation, generator: generator)
        let model = try CNN(generator: generator)
        let optimizer = try AdamW(parameters: model.parameters(), learningRate: learningRate, weightDecay: weightDecay)
        let schedule = try LearningRateSchedule(.cosine(maximumSteps: epochs, minimumRate: 0), optimizer: optimizer)
        emit(
            "CNN with \(model.parameterCount) parameters; \(split.train.count) training, \(split.validation.count) validation images"
        )
        for epoch in 1...epochs {
            let progress = Progress("epoch \(epoch)/\(epochs)", total: split.train.count)
            let loss = try ClassifierTraining.trainEpoch(
                model: model, data: trainSet, indices: split.train,
                batchSize: batchSize, optimizer: optimizer,
                generator: generator, progress: progress)
            progress.finish()
            let trainingSeconds = progress.elapsed
            let validationAccuracy =
                split.validation.isEmpty
                ? Double.nan
                : try ClassifierTraining.accuracy(model: model, data: trainSet, indices: split.validation)
            let testAccuracy = try ClassifierTraining.accuracy(model: model, data: testSet)
            emit(
                String(
                    format:
                        "epoch %d/%d  lr %.2e  loss %.4f  val_acc %.4f  test_acc %.4f  (train %.1f s, %.0f samples/s)",
                    epoch, epochs, schedule.currentRate, loss, validationAccuracy, testAccuracy, trainingSeconds,
                    Double(split.train.count) / trainingSeconds))
            try schedule.step()
        }
        if let checkpoint {
            try Safetensors.write(model.stateDict(), to: checkpoint, metadata: ["model": "cnn", "seed": "\(seed)"])
            emit("wrote \(checkpoint)")
        }
        emit(String(format: "total time %.1f s", Date().timeIntervalSince(clock)))
    }
}
