import LucernaComponents
import LucernaCore
import LucernaNN
import XCTest

/// Attacks on a multimodal classifier: one modality (the others held) equals the gradient step on that
/// modality of the joint model; a joint attack steps every attacked modality; attacks that query subsets
/// of their inputs (restarts, the not-yet-fooled inputs) see the held modalities of the same rows.
final class MultimodalAttackTests: XCTestCase {
    let registry = Registry.standard()

    func model() throws -> MultimodalClassifier {
        let model = try smallMultimodalClassifier(seed: 31, registry: registry)
        // No biases and larger weights than the initialisation's, so the logits depend on the inputs enough
        // for the attacks to fool some.
        for (name, parameter) in model.namedParameters() {
            try parameter.assign(try parameter.detach() * (name.hasSuffix("bias") ? 0 : 3))
        }
        return model
    }

    func inputs(count: Int = 6) throws -> [String: Tensor] {
        let generator = RandomGenerator(seed: 8)
        return [
            "image": try Tensor.uniform([count, 1, 8, 8], generator: generator),
            "audio": try Tensor.uniform([count, 1, 6, 8], generator: generator),
        ]
    }

    func attack(_ name: String, _ options: [String: ConfigValue]) throws -> Attack {
        try registry.build(.attack, name, options: options)
    }

    /// x + ε_m·sign(∇ CE) clamped to the modality's range ([0, 1] unless given), per modality, from the joint
    /// model's gradient.
    func fgsmStep(
        model: MultimodalClassifier, inputs: [String: Tensor], labels: Tensor, eps: Double,
        budgets: [String: (eps: Double, low: Double, high: Double)] = [:]
    ) throws -> [String: [Double]] {
        let leaves = try inputs.mapValues { try $0.detach().requiringGrad() }
        let names = leaves.keys.sorted()
        let loss = try Losses.crossEntropy(model.evaluating { try model.forward(modalities: leaves) }, labels)
        let gradients = try Tensor.gradients(of: [loss], withRespectTo: names.compactMap { leaves[$0] })
        var stepped: [String: [Double]] = [:]
        for (name, gradient) in zip(names, gradients) {
            let g = try XCTUnwrap(gradient).toDoubles()
            let x = try XCTUnwrap(inputs[name]).toDoubles()
            let budget = budgets[name] ?? (eps, 0, 1)
            stepped[name] = zip(x, g).map {
                min(max($0 + budget.eps * ($1 > 0 ? 1 : $1 < 0 ? -1 : 0), budget.low), budget.high)
            }
        }
        return stepped
    }

    func assertClose(_ actual: [Double], _ expected: [Double], _ message: String) {
        XCTAssertEqual(actual.count, expected.count, message)
        for (a, b) in zip(actual, expected) { XCTAssertEqual(a, b, accuracy: 1e-6, message) }
    }

    func testOneModalityAndJointFGSMAreTheJointGradientStep() throws {
        let model = try model()
        let batch = try inputs()
        let labels = try Tensor(shape: [6], integers: [0, 1, 2, 0, 1, 2])
        let expected = try fgsmStep(model: model, inputs: batch, labels: labels, eps: 0.05)
        let fgsm = try attack("fgsm", ["eps": .number(0.05)])
        let imageOnly = try MultimodalAttack.perturb(
            fgsm, model: model, inputs: batch, targets: labels, attacked: ["image"])
        assertClose(try XCTUnwrap(imageOnly["image"]).toDoubles(), try XCTUnwrap(expected["image"]), "image only")
        XCTAssertEqual(
            try XCTUnwrap(imageOnly["audio"]).toDoubles(), try XCTUnwrap(batch["audio"]).toDoubles(),
            "the audio is held")
        let joint = try MultimodalAttack.perturb(fgsm, model: model, inputs: batch, targets: labels)
        for name in ["image", "audio"] {
            XCTAssertEqual(try XCTUnwrap(joint[name]).shape, try XCTUnwrap(batch[name]).shape)
            assertClose(try XCTUnwrap(joint[name]).toDoubles(), try XCTUnwrap(expected[name]), "joint \(name)")
        }
        XCTAssertThrowsError(
            try MultimodalAttack.perturb(fgsm, model: model, inputs: batch, targets: labels, attacked: ["video"]))
    }

    func testAttacksOnSubsetsOfRowsSeeTheirOwnHeldModalities() throws {
        let model = try model()
        let batch = try inputs()
        // The head's bias centres the batch's logits, so the predictions are near decision boundaries.
        let logits = try model.evaluating { try noGrad { try model.forward(modalities: batch) } }
        let head = try XCTUnwrap(
            model.namedParameters().last { $0.name.hasSuffix("bias") && $0.tensor.shape == [3] }?.tensor)
        try head.assign(try logits.mean(axes: [0]).negated().to(head.dtype))
        let labels = try model.evaluating { try noGrad { try model.forward(modalities: batch).argmax(axis: 1) } }
        // DeepFool drops the inputs it has flipped from later queries: each row of the batched result must
        // equal the attack on that sample alone (which needs the audio rows to follow the image rows).
        let deepfool = try attack("deepfool", ["steps": .number(50)])
        let together = try XCTUnwrap(
            try MultimodalAttack.perturb(deepfool, model: model, inputs: batch, targets: labels, attacked: ["image"])[
                "image"]
        ).toDoubles()
        for sample in 0..<6 {
            let single = try batch.mapValues { try $0.sliced(axis: 0, start: sample, end: sample + 1) }
            let alone = try XCTUnwrap(
                try MultimodalAttack.perturb(
                    deepfool, model: model, inputs: single,
                    targets: labels.sliced(axis: 0, start: sample, end: sample + 1), attacked: ["image"])["image"]
            ).toDoubles()
            for (a, b) in zip(alone, together[(sample * 64)..<((sample + 1) * 64)]) {
                XCTAssertEqual(a, b, accuracy: 1e-4, "sample \(sample)")
            }
        }
        // Restarts and query subsets on one modality and on both.
        let clean = try labels.toIntegers()
        for (name, options) in [
            (
                "pgd",
                ["eps": ConfigValue.number(0.5), "alpha": .number(0.1), "steps": .number(5), "restarts": .number(3)]
            ),
            ("apgd_ce", ["eps": .number(0.5), "steps": .number(8), "restarts": .number(2)]),
            ("apgd_dlr", ["eps": .number(0.5), "steps": .number(8), "restarts": .number(2)]),
        ] {
            for attacked in [["audio"], ["image", "audio"]] {
                let result = try MultimodalAttack.perturb(
                    attack(name, options), model: model, inputs: batch, targets: labels, attacked: attacked)
                for modality in ["image", "audio"] {
                    let x = try XCTUnwrap(batch[modality]).toDoubles()
                    let adversarial = try XCTUnwrap(result[modality]).toDoubles()
                    if attacked.contains(modality) {
                        for (a, b) in zip(adversarial, x) {
                            XCTAssertLessThanOrEqual(abs(a - b), 0.5 + 1e-6, "\(name) \(modality)")
                        }
                    } else {
                        XCTAssertEqual(adversarial, x, "\(name) holds \(modality)")
                    }
                }
                let predicted = try model.evaluating {
                    try noGrad { try model.forward(modalities: result).argmax(axis: 1) }
                }.toIntegers()
                XCTAssertLessThan(
                    zip(predicted, clean).filter { $0 == $1 }.count, 6, "\(name) on \(attacked) fools some input")
            }
        }
        // Square queries only the not-yet-fooled images, with their own audio rows.
        let square = try MultimodalAttack.perturb(
            attack("square", ["eps": .number(0.3), "queries": .number(40), "restarts": .number(2)]), model: model,
            inputs: batch, targets: labels, attacked: ["image"])
        XCTAssertEqual(try XCTUnwrap(square["audio"]).toDoubles(), try XCTUnwrap(batch["audio"]).toDoubles())
    }

    /// The audio as unbounded features (log-mel energies around ±10), outside the attacks' default [0, 1].
    func wideInputs() throws -> [String: Tensor] {
        var batch = try inputs()
        batch["audio"] = try XCTUnwrap(batch["audio"]) * 20 - 10
        return batch
    }

    func testEachModalityHasItsOwnBudgetAndRange() throws {
        let model = try model()
        let batch = try wideInputs()
        let labels = try Tensor(shape: [6], integers: [0, 1, 2, 0, 1, 2])
        let unbounded = ModalityBudget(eps: 1.5, low: -.infinity, high: .infinity)
        // FGSM with budgets is each modality's own gradient-sign step: ε_m and range per modality.
        let expected = try fgsmStep(
            model: model, inputs: batch, labels: labels, eps: 0.1,
            budgets: ["image": (0.05, 0, 1), "audio": (1.5, -.infinity, .infinity)])
        let fgsm = try attack("fgsm", ["eps": .number(0.1)])
        let stepped = try MultimodalAttack.perturb(
            fgsm, model: model, inputs: batch, targets: labels,
            budgets: ["image": ModalityBudget(eps: 0.05), "audio": unbounded])
        for name in ["image", "audio"] {
            assertClose(
                try XCTUnwrap(stepped[name]).toDoubles(), try XCTUnwrap(expected[name]), "FGSM with budgets, \(name)")
        }
        // One modality with its own budget keeps its shape (and the other is held).
        let audioOnly = try MultimodalAttack.perturb(
            fgsm, model: model, inputs: batch, targets: labels, budgets: ["audio": unbounded])
        assertClose(
            try XCTUnwrap(audioOnly["audio"]).toDoubles(),
            try XCTUnwrap(
                try fgsmStep(
                    model: model, inputs: batch, labels: labels, eps: 0.1,
                    budgets: ["audio": (1.5, -.infinity, .infinity)])["audio"]), "audio only")
        XCTAssertEqual(try XCTUnwrap(audioOnly["image"]).toDoubles(), try XCTUnwrap(batch["image"]).toDoubles())
        // Iterative attacks stay in each ball and range, and use the audio's larger budget (on the model's own
        // predictions, so APGD, which leaves misclassified inputs alone, attacks every input).
        let predicted = try model.evaluating { try noGrad { try model.forward(modalities: batch).argmax(axis: 1) } }
        for (name, options) in [
            ("pgd", ["eps": ConfigValue.number(0.1), "alpha": .number(0.03), "steps": .number(8)]),
            ("pgd", ["eps": .number(0.1), "alpha": .number(0.05), "steps": .number(5), "norm": .string("l2")]),
            ("mifgsm", ["eps": .number(0.1), "alpha": .number(0.03), "steps": .number(5)]),
            ("apgd_ce", ["eps": .number(0.1), "steps": .number(8)]),
            ("apgd_dlr", ["eps": .number(0.1), "steps": .number(8)]),
        ] {
            let result = try MultimodalAttack.perturb(
                attack(name, options), model: model, inputs: batch, targets: predicted,
                budgets: ["image": ModalityBudget(eps: 0.05), "audio": unbounded])
            let image = try XCTUnwrap(result["image"]).toDoubles()
            let cleanImage = try XCTUnwrap(batch["image"]).toDoubles()
            let audio = try XCTUnwrap(result["audio"]).toDoubles()
            let cleanAudio = try XCTUnwrap(batch["audio"]).toDoubles()
            XCTAssert(image.allSatisfy { (0...1).contains($0) }, "\(name): image in [0, 1]")
            if options["norm"] == nil {
                XCTAssertLessThanOrEqual(
                    zip(image, cleanImage).map { abs($0 - $1) }.max() ?? 0, 0.05 + 1e-6, "\(name): image ball")
                // Float32 audio near ±11 rounds to about 1e-6.
                XCTAssertLessThanOrEqual(
                    zip(audio, cleanAudio).map { abs($0 - $1) }.max() ?? 0, 1.5 + 4e-6, "\(name): audio ball")
                XCTAssertGreaterThan(
                    zip(audio, cleanAudio).map { abs($0 - $1) }.max() ?? 0, 0.5,
                    "\(name): the audio moves beyond the image's budget")
            } else {
                // L2: the joint ellipsoid Σ‖δ_m‖²(ε/ε_m)² ≤ ε², per sample.
                for sample in 0..<6 {
                    func squared(_ a: [Double], _ b: [Double], _ size: Int) -> Double {
                        (sample * size..<(sample + 1) * size).reduce(0) {
                            $0 + ($1 < a.count ? (a[$1] - b[$1]) * (a[$1] - b[$1]) : 0)
                        }
                    }
                    let total =
                        squared(image, cleanImage, 64) * 4 + squared(audio, cleanAudio, 48) * (0.1 / 1.5) * (0.1 / 1.5)
                    XCTAssertLessThanOrEqual(total.squareRoot(), 0.1 + 1e-6, "L2 sample \(sample)")
                }
            }
        }
    }

    func testOutOfRangeModalitiesAndBadBudgetsAreErrors() throws {
        let model = try model()
        let batch = try wideInputs()
        let labels = try Tensor(shape: [6], integers: [0, 1, 2, 0, 1, 2])
        let pgd = try attack("pgd", ["eps": .number(0.1), "alpha": .number(0.03), "steps": .number(2)])
        func message(_ body: () throws -> Any) -> String {
            do {
                _ = try body()
                return ""
            } catch { return "\(error)" }
        }
        // The audio's values lie outside the shared [0, 1]: an error, jointly or alone, instead of a clamp.
        XCTAssert(
            message { try MultimodalAttack.perturb(pgd, model: model, inputs: batch, targets: labels) }.contains(
                "modality 'audio' spans"))
        XCTAssert(
            message {
                try MultimodalAttack.perturb(pgd, model: model, inputs: batch, targets: labels, attacked: ["audio"])
            }.contains("outside the valid range"))
        XCTAssert(
            message {
                try pgd.perturb(
                    model: ModalityView(model: model, modality: "audio", inputs: batch),
                    inputs: XCTUnwrap(batch["audio"]), targets: labels)
            }
            .contains("outside the valid range"))
        let open = ModalityBudget(low: -.infinity, high: .infinity)
        XCTAssert(
            message {
                try MultimodalAttack.perturb(
                    pgd, model: model, inputs: batch, targets: labels, attacked: ["image"], budgets: ["audio": open])
            }
            .contains("not attacked"))
        XCTAssert(
            message {
                try MultimodalAttack.perturb(
                    pgd, model: model, inputs: batch, targets: labels, budgets: ["audio": ModalityBudget(eps: 0)])
            }
            .contains("eps must be positive"))
        XCTAssert(
            message {
                try MultimodalAttack.perturb(
                    pgd, model: model, inputs: batch, targets: labels,
                    budgets: ["audio": ModalityBudget(low: 1, high: 0)])
            }
            .contains("must be below"))
        let deepfool = try attack("deepfool", ["steps": .number(3)])
        XCTAssert(
            message {
                try MultimodalAttack.perturb(
                    deepfool, model: model, inputs: batch, targets: labels, budgets: ["audio": ModalityBudget(eps: 1)])
            }
            .contains("has no budget"))
        let cw = try attack("cw", ["steps": .number(2)])
        XCTAssert(
            message {
                try MultimodalAttack.perturb(cw, model: model, inputs: batch, targets: labels, budgets: ["audio": open])
            }
            .contains("need an attack with one valid range"))
        // DeepFool takes ranges: with the audio unbounded it runs on both.
        let result = try MultimodalAttack.perturb(
            deepfool, model: model, inputs: batch, targets: labels, budgets: ["image": ModalityBudget(), "audio": open])
        XCTAssert(try XCTUnwrap(result["image"]).toDoubles().allSatisfy { (0...1).contains($0) })
    }
}
