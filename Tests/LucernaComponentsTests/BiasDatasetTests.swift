import Foundation
import LucernaComponents
import LucernaCore
import XCTest

/// The bias benchmarks' data: Colored MNIST and Decoy MNIST built as published, and the toxic tweets'
/// identity subgroups and token masks (real data from LUCERNA_DATA; skipped, visibly, without it).
final class BiasDatasetTests: XCTestCase {
    let registry = Registry.standard()

    func build(_ name: String, _ options: [String: ConfigValue]) throws -> TensorDataset {
        try XCTSkipIf(ProcessInfo.processInfo.environment["LUCERNA_DATA"] == nil, "LUCERNA_DATA is not set")
        return try registry.build(.dataset, name, options: options)
    }

    func share(_ values: [Int], where condition: (Int) -> Bool) -> Double {
        Double(values.indices.filter(condition).count) / Double(values.count)
    }

    func testColoredMNISTHasTheReferenceEnvironmentsNoiseAndColours() throws {
        let train = try build("colored_mnist", [:])
        let test = try build("colored_mnist", ["split": .string("test")])
        XCTAssertEqual(train.tensor("images")?.shape, [50_000, 2, 14, 14])
        XCTAssertEqual(test.tensor("images")?.shape, [10_000, 2, 14, 14])
        let labels = try XCTUnwrap(train.tensor("labels")).toIntegers()
        let colors = try XCTUnwrap(train.tensor("groups")).toIntegers()
        let environments = try XCTUnwrap(train.tensor("environments")).toIntegers()
        XCTAssertEqual(share(environments) { environments[$0] == 0 }, 0.5)
        // The colour agrees with the label with probability 1 − e: 0.8 and 0.9 in training, 0.1 at test.
        for (environment, expected) in [(0, 0.8), (1, 0.9)] {
            let rows = environments.indices.filter { environments[$0] == environment }
            let agree = Double(rows.filter { labels[$0] == colors[$0] }.count) / Double(rows.count)
            XCTAssertEqual(agree, expected, accuracy: 0.01, "environment \(environment)")
        }
        let testLabels = try XCTUnwrap(test.tensor("labels")).toIntegers()
        let testColors = try XCTUnwrap(test.tensor("groups")).toIntegers()
        XCTAssertEqual(share(testLabels) { testLabels[$0] == testColors[$0] }, 0.1, accuracy: 0.01)
        XCTAssertEqual(Set(try XCTUnwrap(test.tensor("environments")).toIntegers()), [2])
        // The ink sits in the channel of the colour, the other channel is zero.
        let images = try XCTUnwrap(train.tensor("images")).toFloats()
        for sample in 0..<50 {
            let off = 1 - colors[sample]
            XCTAssertEqual(images[(sample * 2 + off) * 196..<(sample * 2 + off + 1) * 196].reduce(0, +), 0)
            XCTAssertGreaterThan(
                images[(sample * 2 + colors[sample]) * 196..<(sample * 2 + colors[sample] + 1) * 196].reduce(0, +), 0)
        }
        // The same seed gives the same data; another seed other environments.
        let again = try build("colored_mnist", ["limit": .number(500)])
        XCTAssertEqual(try XCTUnwrap(again.tensor("groups")).toIntegers(), Array(colors.prefix(500)))
        let other = try build("colored_mnist", ["limit": .number(500), "seed": .number(1)])
        XCTAssertNotEqual(try XCTUnwrap(other.tensor("groups")).toIntegers(), Array(colors.prefix(500)))
        // The oracle's grayscale input is the colour channels summed.
        let gray = try build("colored_mnist", ["limit": .number(50), "grayscale": .boolean(true)])
        let grayImages = try XCTUnwrap(gray.tensor("images"))
        XCTAssertEqual(grayImages.shape, [50, 1, 14, 14])
        let summed = try XCTUnwrap(train.tensor("images")).sliced(axis: 0, end: 50).sum(
            axes: [1], keepingDimensions: true)
        XCTAssertEqual(try (grayImages - summed).abs().max().item(), 0)
        XCTAssertThrowsError(try build("colored_mnist", ["color_flips": .list([.number(0.2)])]))
    }

    func testDecoyMNISTEncodesTheDigitInTrainingAndNotAtTest() throws {
        for split in ["train", "test"] {
            let set = try build("decoy_mnist", ["split": .string(split), "limit": .number(2000)])
            let images = try XCTUnwrap(set.tensor("images")).toFloats()
            let masks = try XCTUnwrap(set.tensor("artifact_masks")).toFloats()
            let labels = try XCTUnwrap(set.tensor("labels")).toIntegers()
            var matches = 0
            for sample in 0..<2000 {
                let patch = (0..<784).filter { masks[sample * 784 + $0] == 1 }
                XCTAssertEqual(patch.count, 16, "a 4×4 patch")
                let rows = Set(patch.map { $0 / 28 })
                let columns = Set(patch.map { $0 % 28 })
                XCTAssertTrue(rows == Set(0..<4) || rows == Set(24..<28))
                XCTAssertTrue(columns == Set(0..<4) || columns == Set(24..<28))
                let level = images[sample * 784 + patch[0]]
                XCTAssertTrue(patch.allSatisfy { images[sample * 784 + $0] == level })
                let decoy = Int(((1 - level) * 255 / 25).rounded())
                if decoy == labels[sample] { matches += 1 }
            }
            if split == "train" {
                XCTAssertEqual(matches, 2000, "the decoy is the digit")
            } else {
                XCTAssertEqual(Double(matches) / 2000, 0.1, accuracy: 0.03, "the decoy is random")
            }
            let corners = try XCTUnwrap(set.tensor("groups")).toIntegers()
            for corner in 0..<4 { XCTAssertEqual(share(corners) { corners[$0] == corner }, 0.25, accuracy: 0.04) }
        }
    }

    func testToxicTweetsCarryIdentitySubgroupsAndTokenMasksOverTheTerms() throws {
        let set = try build("toxic_text", ["identity": .boolean(true), "max_length": .number(32)])
        let tokens = try XCTUnwrap(set.tensor("tokens")).toIntegers()
        let groups = try XCTUnwrap(set.tensor("groups")).toIntegers()
        let masks = try XCTUnwrap(set.tensor("token_masks")).toFloats()
        guard case .list(let names)? = set.metadata["group_names"] else { return XCTFail("no group names") }
        let vocabulary =
            (set.metadata["vocabulary"].flatMap { value -> [String]? in
                guard case .list(let items) = value else { return nil }
                return items.compactMap { if case .string(let word) = $0 { word } else { nil } }
            }) ?? []
        XCTAssertEqual(names.count, 51, "50 terms and none")
        var mentioning = 0
        for row in groups.indices {
            let masked = (0..<32).filter { masks[row * 32 + $0] == 1 }
            if groups[row] == 50 {
                XCTAssertTrue(masked.isEmpty, "a tweet without identity terms has an empty mask")
                continue
            }
            mentioning += 1
            XCTAssertFalse(masked.isEmpty && tokens[row * 32 + 31] == 0, "row \(row): the term lies within max_length")
            // The masked tokens are identity-term words (or out of vocabulary).
            for position in masked {
                let id = tokens[row * 32 + position]
                guard id > 1, id < vocabulary.count else { continue }
                let word = vocabulary[id]
                XCTAssertTrue(
                    names.contains {
                        if case .string(let term) = $0 {
                            term.split(separator: " ").contains(Substring(word))
                        } else {
                            false
                        }
                    },
                    "\(word) is part of an identity term")
            }
        }
        XCTAssertGreaterThan(mentioning, 100, "some tweets mention identity terms")
        XCTAssertThrowsError(try build("toxic_text", ["identity": .boolean(true), "tokens": .string("char_ngrams")]))

        // identity_masks = "words": every word of the term list, also outside a whole term ("middle" of
        // "middle eastern" in "middle school"); the groups stay those of whole terms.
        let words = try build(
            "toxic_text", ["identity": .boolean(true), "max_length": .number(32), "identity_masks": .string("words")])
        XCTAssertEqual(try XCTUnwrap(words.tensor("groups")).toIntegers(), groups)
        let wordMasks = try XCTUnwrap(words.tensor("token_masks")).toFloats()
        let termWords = Set(
            names.flatMap { name -> [String] in
                guard case .string(let term) = name, term != "none" else { return [] }
                return term.split(separator: " ").map(String.init)
            })
        var middleOutsideTerms = 0
        for index in tokens.indices {
            let id = tokens[index]
            guard id > 1, id < vocabulary.count else { continue }
            let isTermWord = termWords.contains(vocabulary[id])
            XCTAssertEqual(wordMasks[index] == 1, isTermWord, "\(vocabulary[id]) at \(index)")
            if masks[index] == 1 { XCTAssertEqual(wordMasks[index], 1, "whole-term words stay marked") }
            if vocabulary[id] == "middle", masks[index] == 0 { middleOutsideTerms += 1 }
        }
        XCTAssertGreaterThan(middleOutsideTerms, 0, "\"middle\" occurs outside \"middle eastern\"/\"middle aged\"")
        XCTAssertThrowsError(
            try build("toxic_text", ["identity": .boolean(true), "identity_masks": .string("sentences")]))
    }
}
