import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

@testable import LucernaComponents

/// Reveal-to-Revise's Localise and Revise steps: CAVs against scikit-learn, P-ClArC against its formula, the
/// mask rule against torchvision (`scripts/golden/make_localisation_golden.py`), artifact relevance, concept
/// relevance and TCAV by hand.
final class ArtifactLocalizationTests: XCTestCase {
    func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        return dot / (a.reduce(0) { $0 + $1 * $1 }.squareRoot() * b.reduce(0) { $0 + $1 * $1 }.squareRoot())
    }

    func features(_ fixture: Fixture) throws -> (rows: [Double], labels: [Bool]) {
        (try fixture["cav_features"].toDoubles(), try fixture["cav_labels"].toIntegers().map { $0 == 1 })
    }

    func testSupportVectorMachineCAVMatchesLinearSVC() throws {
        let fixture = try Fixture("localisation.safetensors")
        let (rows, labels) = try features(fixture)
        var converged = LinearSupportVectorMachine()
        converged.tolerance = 1e-10
        converged.maximumIterations = 100_000
        let tight = try ConceptActivationVector.fit(
            rows: rows, count: 90, width: 12, labels: labels, method: .svm, pooling: .flat, machine: converged)
        let reference = try fixture["svm_cav"].toDoubles()
        XCTAssertGreaterThan(cosine(tight.vector, reference), 1 - 1e-9)
        for (value, expected) in zip(tight.vector, reference) { XCTAssertEqual(value, expected, accuracy: 1e-6) }
        // With both libraries' default tolerance the directions still agree to the bound.
        let defaults = try ConceptActivationVector.fit(
            rows: rows, count: 90, width: 12, labels: labels, method: .svm, pooling: .flat)
        XCTAssertGreaterThan(cosine(defaults.vector, try fixture["svm_cav_default"].toDoubles()), 0.999)
        XCTAssertGreaterThan(cosine(defaults.vector, reference), 0.999)
        // Unit length, and the concept samples project further along it than the others.
        XCTAssertEqual(tight.vector.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-12)
        XCTAssertGreaterThan(tight.conceptMean, tight.otherMean)
    }

    func testSignalCAVMatchesTheReferenceFormula() throws {
        let fixture = try Fixture("localisation.safetensors")
        let (rows, labels) = try features(fixture)
        let cav = try ConceptActivationVector.fit(
            rows: rows, count: 90, width: 12, labels: labels, method: .signal, pooling: .flat)
        for (value, expected) in zip(cav.vector, try fixture["signal_cav"].toDoubles()) {
            XCTAssertEqual(value, expected, accuracy: 1e-12)
        }
        XCTAssertThrowsError(
            try ConceptActivationVector.fit(
                rows: rows, count: 90, width: 12, labels: Array(repeating: false, count: 90), method: .signal,
                pooling: .flat))
    }

    func testSelectionKeepsAtMostTheMaximumAndAMultipleOfOthers() {
        let labels = (0..<100).map { $0 % 10 == 0 }
        let chosen = ConceptActivationVector.select(labels: labels, maximum: 4, multiple: 5, seed: 3)
        XCTAssertEqual(chosen.filter { labels[$0] }.count, 4)
        XCTAssertEqual(chosen.filter { !labels[$0] }.count, 20)
        XCTAssertEqual(chosen, chosen.sorted())
        XCTAssertEqual(ConceptActivationVector.select(labels: labels, maximum: 4, multiple: 5, seed: 3), chosen)
        XCTAssertEqual(ConceptActivationVector.select(labels: labels, maximum: 50, multiple: 100, seed: 3).count, 100)
    }

    func testProjectiveClArCMatchesTheProjectionFormula() throws {
        let fixture = try Fixture("localisation.safetensors")
        let cav = ConceptActivationVector(
            vector: try fixture["clarc_cav"].toDoubles(), pooling: .max, conceptMean: 5,
            otherMean: try fixture["clarc_z"].toDoubles()[0])
        let activations = try fixture["clarc_activations"]
        let corrected = try ClassArtifactCompensation(cav: cav, mode: .projective).apply(activations)
        XCTAssertEqual(corrected.shape, [6, 3, 4, 4])
        for (value, expected) in zip(corrected.toDoubles(), try fixture["clarc_expected"].toDoubles()) {
            XCTAssertEqual(value, expected, accuracy: 1e-12)
        }
        // A flat CAV moves every sample's projection exactly to z (A-ClArC: to the concept mean).
        let generator = RandomGenerator(seed: 4)
        let direction = (0..<8).map { _ in generator.nextNormal() }
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let flat = ConceptActivationVector(
            vector: direction.map { $0 / norm }, pooling: .flat, conceptMean: 2.5, otherMean: -1)
        let rows = try Tensor.normal([5, 2, 2, 2], dtype: .float64, generator: generator)
        let additive = try ClassArtifactCompensation(cav: flat, mode: .additive).apply(rows)
        for projection in try flat.projections(additive) { XCTAssertEqual(projection, 2.5, accuracy: 1e-12) }
        let projected = try ClassArtifactCompensation(cav: flat, mode: .projective).apply(rows)
        for projection in try flat.projections(projected) { XCTAssertEqual(projection, -1, accuracy: 1e-12) }
        // R-ClArC moves only the samples projecting above the means' midpoint (0.75) to z and leaves the others.
        let before = try flat.projections(rows)
        let reactive = try ClassArtifactCompensation(cav: flat, mode: .projective, reactive: true).apply(rows)
        let after = try flat.projections(reactive)
        let rowCount = 8
        for sample in 0..<5 {
            let range = sample * rowCount..<(sample + 1) * rowCount
            if before[sample] > 0.75 {
                XCTAssertEqual(after[sample], -1, accuracy: 1e-12)
                XCTAssertEqual(Array(reactive.toDoubles()[range]), Array(projected.toDoubles()[range]))
            } else {
                XCTAssertEqual(Array(reactive.toDoubles()[range]), Array(rows.toDoubles()[range]))
            }
        }
        XCTAssert(before.contains { $0 > 0.75 } && before.contains { $0 <= 0.75 }, "both cases occur: \(before)")
        // With the concept's mean below the others' (a CAV pointing away from the concept), "nearer the concept"
        // is below the midpoint: those samples move to z, the others stay.
        let flipped = ConceptActivationVector(
            vector: direction.map { $0 / norm }, pooling: .flat, conceptMean: -1, otherMean: 2.5)
        let flippedReactive = try ClassArtifactCompensation(cav: flipped, mode: .projective, reactive: true).apply(
            rows)
        let flippedAfter = try flipped.projections(flippedReactive)
        for sample in 0..<5 {
            let range = sample * rowCount..<(sample + 1) * rowCount
            if before[sample] < 0.75 {
                XCTAssertEqual(flippedAfter[sample], 2.5, accuracy: 1e-12)
            } else {
                XCTAssertEqual(Array(flippedReactive.toDoubles()[range]), Array(rows.toDoubles()[range]))
            }
        }
        // Installed on a layer, the model's output changes; removed, it is restored.
        let layer = Activation(.identity)
        let identifier = ClassArtifactCompensation(cav: flat, mode: .projective).install(on: layer)
        XCTAssertEqual(try layer(rows).toDoubles(), projected.toDoubles())
        layer.removeOutputTransform(identifier)
        XCTAssertEqual(try layer(rows).toDoubles(), rows.toDoubles())
    }

    func testMaskRuleMatchesTorchvisionBlurAndThresholds() throws {
        let fixture = try Fixture("localisation.safetensors")
        let masks = try ArtifactLocalization.masks(fixture["mask_heatmaps"])
        XCTAssertEqual(masks.shape, [3, 28, 28])
        XCTAssertEqual(masks.toDoubles(), try fixture["mask_expected"].toDoubles())
        // An all-zero map gives an empty mask; an even kernel is an error.
        XCTAssertEqual(try ArtifactLocalization.masks(Tensor.zeros([1, 5, 5], dtype: .float64)).toDoubles().max(), 0)
        XCTAssertThrowsError(try ArtifactLocalization.masks(Tensor.zeros([1, 5, 5]), kernelSize: 4))
        XCTAssertThrowsError(try ArtifactLocalization.masks(Tensor.zeros([5, 5])))
    }

    func testBlurReflectsBordersLikeTorchvisionForKernelsLargerThanTheMap() {
        // A 1 × 3 map blurred by a kernel of 7: indices fold as …1 2 | 0 1 2 | 1 0 1…
        XCTAssertEqual((-4...6).map { ArtifactLocalization.reflectedIndex($0, 3) }, [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2])
        let kernel = ArtifactLocalization.gaussianKernel(size: 5, sigma: 1)
        XCTAssertEqual(kernel.reduce(0, +), 1, accuracy: 1e-15)
        XCTAssertEqual(kernel[0] / kernel[2], exp(-2), accuracy: 1e-15)
    }

    func testArtifactRelevanceIsTheShareOfAbsoluteRelevanceInTheMask() throws {
        // Two 2 × 2 maps (the first with two channels, summed): [1, -2, 3, 0] and [0, 0, 0, 0].
        let heatmaps = try Tensor(
            shape: [2, 2, 2, 2], doubles: [0.5, -1, 1, 0, 0.5, -1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        let masks = try Tensor(shape: [2, 2, 2], doubles: [0, 1, 1, 0, 1, 1, 1, 1])
        let shares = try ArtifactLocalization.artifactRelevance(heatmaps: heatmaps, masks: masks)
        XCTAssertEqual(shares[0], 5.0 / (6 + 1e-10), accuracy: 1e-12)
        XCTAssertEqual(shares[1], 0)
        XCTAssertThrowsError(
            try ArtifactLocalization.artifactRelevance(heatmaps: heatmaps, masks: Tensor.zeros([2, 3, 2])))
    }

    func testConceptHeatmapsExplainTheCAVsScoreAtTheLayer() throws {
        // A bias-free convolution with positive weights on positive inputs: the concept score
        // s = Σ_p relu(conv(x))_p · v_c is linear in x, so Σ gradient ⊙ x = s, and the saliency explainer
        // (signed) run through the concept head returns that gradient.
        let generator = RandomGenerator(seed: 8)
        let conv = try Conv2d(
            1, 2, kernelSize: (3, 3), padding: (1, 1), bias: false, dtype: .float64, generator: generator)
        try conv.weight.assign(conv.weight.abs())
        let model = Sequential(named: [
            ("conv", conv), ("relu", ReLU()), ("flatten", Flatten()),
            ("fc", try Linear(2 * 36, 3, dtype: .float64, generator: generator)),
        ])
        let inputs = try Tensor.uniform([3, 1, 6, 6], dtype: .float64, generator: generator)
        let cav = ConceptActivationVector(vector: [0.6, 0.8], pooling: .max, conceptMean: 1, otherMean: 0)
        let saliency = try Registry.standard().build(.explainer, "saliency", options: ["absolute": .boolean(false)])
        let heatmaps = try ArtifactLocalization.conceptHeatmaps(
            explainer: saliency, model: model, layer: "relu", cav: cav, inputs: inputs)
        XCTAssertEqual(heatmaps.shape, [3, 6, 6])
        let activations = try conv(inputs).relu().toDoubles()
        let contributions = try (heatmaps.reshaped([3, 1, 6, 6]) * inputs).sum(axes: [1, 2, 3]).toDoubles()
        for sample in 0..<3 {
            var score = 0.0
            for channel in 0..<2 {
                for position in 0..<36 {
                    score += activations[(sample * 2 + channel) * 36 + position] * cav.vector[channel]
                }
            }
            XCTAssertEqual(contributions[sample], score, accuracy: 1e-10)
        }
        XCTAssertThrowsError(
            try ArtifactLocalization.conceptHeatmaps(
                explainer: saliency, model: model, layer: "nope", cav: cav, inputs: inputs))
        let wrong = ConceptActivationVector(vector: [1, 0, 0], pooling: .max, conceptMean: 1, otherMean: 0)
        XCTAssertThrowsError(
            try ArtifactLocalization.conceptHeatmaps(
                explainer: saliency, model: model, layer: "relu", cav: wrong, inputs: inputs))
    }

    func testTCAVCountsPositiveDirectionalDerivatives() throws {
        let generator = RandomGenerator(seed: 12)
        let first = try Linear(2, 3, dtype: .float64, generator: generator)
        let second = try Linear(3, 2, dtype: .float64, generator: generator)
        let model = Sequential(named: [("hidden", first), ("relu", ReLU()), ("out", second)])
        let inputs = try Tensor.normal([40, 2], dtype: .float64, generator: generator)
        let cav = ConceptActivationVector(vector: [0.48, 0.6, 0.64], pooling: .flat, conceptMean: 0, otherMean: 0)
        let result = try ConceptSensitivity.measure(
            model: model, layer: "relu", cav: cav, inputs: ExplainedInputs(inputs), classIndex: 1)
        // ∂ logit_1 / ∂ relu output = W2[1, :], the same for every sample.
        let weights = try second.weight.toDoubles()
        let derivative = (0..<3).reduce(0) { $0 + weights[3 + $1] * cav.vector[$1] }
        for value in result.derivatives { XCTAssertEqual(value, derivative, accuracy: 1e-12) }
        XCTAssertEqual(result.score, derivative > 0 ? 1 : 0)
        XCTAssertEqual(result.sensitivity, abs(derivative), accuracy: 1e-12)
        // At the hidden layer the ReLU gates the derivative per sample.
        let gated = try ConceptSensitivity.measure(
            model: model, layer: "hidden", cav: cav, inputs: ExplainedInputs(inputs), classIndex: 1)
        let hidden = try first(inputs).toDoubles()
        var positive = 0
        var negative = 0
        for sample in 0..<40 {
            let value = (0..<3).reduce(0.0) {
                $0 + (hidden[sample * 3 + $1] > 0 ? weights[3 + $1] * cav.vector[$1] : 0)
            }
            XCTAssertEqual(gated.derivatives[sample], value, accuracy: 1e-12)
            if value > 0 { positive += 1 } else if value < 0 { negative += 1 }
        }
        XCTAssertEqual(gated.score, Double(positive) / Double(positive + negative), accuracy: 1e-12)
        XCTAssertThrowsError(
            try ConceptSensitivity.measure(
                model: model, layer: "relu", cav: cav, inputs: ExplainedInputs(inputs), classIndex: 2))
    }
}
