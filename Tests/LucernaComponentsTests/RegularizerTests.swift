import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// The bias regularizers against PyTorch (`scripts/golden/make_regularizer_golden.py`) and hand
/// computations, with first- and second-order gradient checks in Float64.
final class RegularizerTests: XCTestCase {
    let registry = Registry.standard()

    // MARK: - Right for the Right Reasons

    func mlp(_ fixture: Fixture, _ prefix: String) throws -> Sequential {
        let model = Sequential([try Linear(4, 5, dtype: .float64), Tanh(), try Linear(5, 3, dtype: .float64)])
        try model.loadStateDict(fixture.state(prefix: "\(prefix).model."))
        return model
    }

    func testRRRMatchesRossEtAlInBothWaysOfGettingTheInputGradient() throws {
        let fixture = try Fixture("regularizers.safetensors")
        let rrr = try registry.build(.regularizer, "rrr", options: [:])  // λ 1000, Σ log p, squared, mean
        let inputs = try fixture["rrr_l2.inputs"]
        let batch = ["inputs": inputs, "artifact_masks": try fixture["rrr_l2.mask"]]
        for trainerLeaf in [true, false] {
            let model = try mlp(fixture, "rrr_l2")
            var context = RegularizerContext(
                parameters: model.namedParameters(), model: RegularizedModel(module: model, inputKey: "inputs"),
                batch: batch, inputKey: "inputs")
            if trainerLeaf {
                // As training passes it: the forward pass's inputs are a differentiable leaf.
                let leaf = try inputs.copy().requiringGrad()
                context.inputs = leaf
                context.logits = try model(leaf)
            } else {
                context.inputs = inputs  // not differentiable: the penalty runs the model again
            }
            let penalty = try rrr.penalty(context)
            assertClose(try penalty.reshaped([1]), try fixture["rrr_l2.penalty"], tolerance: 1e-10, "rrr penalty")
            try penalty.backward()
            for (name, parameter) in model.namedParameters() {
                assertClose(parameter.grad, try fixture["rrr_l2.grad.\(name)"], tolerance: 1e-9, "rrr ∂/∂\(name)")
            }
        }
    }

    func testRRRCosineFormMatchesRevealToRevise() throws {
        let fixture = try Fixture("regularizers.safetensors")
        let model = Sequential([
            try Conv2d(2, 3, kernelSize: (3, 3), padding: (1, 1), dtype: .float64), Tanh(), Flatten(),
            try Linear(48, 3, dtype: .float64),
        ])
        try model.loadStateDict(fixture.state(prefix: "rrr_cosine.model."))
        let rrr = try registry.build(
            .regularizer, "rrr",
            options: ["form": .string("cosine"), "objective": .string("cross_entropy"), "weight": .number(100)])
        let penalty = try rrr.penalty(
            RegularizerContext(
                parameters: model.namedParameters(), inputs: try fixture["rrr_cosine.inputs"],
                targets: try fixture["rrr_cosine.labels"], model: RegularizedModel(module: model, inputKey: "images"),
                batch: ["images": try fixture["rrr_cosine.inputs"], "artifact_masks": try fixture["rrr_cosine.mask"]],
                inputKey: "images"))
        assertClose(try penalty.reshaped([1]), try fixture["rrr_cosine.penalty"], tolerance: 1e-10, "cosine penalty")
        try penalty.backward()
        for (name, parameter) in model.namedParameters() {
            assertClose(parameter.grad, try fixture["rrr_cosine.grad.\(name)"], tolerance: 1e-9, "cosine ∂/∂\(name)")
        }
    }

    func testRRRGradientTimesInputOnTokensMatchesLiuAndAvcisPrior() throws {
        let fixture = try Fixture("regularizers.safetensors")
        let model = Sequential(named: [
            ("embedding", try Embedding(7, 3, dtype: .float64)), ("flatten", Flatten()),
            ("fc1", try Linear(12, 4, dtype: .float64)), ("tanh", Tanh()), ("fc2", try Linear(4, 2, dtype: .float64)),
        ])
        let names = [
            "embedding.weight": "embedding.weight", "head.1.weight": "fc1.weight", "head.1.bias": "fc1.bias",
            "head.3.weight": "fc2.weight", "head.3.bias": "fc2.bias",
        ]
        var state: [String: Tensor] = [:]
        for (name, renamed) in names { state[renamed] = try fixture["rrr_tokens.model.\(name)"] }
        try model.loadStateDict(state)
        let rrr = try registry.build(
            .regularizer, "rrr",
            options: [
                "attribution": .string("gradient_times_input"), "layer": .string("embedding"),
                "mask": .string("token_masks"), "weight": .number(50),
            ])
        let tokens = try fixture["rrr_tokens.tokens"]
        let penalty = try rrr.penalty(
            RegularizerContext(
                parameters: model.namedParameters(), inputs: tokens,
                model: RegularizedModel(module: model, inputKey: "tokens"),
                batch: ["tokens": tokens, "token_masks": try fixture["rrr_tokens.mask"]], inputKey: "tokens"))
        assertClose(try penalty.reshaped([1]), try fixture["rrr_tokens.penalty"], tolerance: 1e-10, "token penalty")
        try penalty.backward()
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor) })
        for (name, renamed) in names {
            let parameter = try XCTUnwrap(parameters[renamed])
            assertClose(parameter.grad, try fixture["rrr_tokens.grad.\(name)"], tolerance: 1e-9, "∂/∂\(renamed)")
        }
    }

    func testRRRRefusesAMaskThatDoesNotFitAndNamesAMissingOne() throws {
        let model = try Linear(4, 3, dtype: .float64)
        let inputs = try Tensor.uniform([2, 4], dtype: .float64)
        let rrr = try registry.build(.regularizer, "rrr", options: [:])
        func context(_ batch: [String: Tensor]) -> RegularizerContext {
            RegularizerContext(
                inputs: inputs, model: RegularizedModel(module: model, inputKey: "inputs"), batch: batch,
                inputKey: "inputs")
        }
        XCTAssertThrowsError(try rrr.penalty(context(["inputs": inputs]))) { error in
            XCTAssertTrue("\(error)".contains("'artifact_masks'"), "\(error)")
        }
        XCTAssertThrowsError(
            try rrr.penalty(context(["inputs": inputs, "artifact_masks": try Tensor.zeros([2, 3], dtype: .float64)]))
        ) { error in XCTAssertTrue("\(error)".contains("does not fit"), "\(error)") }
    }

    // MARK: - CAM penalties

    func camNetwork(_ fixture: Fixture) throws -> Sequential {
        let model = Sequential([
            try Conv2d(1, 3, kernelSize: (3, 3), padding: (1, 1), dtype: .float64), Tanh(), MaxPool2d(2), Flatten(),
            try Linear(48, 3, dtype: .float64),
        ])
        try model.loadStateDict(fixture.state(prefix: "cam.model."))
        return model
    }

    func testCAMPenaltiesMatchAutogradThroughPytorchGradCAMWeights() throws {
        let fixture = try Fixture("regularizers.safetensors")
        for (tag, layer) in [("grad_cam", "1"), ("grad_cam_pp", nil)] {
            let model = try camNetwork(fixture)
            var options: [String: ConfigValue] = ["weight": .number(2)]
            if let layer { options["layer"] = .string(layer) }  // grad_cam_pp finds it: the last 4-D, non-pooling
            let penalty = try registry.build(.regularizer, "\(tag)_penalty", options: options)
            let images = try fixture["cam.images"]
            let value = try penalty.penalty(
                RegularizerContext(
                    inputs: images, targets: try fixture["cam.labels"],
                    model: RegularizedModel(module: model, inputKey: "images"),
                    batch: ["images": images, "artifact_masks": try fixture["cam.mask"]], inputKey: "images"))
            assertClose(try value.reshaped([1]), try fixture["\(tag)_penalty.penalty"], tolerance: 1e-10, tag)
            try value.backward()
            for (name, parameter) in model.namedParameters() {
                let expected = try fixture["\(tag)_penalty.grad.\(name)"]
                assertClose(parameter.grad ?? expected.zerosLike(), expected, tolerance: 1e-9, "\(tag) ∂/∂\(name)")
            }
        }
    }

    func testCAMPenaltyIsTheShareOfTheMapInTheMaskAndItsComplementWhenInverted() throws {
        let fixture = try Fixture("regularizers.safetensors")
        let model = try camNetwork(fixture)
        let images = try fixture["cam.images"]
        func value(_ invert: Bool) throws -> Double {
            let penalty = try registry.build(
                .regularizer, "grad_cam_pp_penalty", options: ["layer": .string("1"), "invert": .boolean(invert)])
            return try penalty.penalty(
                RegularizerContext(
                    inputs: images, targets: try fixture["cam.labels"],
                    model: RegularizedModel(module: model, inputKey: "images"),
                    batch: ["images": images, "artifact_masks": try fixture["cam.mask"]], inputKey: "images")
            ).item()
        }
        let inside = try value(false)
        XCTAssertGreaterThan(inside, 0)
        XCTAssertEqual(inside + (try value(true)), 1, accuracy: 1e-6, "shares inside and outside add up to one")
        // The Dice form by hand from the same maps: each scaled by its maximum, against the allowed region
        // (outside the mask; inside it when inverted).
        let context = RegularizerContext(
            inputs: images, targets: try fixture["cam.labels"],
            model: RegularizedModel(module: model, inputKey: "images"),
            batch: ["images": images, "artifact_masks": try fixture["cam.mask"]], inputKey: "images")
        let maps = try XCTUnwrap(
            try registry.build(.regularizer, "grad_cam_pp_penalty", options: ["layer": .string("1")]) as? CAMPenalty
        ).maps(context, layer: "1")
        let mask = try fixture["cam.mask"]
        XCTAssertEqual(Array(maps.shape.suffix(2)), Array(mask.shape.suffix(2)), "no resize in this fixture")
        let pixels = mask.shape.suffix(2).reduce(1, *)
        let mapValues = maps.toDoubles()
        let maskValues = mask.toDoubles()
        for invert in [false, true] {
            var expected = 0.0
            for sample in 0..<maps.shape[0] {
                let map = Array(mapValues[(sample * pixels)..<((sample + 1) * pixels)])
                let region = maskValues[(sample * pixels)..<((sample + 1) * pixels)].map { invert ? $0 : 1 - $0 }
                let peak = map.max() ?? 0
                XCTAssertGreaterThan(peak, 0, "sample \(sample)'s map is not all zero")
                let scaled = map.map { $0 / (peak + 1e-8) }
                let overlap = 2 * zip(scaled, region).map { $0 * $1 }.reduce(0, +)
                expected += 1 - overlap / (scaled.reduce(0, +) + region.reduce(0, +) + 1e-8)
            }
            expected = 3 * expected / Double(maps.shape[0])
            let dice = try registry.build(
                .regularizer, "grad_cam_pp_penalty",
                options: [
                    "layer": .string("1"), "invert": .boolean(invert), "form": .string("dice"), "weight": .number(3),
                ])
            XCTAssertEqual(try dice.penalty(context).item(), expected, accuracy: 1e-12, "dice, invert \(invert)")
        }
        XCTAssertThrowsError(
            try registry.build(.regularizer, "grad_cam_pp_penalty", options: ["form": .string("iou")])
        ) { error in XCTAssertTrue("\(error)".contains("form"), "\(error)") }
        XCTAssertThrowsError(
            try registry.build(.regularizer, "grad_cam_penalty", options: ["layer": .string("conv9")])
                .requirements(model: RegularizedModel(module: model, inputKey: "images"))
        ) { error in XCTAssertTrue("\(error)".contains("no layer 'conv9'"), "\(error)") }
    }

    // MARK: - RR-ClArC

    func testRRClArCMatchesTheReferenceLoss() throws {
        let fixture = try Fixture("regularizers.safetensors")
        let cases: [(String, String, String, String)] = [
            ("all_l2_mean", "all_logits", "l2_mean", "concept"), ("max_l2", "max_logit", "l2", "concept"),
            ("target_l1_mean", "target_logit", "l1_mean", "concept"), ("all_cosine", "all_logits", "cosine", "concept"),
            ("all_full_l2", "all_logits", "l2", "full_concept"),
            // No aggregation given: l2_mean for a per-channel concept, l2 for a whole-map one.
            ("all_l2_mean", "all_logits", "", "concept"), ("all_full_l2", "all_logits", "", "full_concept"),
        ]
        for (tag, target, aggregation, concept) in cases {
            let model = try camNetwork(fixture)
            var options: [String: ConfigValue] = [
                "weight": .number(3), "layer": .string("1"), "target": .string(target),
                "concept": .tensor(try fixture["rr_clarc.\(concept)"]),
            ]
            if !aggregation.isEmpty { options["aggregation"] = .string(aggregation) }
            let penalty = try registry.build(.regularizer, "rr_clarc", options: options)
            let images = try fixture["cam.images"]
            let value = try penalty.penalty(
                RegularizerContext(
                    inputs: images, targets: try fixture["cam.labels"],
                    model: RegularizedModel(module: model, inputKey: "images"), batch: ["images": images],
                    inputKey: "images"))
            assertClose(try value.reshaped([1]), try fixture["rr_clarc.\(tag).penalty"], tolerance: 1e-10, tag)
            try value.backward()
            for (name, parameter) in model.namedParameters() {
                let expected = try fixture["rr_clarc.\(tag).grad.\(name)"]
                assertClose(parameter.grad ?? expected.zerosLike(), expected, tolerance: 1e-9, "\(tag) ∂/∂\(name)")
            }
        }
        // The default objective, all logits with random signs, draws its signs from the seeded generator.
        let random = try registry.build(
            .regularizer, "rr_clarc",
            options: ["layer": .string("1"), "concept": .tensor(try fixture["rr_clarc.concept"])])
        let model = try camNetwork(fixture)
        let images = try fixture["cam.images"]
        func draw(_ seed: UInt64) throws -> Double {
            RandomGenerator.shared.reseed(seed)
            return try random.penalty(
                RegularizerContext(
                    inputs: images, model: RegularizedModel(module: model, inputKey: "images"),
                    batch: ["images": images], inputKey: "images")
            ).item()
        }
        XCTAssertEqual(try draw(3), try draw(3))
        XCTAssertNotEqual(try draw(3), try draw(4))
        // A concept that fits neither the channels nor the activations is refused, naming both counts.
        let wrong = try registry.build(
            .regularizer, "rr_clarc", options: ["layer": .string("1"), "concept": .tensor(try Tensor.ones([5]))])
        XCTAssertThrowsError(
            try wrong.penalty(
                RegularizerContext(
                    inputs: images, model: RegularizedModel(module: try camNetwork(fixture), inputKey: "images"),
                    batch: ["images": images], inputKey: "images"))
        ) { error in XCTAssertTrue("\(error)".contains("3 channels (192 activations)"), "\(error)") }
    }

    // MARK: - IRM

    func testIRMPenaltyAndGradientMatchTheReferenceCode() throws {
        let fixture = try Fixture("regularizers.safetensors")
        let irm = InvariantRisk(weight: 1, annealSteps: 0)
        for tag in ["irm_binary", "irm_multiclass"] {
            let logits = try fixture["\(tag).logits"].copy().requiringGrad()
            let penalty = try irm.penalty(
                RegularizerContext(
                    logits: logits, targets: try fixture["\(tag).targets"],
                    environments: try fixture["irm.environments"]
                ))
            assertClose(try penalty.reshaped([1]), try fixture["\(tag).penalty"], tolerance: 1e-10, "\(tag) penalty")
            try penalty.backward()
            assertClose(logits.grad, try fixture["\(tag).grad"], tolerance: 1e-9, "\(tag) gradient")
        }
    }

    func testIRMAnnealsItsWeightAndRescalesTheLossAsTheReference() throws {
        let irm = try registry.build(
            .regularizer, "irm", options: ["weight": .number(1000), "anneal_steps": .number(3)])
        XCTAssertEqual(irm.lossScale(step: 2), 1)
        XCTAssertEqual(irm.lossScale(step: 3), 1e-3)
        let logits = try Tensor(shape: [4], values: [0.3, -1.2, 2.0, 0.1], dtype: .float64)
        func value(step: Int) throws -> Double {
            try irm.penalty(
                RegularizerContext(
                    logits: logits, targets: try Tensor(shape: [4], values: [1, 0, 1, 1], dtype: .float64),
                    environments: try Tensor(shape: [4], integers: [0, 0, 1, 1]), step: step)
            ).item()
        }
        XCTAssertEqual(try value(step: 3), 1000 * (try value(step: 0)), accuracy: 1e-9)
        XCTAssertEqual(try irm.requirements(model: nil).fields.sorted(), ["environments", "targets"])
    }

    // MARK: - Fairness penalties, by hand

    /// Binary logits of 6 samples in groups 0 0 0 1 1 1 with targets 1 0 1 1 0 0.
    let logitValues = [0.5, -1.0, 2.0, 0.0, 1.5, -0.5]
    let groupValues = [0, 0, 0, 1, 1, 1]
    let targetValues = [1, 0, 1, 1, 0, 0]
    func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
    func hinge(_ gap: Double, _ slack: Double) -> Double {
        pow(max(gap - slack, 0), 2) + pow(max(-gap - slack, 0), 2)
    }

    func fairnessContext(_ logits: Tensor) throws -> RegularizerContext {
        RegularizerContext(
            logits: logits, targets: try Tensor(shape: [6], integers: targetValues),
            groups: try Tensor(shape: [6], integers: groupValues))
    }

    func testDemographicParityAndEqualizedOddsMatchAHandComputation() throws {
        let h = logitValues.map(sigmoid)
        for slack in [0.0, 0.05] {
            // Demographic parity: each group's mean probability against the overall mean.
            let overall = mean(h)
            let expectedParity =
                3
                * [0, 1].map { g in
                    hinge(mean(h.indices.filter { groupValues[$0] == g }.map { h[$0] }) - overall, slack)
                }.reduce(0, +)
            let parity = try registry.build(
                .regularizer, "demographic_parity", options: ["weight": .number(3), "slack": .number(slack)])
            let logits = try Tensor(shape: [6, 1], values: logitValues, dtype: .float64)
            XCTAssertEqual(try parity.penalty(fairnessContext(logits)).item(), expectedParity, accuracy: 1e-12)
            // Equalized odds: the same within each true class.
            var expectedOdds = 0.0
            for y in [1, 0] {
                let rows = h.indices.filter { targetValues[$0] == y }
                let conditional = mean(rows.map { h[$0] })
                for g in [0, 1] {
                    let member = rows.filter { groupValues[$0] == g }
                    if !member.isEmpty { expectedOdds += hinge(mean(member.map { h[$0] }) - conditional, slack) }
                }
            }
            let odds = try registry.build(.regularizer, "equalized_odds", options: ["slack": .number(slack)])
            XCTAssertEqual(try odds.penalty(fairnessContext(logits)).item(), expectedOdds, accuracy: 1e-12)
        }
        // Two softmax logits [0, z] give the same probabilities as one logit z.
        let twoColumn = try Tensor(
            shape: [6, 2], values: logitValues.flatMap { [0, $0] }, dtype: .float64)
        let single = try Tensor(shape: [6], values: logitValues, dtype: .float64)
        let parity = try registry.build(.regularizer, "demographic_parity", options: [:])
        XCTAssertEqual(
            try parity.penalty(fairnessContext(twoColumn)).item(), try parity.penalty(fairnessContext(single)).item(),
            accuracy: 1e-12)
    }

    func testPrejudiceRemoverMatchesAHandComputationOfTheMutualInformation() throws {
        let p = logitValues.map(sigmoid)
        var total = 0.0
        let marginal = mean(p)
        for i in p.indices {
            let conditional = mean(p.indices.filter { groupValues[$0] == groupValues[i] }.map { p[$0] })
            total += p[i] * Foundation.log(conditional / marginal)
            total += (1 - p[i]) * Foundation.log((1 - conditional) / (1 - marginal))
        }
        let remover = try registry.build(.regularizer, "prejudice_remover", options: ["weight": .number(2)])
        let value = try remover.penalty(fairnessContext(try Tensor(shape: [6], values: logitValues, dtype: .float64)))
        XCTAssertEqual(try value.item(), 2 * total / 6, accuracy: 1e-12)
        // Independent predictions carry no information.
        let flat = try Tensor(shape: [6, 3], values: (0..<18).map { Double($0 % 3) }, dtype: .float64)
        XCTAssertEqual(try remover.penalty(fairnessContext(flat)).item(), 0, accuracy: 1e-12)
    }

    func testFairnessPenaltiesNameWhatTheyLack() throws {
        let logits = try Tensor(shape: [6], values: logitValues, dtype: .float64)
        for name in ["demographic_parity", "equalized_odds", "prejudice_remover"] {
            let penalty = try registry.build(.regularizer, name, options: [:])
            XCTAssertThrowsError(try penalty.penalty(RegularizerContext(logits: logits))) { error in
                XCTAssertTrue("\(error)".contains("groups"), "\(name): \(error)")
            }
            XCTAssertTrue(try penalty.requirements(model: nil).fields.contains("groups"))
        }
        let parity = try registry.build(.regularizer, "demographic_parity", options: ["positive": .number(4)])
        XCTAssertThrowsError(
            try parity.penalty(fairnessContext(try Tensor.zeros([6, 3], dtype: .float64)))
        ) { error in XCTAssertTrue("\(error)".contains("positive = 4"), "\(error)") }
    }

    // MARK: - Gradient checks

    func testEveryPenaltyPassesFirstAndSecondOrderGradientChecks() throws {
        let generator = RandomGenerator(seed: 23)
        let groups = try Tensor(shape: [8], integers: [0, 1, 2, 0, 1, 2, 0, 1])
        let targets = try Tensor(shape: [8], integers: [0, 1, 2, 2, 1, 0, 1, 2])
        let logits = try Tensor.normal([8, 3], dtype: .float64, generator: generator)
        let penalties: [(String, [String: ConfigValue])] = [
            ("demographic_parity", [:]), ("demographic_parity", ["positive": .number(1), "slack": .number(0.01)]),
            ("equalized_odds", [:]), ("prejudice_remover", [:]),
        ]
        for (name, options) in penalties {
            let penalty = try registry.build(.regularizer, name, options: options)
            let reports = try GradientCheck.check(inputs: [logits]) { leaves in
                try penalty.penalty(RegularizerContext(logits: leaves[0], targets: targets, groups: groups))
            }
            for report in reports { XCTAssertTrue(report.passed, "\(name) \(options): \(report)") }
        }
        let irm = InvariantRisk(weight: 1, annealSteps: 0)
        for binary in [true, false] {
            let irmLogits = binary ? try Tensor.normal([8], dtype: .float64, generator: generator) : logits
            let irmTargets =
                binary ? try Tensor(shape: [8], values: [1, 0, 0, 1, 1, 0, 1, 0], dtype: .float64) : targets
            let reports = try GradientCheck.check(inputs: [irmLogits]) { leaves in
                try irm.penalty(RegularizerContext(logits: leaves[0], targets: irmTargets, environments: groups))
            }
            for report in reports { XCTAssertTrue(report.passed, "irm binary \(binary): \(report)") }
        }
        // CAM penalties through a small CNN: the map's weights are gradients, differentiated again. (Its own
        // generator: the point must keep every map away from the relu kink where a map is zero everywhere.)
        let camGenerator = RandomGenerator(seed: 23)
        let cnn = Sequential([
            try Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), dtype: .float64, generator: camGenerator), Tanh(),
            Flatten(), try Linear(32, 3, dtype: .float64, generator: camGenerator),
        ])
        let images = try Tensor.normal([3, 1, 4, 4], dtype: .float64, generator: camGenerator)
        let patch = try Tensor(
            shape: [3, 4, 4], values: (0..<48).map { Double(($0 % 16) < 6 ? 1 : 0) }, dtype: .float64)
        let concept = try Tensor(shape: [2], values: [0.6, -0.8], dtype: .float64)
        for (name, options) in [
            ("grad_cam_penalty", [:]), ("grad_cam_pp_penalty", [:]),
            ("grad_cam_pp_penalty", ["form": ConfigValue.string("dice")]),
            ("grad_cam_penalty", ["form": ConfigValue.string("dice"), "invert": .boolean(true)]),
            ("rr_clarc", ["concept": ConfigValue.tensor(concept), "target": .string("max_logit")]),
            (
                "rr_clarc",
                [
                    "concept": ConfigValue.tensor(concept), "aggregation": .string("cosine"),
                    "target": .string("all_logits"),
                ]
            ),
        ] as [(String, [String: ConfigValue])] {
            let penalty = try registry.build(
                .regularizer, name, options: options.merging(["layer": .string("1")]) { a, _ in a })
            let reports = try GradientCheck.check(leaves: cnn.parameters()) {
                try penalty.penalty(
                    RegularizerContext(
                        inputs: images, targets: try Tensor(shape: [3], integers: [0, 2, 1]),
                        model: RegularizedModel(module: cnn, inputKey: "images"),
                        batch: ["images": images, "artifact_masks": patch], inputKey: "images"))
            }
            for report in reports { XCTAssertTrue(report.passed, "\(name) \(options): \(report)") }
        }
        // rrr through an MLP: its gradient is itself a gradient (third derivatives in the second-order check).
        let model = Sequential([
            try Linear(4, 5, dtype: .float64, generator: generator), Tanh(),
            try Linear(5, 3, dtype: .float64, generator: generator),
        ])
        let inputs = try Tensor.normal([5, 4], dtype: .float64, generator: generator)
        let mask = try Tensor(shape: [5, 4], values: (0..<20).map { Double($0 % 3 == 0 ? 1 : 0) }, dtype: .float64)
        for options: [String: ConfigValue] in [
            [:], ["form": .string("cosine"), "objective": .string("target_logit")],
            ["attribution": .string("gradient_times_input")],
        ] {
            let rrr = try registry.build(
                .regularizer, "rrr", options: options.merging(["weight": .number(1)]) { a, _ in a })
            let reports = try GradientCheck.check(leaves: model.parameters()) {
                try rrr.penalty(
                    RegularizerContext(
                        inputs: inputs, targets: try Tensor(shape: [5], integers: [0, 1, 2, 1, 0]),
                        model: RegularizedModel(module: model, inputKey: "inputs"),
                        batch: ["inputs": inputs, "artifact_masks": mask], inputKey: "inputs"))
            }
            for report in reports { XCTAssertTrue(report.passed, "rrr \(options): \(report)") }
        }
    }
}
