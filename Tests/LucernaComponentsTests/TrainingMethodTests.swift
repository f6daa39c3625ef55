import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// The bias-aware training methods: group DRO's weights and loss against the reference recursion, the
/// adversarial-debiasing update against AIF360's on a fixed example (both from
/// `scripts/golden/make_method_golden.py`), reweighing and JTT against hand computations.
final class TrainingMethodTests: XCTestCase {
    func dataset(groups: [Int], labels: [Int]? = nil) throws -> TensorDataset {
        var tensors = [("groups", try Tensor(shape: [groups.count], integers: groups))]
        if let labels { tensors.append(("labels", try Tensor(shape: [labels.count], integers: labels))) }
        return TensorDataset(name: "test", tensors: tensors)
    }

    func testGroupDROFollowsTheReferenceRecursion() throws {
        let fixture = try Fixture("methods.safetensors")
        let counts = try fixture["group_dro.counts"].toIntegers()
        // A training set with those group sizes.
        let groups = counts.enumerated().flatMap { Array(repeating: $0.offset, count: $0.element) }
        let method = GroupDRO(stepSize: 0.1, adjustment: 2, withLabels: false)
        try method.prepare(try dataset(groups: groups), keys: TrainingKeys())
        XCTAssertEqual(method.groupSizes, counts)
        for step in 0..<3 {
            let losses = try fixture["group_dro.\(step).losses"].requiringGrad()
            let context = RegularizerContext(groups: try fixture["group_dro.\(step).groups"])
            let loss = try method.loss(losses, context)
            assertClose(try loss.reshaped([1]), try fixture["group_dro.\(step).loss"], tolerance: 1e-12, "loss \(step)")
            assertClose(
                try XCTUnwrap(method.weights), try fixture["group_dro.\(step).weights"], tolerance: 1e-12,
                "weights \(step)")
            try loss.backward()
            assertClose(losses.grad, try fixture["group_dro.\(step).gradient"], tolerance: 1e-12, "gradient \(step)")
        }
        let logged = Dictionary(uniqueKeysWithValues: try method.epochValues().map { ($0.name, $0.value) })
        XCTAssertEqual(
            logged["group_weight_3"] ?? 0, try fixture["group_dro.2.weights"].toDoubles()[3], accuracy: 1e-12)
        XCTAssertNotNil(logged["group_loss_3"])
    }

    func testGroupDROCrossesGroupsWithLabels() throws {
        let method = GroupDRO(stepSize: 1, withLabels: true)
        try method.prepare(try dataset(groups: [0, 0, 1, 1, 1], labels: [0, 1, 0, 1, 1]), keys: TrainingKeys())
        XCTAssertEqual(method.groupSizes, [1, 1, 1, 2])  // (g, y) → 2g + y
        XCTAssertEqual(method.groupIndices(groups: [1, 0], labels: [1, 0]), [3, 0])
        // Only group (1, 1) has loss: its weight grows by e¹ against the others' e⁰.
        let losses = try Tensor(shape: [2], values: [1, 0], dtype: .float64)
        let context = RegularizerContext(
            targets: try Tensor(shape: [2], integers: [1, 0]), groups: try Tensor(shape: [2], integers: [1, 0]))
        let loss = try method.loss(losses, context)
        let e = Foundation.exp(1.0)
        assertClose(
            try XCTUnwrap(method.weights),
            try Tensor(shape: [4], values: [1, 1, 1, e].map { $0 / (3 + e) }, dtype: .float64), tolerance: 1e-12,
            "weights")
        XCTAssertEqual(try loss.item(), e / (3 + e), accuracy: 1e-12)
        XCTAssertThrowsError(
            try method.loss(
                losses,
                RegularizerContext(
                    targets: try Tensor(shape: [2], integers: [1, 0]), groups: try Tensor(shape: [2], integers: [2, 0]))
            )
        ) { XCTAssertTrue("\($0)".contains("group 5")) }
        XCTAssertThrowsError(try method.loss(try Tensor.ones([2, 1]), context)) {
            XCTAssertTrue("\($0)".contains("reduction = \"none\""), "\($0)")
        }
    }

    func testReweighingMakesGroupAndLabelIndependent() throws {
        let groups = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
        let labels = [0, 0, 0, 0, 0, 1, 0, 1, 1, 1]
        let weights = try Reweighing.weights(groups: groups, labels: labels)
        // n = 10; n_g = 6, 4; n_y = 6, 4; n_gy = 5, 1, 1, 3: w = n_g n_y / (n n_gy).
        XCTAssertEqual(weights[0][0], 6 * 6 / (10 * 5.0), accuracy: 1e-12)
        XCTAssertEqual(weights[0][1], 6 * 4 / (10 * 1.0), accuracy: 1e-12)
        XCTAssertEqual(weights[1][0], 4 * 6 / (10 * 1.0), accuracy: 1e-12)
        XCTAssertEqual(weights[1][1], 4 * 4 / (10 * 3.0), accuracy: 1e-12)
        // Weighted, the joint distribution is the product of the marginals.
        var joint = [[0.0, 0], [0, 0]]
        for (group, label) in zip(groups, labels) { joint[group][label] += weights[group][label] / 10 }
        for group in 0..<2 {
            for label in 0..<2 {
                let product =
                    Double(groups.filter { $0 == group }.count) * Double(labels.filter { $0 == label }.count) / 100
                XCTAssertEqual(joint[group][label], product, accuracy: 1e-12)
            }
        }
        // The loss is the batch's weighted mean.
        let method = Reweighing()
        try method.prepare(try dataset(groups: groups, labels: labels), keys: TrainingKeys())
        let losses = try Tensor(shape: [3], values: [1, 2, 3], dtype: .float64)
        let context = RegularizerContext(
            targets: try Tensor(shape: [3], integers: [0, 1, 1]), groups: try Tensor(shape: [3], integers: [0, 0, 1]))
        let expected =
            (weights[0][0] * 1 + weights[0][1] * 2 + weights[1][1] * 3)
            / (weights[0][0] + weights[0][1] + weights[1][1])
        XCTAssertEqual(try method.loss(losses, context).item(), expected, accuracy: 1e-12)
        XCTAssertEqual(try method.epochValues().count, 4)
    }

    func testAdversarialDebiasingMatchesAIF360sProjectedUpdate() throws {
        let fixture = try Fixture("methods.safetensors")
        let inputs = try fixture["adversarial.inputs"]
        let labels = try fixture["adversarial.labels"].to(.int64)
        let groups = try fixture["adversarial.groups"].to(.int64)
        let weight = try fixture["adversarial.predictor_weight"].requiringGrad()
        let bias = try fixture["adversarial.predictor_bias"].requiringGrad()
        let method = AdversarialDebiasing(alpha: 0.1, equalizedOdds: true)
        try method.prepare(
            TensorDataset(name: "fixed", tensors: [("labels", labels), ("groups", groups)]), keys: TrainingKeys())
        try method.setAdversary(
            scale: try Tensor(shape: [], values: [1], dtype: .float64),
            weight: try fixture["adversarial.adversary_weight"],
            bias: try Tensor.zeros([1], dtype: .float64))
        let logits = try inputs.matmul(weight) + bias
        let losses = try Losses.binaryCrossEntropyWithLogits(
            logits.reshaped([6]), labels.to(.float64), reduction: .none)
        let context = RegularizerContext(logits: logits, targets: labels, groups: groups)
        let loss = try method.loss(losses, context)
        try method.backward(loss, context: context, parameters: [weight, bias] + method.parameters())
        assertClose(weight.grad, try fixture["adversarial.predictor_weight_gradient"], tolerance: 1e-12, "∂W")
        assertClose(bias.grad, try fixture["adversarial.predictor_bias_gradient"], tolerance: 1e-12, "∂b")
        let own = method.parameters()
        assertClose(
            try XCTUnwrap(own[0].grad).reshaped([1]), try fixture["adversarial.adversary_scale_gradient"],
            tolerance: 1e-12, "∂c")
        assertClose(own[1].grad, try fixture["adversarial.adversary_weight_gradient"], tolerance: 1e-12, "∂W_A")
        assertClose(own[2].grad, try fixture["adversarial.adversary_bias_gradient"], tolerance: 1e-12, "∂b_A")
        let logged = Dictionary(uniqueKeysWithValues: try method.epochValues().map { ($0.name, $0.value) })
        XCTAssertEqual(logged["adversary_loss"] ?? 0, try fixture["adversarial.adversary_loss"].item(), accuracy: 1e-12)
    }

    func testAdversarialDebiasingReadsTwoLogitsAsTheirDifference() throws {
        let method = AdversarialDebiasing()
        try method.prepare(
            try dataset(groups: [0, 1, 0, 1], labels: [0, 1, 1, 0]), keys: TrainingKeys())
        let single = try Tensor(shape: [4, 1], values: [0.5, -1, 2, 0.25], dtype: .float32)
        let pair = try Tensor.concatenate([try Tensor.zeros([4, 1]), single], axis: 1)
        let targets = try Tensor(shape: [4], integers: [0, 1, 1, 0])
        let groups = try Tensor(shape: [4], integers: [0, 1, 0, 1])
        let one = try method.adversaryLoss(logits: single, targets: targets, groups: groups).item()
        let two = try method.adversaryLoss(logits: pair, targets: targets, groups: groups).item()
        XCTAssertEqual(one, two, accuracy: 1e-6)
        XCTAssertThrowsError(
            try method.adversaryLoss(logits: try Tensor.zeros([4, 3]), targets: targets, groups: groups))
    }

    func testJTTUpsamplesTheErrorSet() throws {
        let method = JustTrainTwice(epochs: 2, upweight: 3)
        let rows = try method.secondStageRows(misclassified: [false, true, false, true])
        XCTAssertEqual(rows, [0, 1, 2, 3, 1, 3, 1, 3])
        XCTAssertEqual(try method.epochValues().first?.value, 2)
        XCTAssertEqual(
            try JustTrainTwice(epochs: 1, upweight: 1).secondStageRows(misclassified: [true, false]), [0, 1])
    }

    func testMethodsAreRegisteredAndCheckTheirOptions() throws {
        let registry = Registry.standard()
        for name in ["group_dro", "reweighing", "jtt", "adversarial_debiasing"] {
            XCTAssertNoThrow(try registry.build(.method, name, options: [:]), name)
        }
        XCTAssertThrowsError(try registry.build(.method, "group_dro", options: ["step_size": .number(-1)]))
        XCTAssertThrowsError(try registry.build(.method, "jtt", options: ["upweight": .number(0)]))
        XCTAssertThrowsError(
            try registry.build(.method, "adversarial_debiasing", options: ["criterion": .string("parity")]))
    }
}
