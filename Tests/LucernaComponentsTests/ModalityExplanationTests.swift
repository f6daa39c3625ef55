import LucernaComponents
import LucernaCore
import LucernaNN
import XCTest

/// Per-modality maps of a multimodal classifier: each explainer sees the classifier as a function of one
/// modality with the others held; batched explainers tile the held modalities consistently; relevance
/// shares sum to one.
final class ModalityExplanationTests: XCTestCase {
    let registry = Registry.standard()

    func model() throws -> MultimodalClassifier { try smallMultimodalClassifier(seed: 21, registry: registry) }

    func inputs() throws -> [String: Tensor] {
        let generator = RandomGenerator(seed: 5)
        return [
            "image": try Tensor.uniform([4, 1, 8, 8], generator: generator),
            "audio": try Tensor.normal([4, 1, 6, 8], generator: generator),
        ]
    }

    func explainer(_ name: String, _ options: [String: ConfigValue] = [:]) throws -> Explainer {
        try registry.build(.explainer, name, options: options)
    }

    func testSaliencyPerModalityIsTheJointGradient() throws {
        let model = try model()
        let batch = try inputs()
        let targets = try Tensor(shape: [4], integers: [0, 1, 2, 1])
        let maps = try ModalityView.explain(
            explainer("saliency", ["absolute": .boolean(false)]), model: model, inputs: batch, targets: targets)
        let image = try batch["image"]!.detach().requiringGrad()
        let audio = try batch["audio"]!.detach().requiringGrad()
        let logits = try model.forward(modalities: ["image": image, "audio": audio])
        let score = try logits.gathering(axis: 1, indices: Tensor(shape: [4, 1], integers: [0, 1, 2, 1])).sum()
        let gradients = try Tensor.gradients(of: [score], withRespectTo: [image, audio])
        XCTAssertEqual(try XCTUnwrap(maps["image"]).toDoubles(), try XCTUnwrap(gradients[0]).toDoubles())
        XCTAssertEqual(try XCTUnwrap(maps["audio"]).toDoubles(), try XCTUnwrap(gradients[1]).toDoubles())
    }

    func testBatchedExplainersTileTheHeldModalities() throws {
        let model = try model()
        let batch = try inputs()
        // Occlusion with one window position per pass and with many must agree.
        let single = try ModalityView.explain(
            explainer(
                "occlusion",
                [
                    "window": .list([.number(1), .number(2), .number(2)]),
                    "strides": .list([.number(1), .number(2), .number(2)]), "batch_size": .number(1),
                ]),
            model: model, inputs: batch, targets: nil)
        let many = try ModalityView.explain(
            explainer(
                "occlusion",
                [
                    "window": .list([.number(1), .number(2), .number(2)]),
                    "strides": .list([.number(1), .number(2), .number(2)]), "batch_size": .number(64),
                ]),
            model: model, inputs: batch, targets: nil)
        for name in ["image", "audio"] {
            for (a, b) in zip(try XCTUnwrap(single[name]).toDoubles(), try XCTUnwrap(many[name]).toDoubles()) {
                XCTAssertEqual(a, b, accuracy: 1e-6, name)
            }
        }
        // Integrated Gradients with every path point in one pass and with one per pass must agree.
        let together = try ModalityView.explain(
            explainer("integrated_gradients", ["steps": .number(8), "batch_steps": .number(8)]), model: model,
            inputs: batch, targets: nil)
        let apart = try ModalityView.explain(
            explainer("integrated_gradients", ["steps": .number(8), "batch_steps": .number(1)]), model: model,
            inputs: batch, targets: nil)
        for name in ["image", "audio"] {
            for (a, b) in zip(try XCTUnwrap(together[name]).toDoubles(), try XCTUnwrap(apart[name]).toDoubles()) {
                XCTAssertEqual(a, b, accuracy: 1e-5, name)
            }
        }
        // CAM on a named encoder layer works through the view; Score-CAM with one channel per pass and with
        // all of them agrees.
        let cam = try ModalityView.explain(
            explainer("grad_cam_pp", ["layer": .string("encoders.image.relu2")]), model: model,
            inputs: ["image": batch["image"]!, "audio": batch["audio"]!], targets: nil)
        XCTAssertEqual(cam["image"]?.shape, [4, 8, 8])
        XCTAssertNil(cam["audio"], "a layer of the image encoder explains the image only")
        let imageOnly = ["image": batch["image"]!, "audio": batch["audio"]!]
        let oneChannel = try ModalityView.explain(
            explainer("score_cam", ["layer": .string("encoders.image.relu2"), "batch_size": .number(1)]), model: model,
            inputs: imageOnly, targets: nil)
        let allChannels = try ModalityView.explain(
            explainer("score_cam", ["layer": .string("encoders.image.relu2"), "batch_size": .number(64)]), model: model,
            inputs: imageOnly, targets: nil)
        for (a, b) in zip(
            try XCTUnwrap(oneChannel["image"]).toDoubles(), try XCTUnwrap(allChannels["image"]).toDoubles())
        { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testLRPSharesSumToOne() throws {
        let model = try model()
        let batch = try inputs()
        let maps = try ModalityView.explain(explainer("lrp"), model: model, inputs: batch, targets: nil)
        XCTAssertEqual(maps["image"]?.shape, [4, 1, 8, 8])
        let shares = try ModalityView.shares(maps)
        let image = try XCTUnwrap(shares["image"]).toDoubles()
        let audio = try XCTUnwrap(shares["audio"]).toDoubles()
        for (a, b) in zip(image, audio) {
            XCTAssertEqual(a + b, 1, accuracy: 1e-6)
            XCTAssert(a > 0 && b > 0)
        }
        let known = try ModalityView.shares([
            "a": Tensor(shape: [2, 2], doubles: [1, -1, 0, 0]), "b": Tensor(shape: [2, 1], doubles: [2, 0]),
        ])
        XCTAssertEqual(known["a"]?.toDoubles(), [0.5, 0])
        XCTAssertEqual(known["b"]?.toDoubles(), [0.5, 0])
    }
}

/// CAM maps over time for 1-D temporal layers `[N, C, l]`: `[N, frames]`, the 2-D pipeline with a height of one.
final class TemporalCAMTests: XCTestCase {
    func testGradCAMOnATemporalLayerGivesATimeProfile() throws {
        RandomGenerator.shared.reseed(8)
        let encoder = try TemporalConvEncoder(mels: 6, channels: [4, 4], kernelSize: 3, dimension: 5)
        let model = Sequential(named: [("encoder", encoder), ("head", try Linear(5, 3))])
        let inputs = try Tensor.normal([2, 1, 6, 10])
        let explainer = try Registry.standard().build(
            .explainer, "grad_cam", options: ["layer": .string("encoder.relu2")])
        let maps = try explainer.attribute(model: model, inputs: inputs, targets: Tensor(shape: [2], integers: [1, 2]))
        XCTAssertEqual(maps.shape, [2, 10])
        // The same steps by hand: channel weights = mean gradient, relu, normalise, resize over time, normalise.
        var captured: Tensor?
        let layer = try XCTUnwrap(model.module(named: "encoder.relu2"))
        let hook = layer.addForwardHook { _, _, output in captured = output }
        let logits = try model(inputs)
        layer.removeForwardHook(hook)
        let activations = try XCTUnwrap(captured)
        let score = try logits.gathering(axis: 1, indices: Tensor(shape: [2, 1], integers: [1, 2])).sum()
        let gradient = try XCTUnwrap(try Tensor.gradients(of: [score], withRespectTo: [activations]).first ?? nil)
        let (a, g) = (activations.toDoubles(), gradient.toDoubles())
        let length = activations.shape[2]
        var raw = [Double](repeating: 0, count: 2 * length)
        for n in 0..<2 {
            for c in 0..<4 {
                let base = (n * 4 + c) * length
                let weight = (0..<length).reduce(0) { $0 + g[base + $1] } / Double(length)
                for p in 0..<length { raw[n * length + p] += weight * a[base + p] }
            }
        }
        func normalize(_ values: [Double], size: Int) -> [Double] {
            (0..<values.count / size).flatMap { n -> [Double] in
                let slice = values[n * size..<(n + 1) * size].map { max($0, 0) }
                let low = slice.min() ?? 0
                let shifted = slice.map { $0 - low }
                let high = shifted.max() ?? 0
                return shifted.map { $0 / (1e-7 + high) }
            }
        }
        let resized = try Tensor(shape: [2, 1, 1, length], doubles: normalize(raw, size: length)).upsample(
            size: (1, 10), mode: .bilinear
        ).toDoubles()
        let expected = normalize(resized, size: 10)
        for (value, reference) in zip(maps.toDoubles(), expected) { XCTAssertEqual(value, reference, accuracy: 1e-5) }
        // Score-CAM's masks cover every mel band of the frames they keep.
        let score2 = try Registry.standard().build(
            .explainer, "score_cam", options: ["layer": .string("encoder.relu2")])
        let scoreMaps = try score2.attribute(model: model, inputs: inputs, targets: nil)
        XCTAssertEqual(scoreMaps.shape, [2, 10])
        XCTAssert(scoreMaps.toDoubles().allSatisfy(\.isFinite))
    }
}
