import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTestSupport
import XCTest

/// The text attacks against an independent PyTorch implementation of their definitions
/// (`scripts/golden/make_text_attack_golden.py`, a float64 bag-of-embeddings classifier), and their
/// budgets: per-token balls, padding untouched, at most `budget` substitutions.
final class TextAttackTests: XCTestCase {
    let registry = Registry.standard()

    func model(_ fixture: Fixture) throws -> Sequential {
        let model = try Sequential([
            EmbeddingBagEncoder(vocabulary: 40, dimension: 6, dtype: .float64), Linear(6, 3, dtype: .float64),
        ])
        try model.loadStateDict(fixture.state())
        return model
    }

    func attack(_ name: String, _ options: [String: ConfigValue]) throws -> Attack {
        try registry.build(.attack, name, options: options)
    }

    func testEmbeddingPGDMatchesItsPyTorchDefinition() throws {
        let fixture = try Fixture("text_attacks.safetensors")
        let model = try model(fixture)
        let tokens = try fixture["tokens"]
        let labels = try fixture["labels"]
        for (name, options) in [
            ("l2", ["eps": ConfigValue.number(1.5), "alpha": .number(0.5), "steps": .number(5)]),
            ("linf", ["eps": .number(0.4), "alpha": .number(0.15), "steps": .number(4), "norm": .string("linf")]),
        ] {
            let pgd = try attack("embedding_pgd", options)
            let logits = try pgd.adversarialLogits(model: model, inputs: tokens, targets: labels)
            let expected = try fixture["embedding_pgd.\(name).logits"].toDoubles()
            for (a, b) in zip(logits.toDoubles(), expected) { XCTAssertEqual(a, b, accuracy: 1e-10, name) }
            XCTAssertEqual(
                try pgd.perturb(model: model, inputs: tokens, targets: labels).toIntegers(),
                try fixture["embedding_pgd.\(name).tokens"].toIntegers(), name)
            // The attack fools the model on some inputs: robust accuracy strictly below clean.
            let clean = try model(tokens).argmax(axis: 1).toIntegers()
            let attacked = try logits.argmax(axis: 1).toIntegers()
            XCTAssertLessThan(
                zip(attacked, labels.toIntegers()).filter { $0 == $1 }.count,
                zip(clean, labels.toIntegers()).filter { $0 == $1 }.count, name)
        }
        // The golden perturbations keep padding at zero and each token inside its ball.
        let mask = try fixture["tokens"].toIntegers().map { $0 != 0 }
        let delta = try fixture["embedding_pgd.l2.delta"].toDoubles()
        for (position, real) in mask.enumerated() {
            let length = (0..<6).reduce(0) { $0 + delta[position * 6 + $1] * delta[position * 6 + $1] }.squareRoot()
            if real { XCTAssertLessThanOrEqual(length, 1.5 + 1e-9) } else { XCTAssertEqual(length, 0) }
        }
    }

    func testWordSubstitutionMatchesTextFoolersSearch() throws {
        let fixture = try Fixture("text_attacks.safetensors")
        let model = try model(fixture)
        let tokens = try fixture["tokens"]
        let labels = try fixture["labels"]
        let adversarial = try attack("word_substitution", ["budget": .number(2), "candidates": .number(4)]).perturb(
            model: model, inputs: tokens, targets: labels)
        XCTAssertEqual(adversarial.toIntegers(), try fixture["word_substitution"].toIntegers())
        // Budget and padding, with a larger budget and a synonym table.
        let original = tokens.toIntegers()
        let synonyms = try Tensor(shape: [40, 2], integers: (0..<40).flatMap { [($0 * 7 + 3) % 38 + 2, -1] })
        for options in [
            ["budget": ConfigValue.number(1), "candidates": .number(6)],
            ["budget": .number(3), "synonyms": .tensor(synonyms)],
        ] {
            let budget = Int(options["budget"]?.numberValue ?? 0)
            let changed = try attack("word_substitution", options).perturb(
                model: model, inputs: tokens, targets: labels
            ).toIntegers()
            for row in 0..<6 {
                let differences = (0..<7).filter { changed[row * 7 + $0] != original[row * 7 + $0] }
                XCTAssertLessThanOrEqual(differences.count, budget)
                for position in differences {
                    XCTAssertNotEqual(original[row * 7 + position], 0, "padding is never substituted")
                    XCTAssert(
                        ![0, 1].contains(changed[row * 7 + position]), "padding and unknown are never candidates")
                    if options["synonyms"] != nil {
                        XCTAssertEqual(changed[row * 7 + position], (original[row * 7 + position] * 7 + 3) % 38 + 2)
                    }
                }
            }
        }
    }

    func testTextAttacksRejectWhatTheyCannotAttack() throws {
        let fixture = try Fixture("text_attacks.safetensors")
        let model = try model(fixture)
        let labels = try fixture["labels"]
        for name in ["embedding_pgd", "word_substitution"] {
            let built = try attack(name, [:])
            XCTAssertThrowsError(
                try built.perturb(model: model, inputs: fixture["tokens"].to(.float64), targets: labels)
            ) { error in
                XCTAssert("\(error)".contains("token ids"), "\(error)")
            }
            XCTAssertThrowsError(
                try built.perturb(
                    model: model, inputs: Tensor(shape: [6, 7], integers: Array(repeating: 45, count: 42)),
                    targets: labels)
            ) { error in
                XCTAssert("\(error)".contains("outside the embedding table"), "\(error)")
            }
            let noEmbedding = try Sequential([Linear(7, 3, dtype: .float64)])
            XCTAssertThrowsError(try built.perturb(model: noEmbedding, inputs: fixture["tokens"], targets: labels)) {
                error in
                XCTAssert("\(error)".contains("no Embedding layer"), "\(error)")
            }
        }
        let misnamed = try attack("embedding_pgd", ["layer": .string("embeding")])
        XCTAssertThrowsError(try misnamed.perturb(model: model, inputs: fixture["tokens"], targets: labels)) { error in
            XCTAssert(
                "\(error)".contains("no embedding layer 'embeding'") && "\(error)".contains("0.embedding"), "\(error)")
        }
    }
}
