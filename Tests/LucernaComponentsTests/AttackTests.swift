import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// The gradient attacks against torchattacks on fixed float64 weights and inputs
/// (`scripts/golden/make_attack_golden.py`), and property tests: every iterate stays in its ball and in the
/// valid range, on random models and inputs.
final class AttackTests: XCTestCase {
    let registry = Registry.standard()

    func model(_ fixture: Fixture) throws -> Sequential {
        let model = try Sequential([
            Conv2d(1, 4, kernelSize: (3, 3), padding: (1, 1), dtype: .float64), ReLU(), MaxPool2d(2), Flatten(),
            Linear(64, 16, dtype: .float64), ReLU(), Linear(16, 5, dtype: .float64),
        ])
        try model.loadStateDict(fixture.state())
        return model
    }

    func attack(_ name: String, _ options: [String: ConfigValue]) throws -> Attack {
        try registry.build(.attack, name, options: options)
    }

    func testGradientAttacksMatchTorchattacks() throws {
        let fixture = try Fixture("attacks.safetensors")
        let model = try model(fixture)
        let images = try fixture["images"]
        let labels = try fixture["labels"]
        let cases: [(String, String, [String: ConfigValue], Tensor)] = [
            ("fgsm", "fgsm", ["eps": .number(0.1)], labels),
            ("fgsm.targeted", "fgsm", ["eps": .number(0.1), "targeted": .boolean(true)], try fixture["targets"]),
            ("bim", "bim", ["eps": .number(0.1), "alpha": .number(0.02), "steps": .number(5)], labels),
            (
                "pgd", "pgd",
                ["eps": .number(0.1), "alpha": .number(0.02), "steps": .number(7), "random_start": .boolean(false)],
                labels
            ),
            (
                "pgd_l2", "pgd",
                [
                    "eps": .number(1), "alpha": .number(0.2), "steps": .number(5), "random_start": .boolean(false),
                    "norm": .string("l2"),
                ], labels
            ),
            (
                "mifgsm", "mifgsm",
                ["eps": .number(0.1), "alpha": .number(0.02), "steps": .number(5), "decay": .number(1)], labels
            ),
            ("deepfool", "deepfool", ["steps": .number(50), "overshoot": .number(0.02)], labels),
            ("cw", "cw", ["c": .number(5), "kappa": .number(0), "steps": .number(100), "lr": .number(0.01)], labels),
        ]
        for (key, name, options, given) in cases {
            let adversarial = try attack(name, options).perturb(model: model, inputs: images, targets: given)
            assertClose(adversarial, try fixture[key], tolerance: 1e-5, key)
            XCTAssertNotEqual(adversarial.toDoubles(), images.toDoubles(), "\(key) changes the inputs")
        }
    }

    func testEveryIterateStaysInTheBallAndTheValidRange() throws {
        let generator = RandomGenerator(seed: 12)
        for trial in 0..<4 {
            let model = try Sequential([
                Flatten(), Linear(12, 7, generator: generator), Tanh(), Linear(7, 3, generator: generator),
            ])
            let inputs = try Tensor.uniform([6, 1, 3, 4], generator: generator)
            let labels = try Tensor(shape: [6], integers: (0..<6).map { ($0 + trial) % 3 })
            let eps = 0.05 * Double(trial + 1)
            let linf: [(String, [String: ConfigValue])] = [
                ("fgsm", [:]), ("fgsm_rs", [:]), ("bim", ["steps": .number(6), "alpha": .number(eps / 3)]),
                ("pgd", ["steps": .number(6), "alpha": .number(eps / 3), "restarts": .number(2)]),
                ("mifgsm", ["steps": .number(6), "alpha": .number(eps / 3)]),
                ("pgd", ["steps": .number(4), "alpha": .number(eps), "targeted": .boolean(true)]),
                ("apgd_ce", ["steps": .number(10), "restarts": .number(2)]), ("apgd_dlr", ["steps": .number(10)]),
                ("square", ["queries": .number(30), "restarts": .number(2)]),
            ]
            let x = inputs.toDoubles()
            for (name, extra) in linf {
                var options = extra
                options["eps"] = .number(eps)
                let adversarial = try attack(name, options).perturb(model: model, inputs: inputs, targets: labels)
                    .toDoubles()
                for (a, b) in zip(adversarial, x) {
                    XCTAssertLessThanOrEqual(abs(a - b), eps + 1e-6, "\(name) leaves the L∞ ball")
                    XCTAssert(a >= 0 && a <= 1, "\(name) leaves the valid range")
                }
            }
            for l2 in [
                try attack(
                    "pgd",
                    [
                        "eps": .number(eps * 4), "alpha": .number(eps), "steps": .number(6), "norm": .string("l2"),
                        "restarts": .number(2),
                    ]),
                try attack("apgd_ce", ["eps": .number(eps * 4), "steps": .number(10), "norm": .string("l2")]),
            ] {
                let adversarial = try l2.perturb(model: model, inputs: inputs, targets: labels).toDoubles()
                for sample in 0..<6 {
                    let length = (sample * 12..<(sample + 1) * 12).reduce(0) {
                        $0 + (adversarial[$1] - x[$1]) * (adversarial[$1] - x[$1])
                    }.squareRoot()
                    XCTAssertLessThanOrEqual(length, eps * 4 + 1e-5, "\(l2.label) leaves the L2 ball")
                    for index in sample * 12..<(sample + 1) * 12 {
                        XCTAssert(adversarial[index] >= 0 && adversarial[index] <= 1)
                    }
                }
            }
        }
    }

    /// DeepFool flips every prediction with a small L2 step; C&W's binary search finds successes for inputs
    /// that fail at the first c, and never returns a larger perturbation than a fixed-c run that succeeds.
    func testMinimalPerturbationAttacks() throws {
        let fixture = try Fixture("attacks.safetensors")
        let model = try model(fixture)
        let images = try fixture["images"]
        let labels = try fixture["labels"]
        // DeepFool: the inputs it flips, it flips with smaller L2 steps than an L∞ PGD of 0.1 needs.
        let fooled = try attack("deepfool", [:]).perturb(model: model, inputs: images, targets: labels)
        let flipped = zip(try model(fooled).argmax(axis: 1).toIntegers(), labels.toIntegers()).enumerated().filter {
            $0.element.0 != $0.element.1
        }.map(\.offset)
        XCTAssertGreaterThanOrEqual(flipped.count, 4)
        let (a, b, c) = (fooled.toDoubles(), images.toDoubles(), try fixture["pgd"].toDoubles())
        for sample in flipped {
            let range = sample * 64..<(sample + 1) * 64
            let deepfool = range.reduce(0) { $0 + (a[$1] - b[$1]) * (a[$1] - b[$1]) }
            let pgd = range.reduce(0) { $0 + (c[$1] - b[$1]) * (c[$1] - b[$1]) }
            XCTAssertLessThan(deepfool, pgd, "sample \(sample)")
        }
        func successes(_ adversarial: Tensor) throws -> Int {
            zip(try model(adversarial).argmax(axis: 1).toIntegers(), labels.toIntegers()).filter { $0 != $1 }.count
        }
        let fixed = try attack("cw", ["c": .number(0.1), "steps": .number(60), "lr": .number(0.05)]).perturb(
            model: model, inputs: images, targets: labels)
        let searched = try attack(
            "cw", ["c": .number(0.1), "steps": .number(60), "lr": .number(0.05), "binary_search_steps": .number(4)]
        )
        .perturb(model: model, inputs: images, targets: labels)
        XCTAssertGreaterThan(try successes(searched), try successes(fixed))
        XCTAssert(searched.toDoubles().allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    /// APGD: the DLR loss ignores shifts and positive scalings of the logits; inputs the model already gets
    /// wrong are left alone; on the golden model APGD-CE and APGD-DLR fool at least as many inputs as FGSM.
    func testAutoPGD() throws {
        let fixture = try Fixture("attacks.safetensors")
        let model = try model(fixture)
        let images = try fixture["images"]
        let labels = try fixture["labels"]
        let dlr = try XCTUnwrap(try registry.build(.attack, "apgd_dlr", options: [:]) as? AutoPGD)
        let logits = try Tensor.normal([4, 5], dtype: .float64)
        let a = try dlr.sampleLosses(logits, labels: [0, 1, 2, 3]).toDoubles()
        let b = try dlr.sampleLosses(logits * 3 + 5, labels: [0, 1, 2, 3]).toDoubles()
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-9) }
        let wrong = try Tensor(shape: [8], integers: Array(repeating: 3, count: 8))  // the model predicts 0 everywhere
        XCTAssertEqual(
            try attack("apgd_ce", ["eps": .number(0.1)]).perturb(model: model, inputs: images, targets: wrong)
                .toDoubles(), images.toDoubles())
        func fooled(_ adversarial: Tensor) throws -> Int {
            zip(try model(adversarial).argmax(axis: 1).toIntegers(), labels.toIntegers()).filter { $0 != $1 }.count
        }
        let fgsm = try fooled(
            attack("fgsm", ["eps": .number(0.1)]).perturb(model: model, inputs: images, targets: labels))
        XCTAssertGreaterThanOrEqual(
            try fooled(
                attack("apgd_ce", ["eps": .number(0.1), "steps": .number(50)]).perturb(
                    model: model, inputs: images, targets: labels)), fgsm)
        XCTAssertGreaterThanOrEqual(
            try fooled(
                attack("apgd_dlr", ["eps": .number(0.1), "steps": .number(50)]).perturb(
                    model: model, inputs: images, targets: labels)), fgsm)
        // Square, without gradients: fools some inputs, and every one it returns changed is fooled.
        let square = try attack("square", ["eps": .number(0.1), "queries": .number(300)]).perturb(
            model: model, inputs: images, targets: labels)
        let predictions = try model(square).argmax(axis: 1).toIntegers()
        XCTAssertGreaterThan(try fooled(square), 0)
        for sample in 0..<8
        where Array(square.toDoubles()[sample * 64..<(sample + 1) * 64])
            != Array(images.toDoubles()[sample * 64..<(sample + 1) * 64])
        {
            XCTAssertNotEqual(predictions[sample], labels.toIntegers()[sample])
        }
        XCTAssertEqual(
            try attack("square", ["eps": .number(0.1)]).perturb(
                model: model, inputs: images, targets: Tensor(shape: [8], integers: Array(repeating: 3, count: 8))
            ).toDoubles(),
            images.toDoubles(), "misclassified inputs are left alone")
    }

    func testPGDFoolsAnUndefendedModelMoreThanFGSMAndRestartsKeepSuccesses() throws {
        let fixture = try Fixture("attacks.safetensors")
        let model = try model(fixture)
        let images = try fixture["images"]
        let labels = try fixture["labels"]
        func accuracy(_ inputs: Tensor) throws -> Double {
            let predictions = try model(inputs).argmax(axis: 1).toIntegers()
            return Double(zip(predictions, labels.toIntegers()).filter { $0 == $1 }.count) / Double(predictions.count)
        }
        let pgd = try accuracy(
            attack("pgd", ["eps": .number(0.1), "alpha": .number(0.01), "steps": .number(20), "restarts": .number(3)])
                .perturb(model: model, inputs: images, targets: labels))
        let fgsm = try accuracy(
            attack("fgsm", ["eps": .number(0.1)]).perturb(model: model, inputs: images, targets: labels))
        XCTAssertLessThanOrEqual(pgd, fgsm)
        XCTAssertThrowsError(try registry.build(.attack, "pgd", options: ["norm": .string("l1")]))
        XCTAssertThrowsError(
            try attack("fgsm", [:]).perturb(
                model: model, inputs: images, targets: Tensor(shape: [2], integers: [0, 1])))
    }
}
