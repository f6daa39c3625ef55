import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTrain
import XCTest

/// What training hands regularizers: every field the batch carries, differentiable inputs and captured
/// layers when asked, the step, and an error at the start when the data lacks a field a penalty needs.
final class RegularizerContextTests: XCTestCase {
    /// Records the contexts it sees; needs what it is told to.
    final class Recorder: Regularizer {
        let needs: RegularizerRequirements
        var contexts: [RegularizerContext] = []
        var scale = 1.0
        init(_ needs: RegularizerRequirements) { self.needs = needs }
        func requirements(model: RegularizedModel?) throws -> RegularizerRequirements { needs }
        func lossScale(step: Int) -> Double { scale }
        func penalty(_ context: RegularizerContext) throws -> Tensor {
            contexts.append(context)
            return try (context.logits ?? Tensor.zeros([1])).sum() * 0
        }
    }

    /// XOR blobs with groups, environments and a mask over the two features.
    func data(_ count: Int, masks: Bool = true) throws -> TensorDataset {
        let blobs = try xorBlobs(count, seed: 3, spread: 0.7)
        var tensors = blobs.tensors
        tensors.append(("groups", try Tensor(shape: [count], integers: (0..<count).map { $0 % 2 })))
        tensors.append(("environments", try Tensor(shape: [count], integers: (0..<count).map { $0 % 3 })))
        if masks { tensors.append(("artifact_masks", try Tensor.ones([count, 2]))) }
        return TensorDataset(name: "blobs", tensors: tensors)
    }

    func trainer(_ recorder: Recorder, epochs: Int = 1) throws -> (Trainer, MLP) {
        RandomGenerator.shared.reseed(5)
        let model = try MLP(inputFeatures: 2, hidden: (8, 8), classes: 2, generator: RandomGenerator.shared)
        let optimizer = try AdamW(parameters: model.parameters(), learningRate: 1e-2)
        var options = Trainer.Options()
        options.epochs = epochs
        options.batchSize = 16
        options.inputKey = "features"
        options.verbose = false
        let trainer = try Trainer(
            model: TrainableModel(module: model, inputKey: "features"), optimizer: optimizer, schedule: nil,
            loss: { logits, batch in try Losses.crossEntropy(logits, batch["labels"]!) },
            regularizers: [("recorder", 1, recorder)], metrics: [], options: options)
        trainer.print = { _ in }
        return (trainer, model)
    }

    func testTrainingFillsEveryFieldTheBatchCarries() throws {
        let probe = RegularizedModel(module: try MLP(inputFeatures: 2, hidden: (8, 8), classes: 2), inputKey: "x")
        let layer = try XCTUnwrap(probe.layers.first?.name)
        let recorder = Recorder(
            RegularizerRequirements(
                fields: ["groups", "environments", "artifact_masks", "modalities"], inputGradients: true,
                layers: [layer]))
        let (trainer, _) = try trainer(recorder)
        _ = try trainer.fit(train: try data(48), validation: nil)
        XCTAssertEqual(recorder.contexts.count, 3)
        for (step, context) in recorder.contexts.enumerated() {
            XCTAssertEqual(context.step, step)
            let inputs = try XCTUnwrap(context.inputs)
            XCTAssertTrue(inputs.isLeaf && inputs.requiresGrad, "input-gradient penalties get a differentiable leaf")
            XCTAssertEqual(context.groups?.shape, [16])
            XCTAssertEqual(context.environments?.shape, [16])
            XCTAssertEqual(context.batch["artifact_masks"]?.shape, [16, 2])
            XCTAssertEqual(
                Set(context.modalities.keys), ["features"], "targets, groups, environments, masks are not inputs")
            XCTAssertNotNil(context.activations[layer], "the named layer's output is captured in the same forward pass")
            XCTAssertNotNil(context.model)
            XCTAssertEqual(context.inputKey, "features")
            // The captured activation is the one the logits came from: the input gradient reaches through it.
            let (_, gradient) = try context.inputGradient("test") { try $0.sum() }
            XCTAssertEqual(gradient.shape, [16, 2])
        }
    }

    func testAPenaltyNeedingAFieldTheDataLacksStopsTrainingBeforeTheFirstStep() throws {
        for (field, message) in [
            ("artifact_masks", "regularizer recorder needs 'artifact_masks'"),
            ("groups", "regularizer recorder needs groups (the 'unknown_groups' tensor)"),
        ] {
            let recorder = Recorder(RegularizerRequirements(fields: [field]))
            let (trainer, _) = try trainer(recorder)
            var data = try data(32, masks: false)
            if field == "groups" {
                data = TensorDataset(name: "blobs", tensors: data.tensors.filter { $0.name != "groups" })
            }
            var options = trainer.options
            options.groupKey = "unknown_groups"
            let strict = try Trainer(
                model: trainer.model, optimizer: trainer.optimizer, schedule: nil, loss: trainer.loss,
                regularizers: trainer.regularizers, metrics: [], options: options)
            strict.print = { _ in }
            XCTAssertThrowsError(try strict.fit(train: data, validation: nil)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
                XCTAssertTrue("\(error)".contains("it has environments, features"), "\(error)")
            }
            XCTAssertTrue(recorder.contexts.isEmpty, "no step ran")
        }
    }

    func testALossScaleMultipliesTheWholeLoss() throws {
        var losses: [Double] = []
        for scale in [1.0, 0.25] {
            let recorder = Recorder(RegularizerRequirements())
            recorder.scale = scale
            let (trainer, _) = try trainer(recorder)
            var first: Double?
            trainer.onStepEnd = { info in first = first ?? info.loss }
            _ = try trainer.fit(train: try data(48), validation: nil)
            losses.append(try XCTUnwrap(first))
        }
        XCTAssertEqual(losses[1], losses[0] * 0.25, accuracy: 1e-6, "the first step's loss, before any update")
    }
}
