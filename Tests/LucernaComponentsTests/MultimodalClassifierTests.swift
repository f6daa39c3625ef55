import LucernaComponents
import LucernaCore
import LucernaNN
import XCTest

/// The multimodal classifier built from options: fusions get their input sizes from the encoders, token
/// fusions get tokens, late fusion gets per-modality heads, one encoder is the unimodal baseline, and a
/// missing modality uses the fusion's placeholder.
final class MultimodalClassifierTests: XCTestCase {
    let registry = Registry.standard()

    func classifier(_ options: [String: ConfigValue]) throws -> MultimodalClassifier {
        try XCTUnwrap(try registry.build(.model, "multimodal_classifier", options: options) as? MultimodalClassifier)
    }

    let encoders: ConfigValue = .table([
        "image": .table([
            "type": .string("conv_encoder"), "channels": .list([.number(4), .number(8)]), "dim": .number(16),
        ]),
        "audio": .table([
            "type": .string("temporal_encoder"), "channels": .list([.number(8), .number(8)]), "dim": .number(8),
        ]),
    ])

    func inputs() throws -> [String: Tensor] {
        ["image": try Tensor.normal([3, 1, 28, 28]), "audio": try Tensor.normal([3, 1, 40, 32])]
    }

    func testEveryFusionBuildsFromTheEncodersAndClassifies() throws {
        let batch = try inputs()
        for fusion in [
            "concat", "sum", "mean", "product", "film", "tensor", "low_rank_tensor", "late", "cross_attention",
        ] {
            var spec: [String: ConfigValue] = ["type": .string(fusion)]
            if fusion == "cross_attention" {
                spec["dim"] = .number(8)
                spec["heads"] = .number(2)
            }
            if ["sum", "mean", "product", "low_rank_tensor"].contains(fusion) { spec["dim"] = .number(8) }
            let model = try classifier(["encoders": encoders, "fusion": .table(spec), "classes": .number(10)])
            XCTAssertEqual(model.modalities, ["audio", "image"])
            XCTAssertEqual(model.usesTokens, fusion == "cross_attention", fusion)
            let logits = try model.forward(modalities: batch)
            XCTAssertEqual(logits.shape, [3, 10], fusion)
            try logits.sum().backward()
            for (name, parameter) in model.namedParameters() {
                XCTAssertNotNil(parameter.grad, "\(fusion): \(name) gets no gradient")
            }
            // Without the audio, the placeholder stands in.
            XCTAssertEqual(try model.forward(modalities: ["image": batch["image"]!]).shape, [3, 10], fusion)
        }
        let cross = try classifier([
            "encoders": encoders,
            "fusion": .table(["type": .string("cross_attention"), "dim": .number(8), "heads": .number(2)]),
        ])
        _ = try cross.forward(modalities: batch)
        let weights = try XCTUnwrap(cross.fusion as? CrossModalAttentionFusion).attentionWeights
        // audio ← image (16 frames, 7×7 positions), image ← audio.
        XCTAssertEqual(weights.map { $0.weights.shape }, [[3, 16, 49], [3, 49, 16]])
    }

    func testLateFusionAveragesPerModalityHeads() throws {
        let model = try classifier(["encoders": encoders, "fusion": .string("late"), "classes": .number(4)])
        let batch = try inputs()
        let audio = try XCTUnwrap(model.module(named: "modality_heads.audio") as? Linear)
        let image = try XCTUnwrap(model.module(named: "modality_heads.image") as? Linear)
        let expected = try (audio(model.encoders[0](batch["audio"]!)) + image(model.encoders[1](batch["image"]!))) / 2
        let logits = try model.forward(modalities: batch)
        for (a, b) in zip(logits.toDoubles(), expected.toDoubles()) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testOneEncoderIsTheUnimodalBaselineAndMistakesAreClear() throws {
        let unimodal = try classifier([
            "encoders": .table(["image": .string("conv_encoder")]), "fusion": .boolean(false),
        ])
        XCTAssertNil(unimodal.fusion)
        XCTAssertEqual(try unimodal(Tensor.normal([2, 1, 28, 28])).shape, [2, 10])
        let model = try classifier(["encoders": encoders])
        XCTAssertThrowsError(try model(Tensor.normal([2, 1, 28, 28]))) { error in
            XCTAssert("\(error)".contains("model{audio = ..., image = ...}"), "\(error)")
        }
        XCTAssertThrowsError(try model.forward(modalities: ["imag": Tensor.normal([2, 1, 28, 28])])) { error in
            XCTAssert("\(error)".contains("image"), "\(error)")
        }
        XCTAssertThrowsError(try model.forward(modalities: [:]))
        XCTAssertThrowsError(
            try registry.build(
                .model, "multimodal_classifier", options: ["encoders": .table(["image": .string("mlp")])]))
        // A pooled encoder instance cannot feed a token fusion.
        let pooled = try ConvEncoder(channels: [2, 2], dimension: 4)
        XCTAssertThrowsError(
            try MultimodalClassifier(
                encoders: [("image", pooled)], fusion: nil, usesTokens: true, classes: 2, hidden: nil, dropout: 0)
        ) { error in
            XCTAssert("\(error)".contains("tokens = true"), "\(error)")
        }
    }

    /// The fused embedding is what the head reads: the head applied to it gives the logits, with both
    /// modalities and with one left out; late fusion has none.
    func testEmbeddingIsTheFusedInputOfTheHead() throws {
        let model = try classifier([
            "encoders": encoders, "fusion": .table(["type": .string("sum"), "dim": .number(6)]),
        ])
        let batch = try inputs()
        let head = try XCTUnwrap(model.module(named: "head"))
        for given in [batch, ["audio": try XCTUnwrap(batch["audio"])]] {
            let embedding = try model.embedding(modalities: given)
            XCTAssertEqual(embedding.shape, [3, 6])
            let logits = try model.forward(modalities: given)
            XCTAssertEqual(try (head(embedding) - logits).abs().max().item(), 0, accuracy: 1e-6)
        }
        let late = try classifier(["encoders": encoders, "fusion": .string("late")])
        XCTAssertThrowsError(try late.embedding(modalities: batch)) {
            XCTAssertTrue("\($0)".contains("no fused embedding"), "\($0)")
        }
    }
}
