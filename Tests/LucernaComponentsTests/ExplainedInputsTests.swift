import LucernaComponents
import LucernaCore
import LucernaNN
import XCTest

/// Reveal-to-Revise steps on a multimodal classifier: the explained modality's layer is read with each
/// sample's own other modalities held, whatever the batch size; a single tensor is the model's own input.
final class ExplainedInputsTests: XCTestCase {
    let registry = Registry.standard()

    func modalities(count: Int = 7) throws -> [String: Tensor] {
        let generator = RandomGenerator(seed: 17)
        return [
            "image": try Tensor.uniform([count, 1, 8, 8], generator: generator),
            "audio": try Tensor.normal([count, 1, 6, 8], generator: generator),
        ]
    }

    /// Cross-modal attention, so that the class score's derivative at an image layer depends on the recording.
    func attending(seed: UInt64) throws -> MultimodalClassifier {
        try smallMultimodalClassifier(
            seed: seed, registry: registry,
            fusion: .table(["type": .string("cross_attention"), "dim": .number(4), "heads": .number(2)]))
    }

    func testTCAVOfOneModalityKeepsEachSamplesOwnRecording() throws {
        let model = try attending(seed: 23)
        let given = try modalities()
        let inputs = try ExplainedInputs(modalities: given, explained: "image", owner: "test")
        let cav = ConceptActivationVector(vector: [0.6, -0.8, 0.2], pooling: .max, conceptMean: 1, otherMean: 0)
        func derivatives(_ inputs: ExplainedInputs, batch: Int) throws -> [Double] {
            try ConceptSensitivity.measure(
                model: model, layer: "encoders.image.relu1", cav: cav, inputs: inputs, classIndex: 1, batchSize: batch
            ).derivatives
        }
        // One sample at a time: each sample's derivative from its own image and recording alone.
        var alone: [Double] = []
        for sample in 0..<7 {
            let one = try given.mapValues { try $0.sliced(axis: 0, start: sample, end: sample + 1) }
            alone += try derivatives(ExplainedInputs(modalities: one, explained: "image", owner: "test"), batch: 1)
        }
        for batch in [1, 3, 256] {
            let batched = try derivatives(inputs, batch: batch)
            XCTAssertEqual(batched.count, 7)
            for (value, expected) in zip(batched, alone) { XCTAssertEqual(value, expected, accuracy: 1e-7) }
        }
        // The recording matters: the same images with the recordings in another order give other derivatives
        // (about 15 % of the derivatives' size, where batching changes nothing).
        let order = [3, 4, 5, 6, 0, 1, 2]
        var swapped = given
        swapped["audio"] = try given["audio"]!.indexSelect(axis: 0, indices: order)
        let moved = try derivatives(ExplainedInputs(modalities: swapped, explained: "image", owner: "test"), batch: 3)
        XCTAssertGreaterThan(zip(moved, alone).map { abs($0 - $1) }.max() ?? 0, 1e-5)
        // Selecting rows keeps a sample's modalities together.
        let picked = try derivatives(inputs.selected([5, 2]), batch: 1)
        XCTAssertEqual(picked[0], alone[5], accuracy: 1e-5)
        XCTAssertEqual(picked[1], alone[2], accuracy: 1e-5)
    }

    func testConceptHeatmapsThroughTheViewMatchTheWholeBatch() throws {
        let model = try attending(seed: 29)
        let inputs = try ExplainedInputs(modalities: modalities(), explained: "image", owner: "test")
        let saliency = try registry.build(.explainer, "saliency", options: ["absolute": .boolean(false)])
        let cav = ConceptActivationVector(vector: [1, 0.5, -0.3], pooling: .max, conceptMean: 1, otherMean: 0)
        func heatmaps(batch: Int) throws -> [Double] {
            try Tensor.concatenate(
                inputs.batches(of: batch, model: model, owner: "test") { view, slice in
                    try ArtifactLocalization.conceptHeatmaps(
                        explainer: saliency, model: view, layer: "encoders.image.relu1", cav: cav, inputs: slice)
                }, axis: 0
            ).toDoubles()
        }
        let whole = try heatmaps(batch: 7)
        XCTAssertEqual(whole.count, 7 * 64)
        XCTAssertGreaterThan(whole.map(abs).max() ?? 0, 0)
        for (value, expected) in zip(try heatmaps(batch: 2), whole) { XCTAssertEqual(value, expected, accuracy: 1e-6) }
    }

    func testModalitiesAreChecked() throws {
        let model = try smallMultimodalClassifier(seed: 23, registry: registry)
        var given = try modalities()
        XCTAssertThrowsError(try ExplainedInputs(modalities: given, explained: "text", owner: "test"))
        given["audio"] = try given["audio"]!.sliced(axis: 0, start: 0, end: 3)
        XCTAssertThrowsError(try ExplainedInputs(modalities: given, explained: "image", owner: "test"))
        // A single tensor is the model's own input; by modality, only a multimodal classifier takes it.
        let image = try Tensor.uniform([2, 1, 8, 8], generator: RandomGenerator(seed: 1))
        XCTAssert(try ExplainedInputs(image).view(of: model, owner: "test") === model)
        let single = try ExplainedInputs(
            modalities: ["image": image], explained: "image", owner: "test")
        XCTAssertThrowsError(try single.view(of: Sequential(named: [("relu", ReLU())]), owner: "test"))
    }
}
