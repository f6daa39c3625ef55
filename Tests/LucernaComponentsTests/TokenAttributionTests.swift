import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// Per-token attributions: gradient methods and LRP attribute to a named layer's output (the embedding of
/// a token classifier), against Captum's layer methods (`scripts/golden/make_token_golden.py`).
final class TokenAttributionTests: XCTestCase {
    let registry = Registry.standard()

    func model(_ fixture: Fixture) throws -> Sequential {
        let model = Sequential(named: [
            ("embedding", try Embedding(12, 4, dtype: .float64)), ("flatten", Flatten()),
            ("fc1", try Linear(20, 8, dtype: .float64)), ("relu", ReLU()), ("fc2", try Linear(8, 3, dtype: .float64)),
        ])
        let names = [
            "0.weight": "embedding.weight", "2.weight": "fc1.weight", "2.bias": "fc1.bias", "4.weight": "fc2.weight",
            "4.bias": "fc2.bias",
        ]
        var state: [String: Tensor] = [:]
        for (name, renamed) in names { state[renamed] = try fixture["model.\(name)"] }
        try model.loadStateDict(state)
        return model
    }

    func explainer(_ name: String, _ options: [String: ConfigValue]) throws -> Explainer {
        try registry.build(.explainer, name, options: options)
    }

    func testLayerAttributionsMatchCaptum() throws {
        let fixture = try Fixture("token_explainers.safetensors")
        let model = try model(fixture)
        let tokens = try fixture["tokens"]
        let targets = try fixture["targets"]
        let ig = try explainer("integrated_gradients", ["layer": .string("embedding"), "steps": .number(16)])
            .attribute(model: model, inputs: tokens, targets: targets)
        assertClose(ig, try fixture["integrated_gradients"], tolerance: 1e-8, "LayerIntegratedGradients")
        let gradient = try explainer("saliency", ["layer": .string("embedding"), "absolute": .boolean(false)])
            .attribute(model: model, inputs: tokens, targets: targets)
        assertClose(gradient, try fixture["gradient"], tolerance: 1e-12, "layer gradient")
        // Per-token scores: the sum over the embedding axis; padding (a zero embedding) gets exactly 0 from IG.
        let perToken = try ig.sum(axes: [2]).toDoubles()
        XCTAssertEqual(perToken.count, 20)
        for (index, token) in try tokens.toIntegers().enumerated() where token == 0 {
            XCTAssertEqual(perToken[index], 0, accuracy: 1e-15)
        }
        // Completeness (with enough steps for the ReLU kinks): per-token scores sum to the logit difference
        // from the all-padding baseline.
        let fine = try explainer("integrated_gradients", ["layer": .string("embedding"), "steps": .number(256)])
            .attribute(model: model, inputs: tokens, targets: targets).sum(axes: [2]).toDoubles()
        let logits = try model(tokens).toDoubles()
        let baseline = try model(tokens.zerosLike()).toDoubles()
        for (sample, target) in try targets.toIntegers().enumerated() {
            let total = fine[sample * 5..<(sample + 1) * 5].reduce(0, +)
            XCTAssertEqual(total, logits[sample * 3 + target] - baseline[sample * 3 + target], accuracy: 1e-4)
        }
    }

    func testSmoothGradAndLRPAttributeToTheEmbedding() throws {
        let fixture = try Fixture("token_explainers.safetensors")
        let model = try model(fixture)
        let tokens = try fixture["tokens"]
        let targets = try fixture["targets"]
        // Without noise SmoothGrad is the layer saliency.
        let smooth = try explainer(
            "smoothgrad", ["layer": .string("embedding"), "noise": .number(0), "samples": .number(2)]
        )
        .attribute(model: model, inputs: tokens, targets: targets)
        assertClose(smooth, try fixture["gradient"].abs(), tolerance: 1e-12, "smoothgrad without noise")
        // LRP-0 from the target logit through a ReLU network equals gradient × activation at the embedding.
        let composite = ConfigValue.table([
            "type": .string("layer_map"), "dense": .table(["type": .string("epsilon"), "epsilon": .number(0)]),
        ])
        let relevance = try explainer("lrp", ["layer": .string("embedding"), "composite": composite])
            .attribute(model: model, inputs: tokens, targets: targets)
        let embedded = try model.module(named: "embedding").map { try $0(tokens) }
        let expected = try XCTUnwrap(embedded) * fixture["gradient"]
        XCTAssertEqual(relevance.shape, [4, 5, 4])
        for (value, reference) in zip(relevance.toDoubles(), expected.toDoubles()) {
            XCTAssertEqual(value, reference, accuracy: 1e-9)
        }
        // Token ids without a layer are a clear error.
        XCTAssertThrowsError(
            try explainer("integrated_gradients", [:]).attribute(model: model, inputs: tokens, targets: targets)
        ) { error in
            XCTAssert("\(error)".contains("layer = "), "\(error)")
        }
        XCTAssertThrowsError(
            try explainer("saliency", ["layer": .string("embeding")]).attribute(
                model: model, inputs: tokens, targets: targets)
        ) { error in
            XCTAssert("\(error)".contains("embedding"), "\(error)")
        }
    }
}
