import Foundation
import LucernaCore
import XCTest

@testable import LucernaData

/// The real data sets against the facts in `../shared/data/README.md` (CI sets LUCERNA_DATA; without it
/// these tests are skipped, visibly) and Fashion-MNIST from Debian's package.
final class DataFactsTests: XCTestCase {
    func dataRoot() throws -> String {
        let root = ProcessInfo.processInfo.environment["LUCERNA_DATA"]
        try XCTSkipIf(root == nil, "LUCERNA_DATA is not set")
        return root ?? ""
    }

    func counts(_ labels: [Int], classes: Int) -> [Int] {
        labels.reduce(into: [Int](repeating: 0, count: classes)) { $0[$1] += 1 }
    }

    func testMNISTMatchesItsPublishedFacts() throws {
        let root = try dataRoot()
        let train = try DataLocation.mnist(split: "train", explicit: root)
        let test = try DataLocation.mnist(split: "t10k", explicit: root)
        XCTAssertEqual(
            counts(train.labels.toIntegers(), classes: 10),
            [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
        XCTAssertEqual(
            counts(test.labels.toIntegers(), classes: 10), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
        XCTAssertEqual(Array(train.labels.toIntegers().prefix(10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
        XCTAssertEqual(Array(test.labels.toIntegers().prefix(10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
        XCTAssertEqual(try train.images.to(.float64).mean().item() * 255, 33.3184, accuracy: 1e-4)
        XCTAssertEqual(try test.images.to(.float64).mean().item() * 255, 33.7912, accuracy: 1e-4)
        // After the first read the decoded set is cached: loading it again is immediate.
        let start = Date()
        _ = try DataLocation.mnist(split: "train", explicit: root)
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.05)
    }

    func testFashionMNISTHasSixThousandAndOneThousandPerClass() throws {
        let train = try DataLocation.fashionMNIST(split: "train")
        let test = try DataLocation.fashionMNIST(split: "t10k")
        XCTAssertEqual(counts(train.labels.toIntegers(), classes: 10), [Int](repeating: 6000, count: 10))
        XCTAssertEqual(counts(test.labels.toIntegers(), classes: 10), [Int](repeating: 1000, count: 10))
    }

    func testSpokenDigitsMatchTheirFacts() throws {
        let folder = "\(try dataRoot())/fsdd"
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/recordings").filter {
            $0.hasSuffix(".wav")
        }
        XCTAssertEqual(names.count, 3000)
        let parsed = names.compactMap(SpokenDigits.parse)
        XCTAssertEqual(parsed.count, 3000, "every file name parses")
        XCTAssertEqual(counts(parsed.map(\.digit), classes: 10), [Int](repeating: 300, count: 10))
        XCTAssertEqual(counts(parsed.map(\.speaker), classes: 6), [Int](repeating: 500, count: 6))
        let clip = try WAV.read("\(folder)/recordings/0_george_0.wav")
        XCTAssertEqual(clip.sampleRate, 8000)
        let set = try SpokenDigits.load(folder: folder)
        XCTAssertEqual(set.spectrograms.shape, [3000, 1, 40, 32])
        XCTAssertEqual(set.recordings.toIntegers().filter { $0 < 5 }.count, 300, "official test split: index 0-4")
        XCTAssert(set.spectrograms.toFloats().allSatisfy(\.isFinite))
        // The shortest recording (1,148 samples) and the longest (18,262) both decode.
        let lengths = try names.map { try WAV.read("\(folder)/recordings/\($0)").samples.count }
        XCTAssertEqual(lengths.min(), 1148)
        XCTAssertEqual(lengths.max(), 18262)
    }

    func testToxicCorporaMatchTheirFacts() throws {
        let folder = "\(try dataRoot())/toxic"
        let davidson = try ToxicText.davidson(folder: folder)
        XCTAssertEqual(davidson.texts.count, 24783)
        XCTAssertEqual(counts(davidson.classes, classes: 3), [1430, 19190, 4163])
        XCTAssertEqual(davidson.texts.filter { $0.contains("\n") }.count, 917, "tweets with line breaks")
        let madlibs = try ToxicText.madlibs(folder: folder)
        XCTAssertEqual(madlibs.texts.count, 76564)
        XCTAssertEqual(madlibs.labels.filter { $0 == 1 }.count, 38282)
        XCTAssertEqual(madlibs.templates.filter { $0 == "name_adj" }.count, 72000)
        let terms = try IdentityTerms(path: "\(folder)/bias_madlibs_identity_terms.txt")
        XCTAssertEqual(terms.terms.count, 50)
        var perTerm: [String: Int] = [:]
        for (text, template) in zip(madlibs.texts, madlibs.templates) where template != "you_occupation" {
            perTerm[terms.match(text) ?? "(none)", default: 0] += 1
        }
        XCTAssertEqual(perTerm.count, 50, "every term matched, none missing")
        XCTAssert(perTerm.values.allSatisfy { $0 == 1514 }, "\(perTerm.filter { $0.value != 1514 })")
        let wikipedia = try ToxicText.wikipedia(folder: folder)
        XCTAssertEqual(wikipedia.texts.count, 1492)
        XCTAssertEqual(wikipedia.labels.filter { $0 == 1 }.count, 248)
    }

    func testStratifiedSplitsKeepClassProportionsAndRepeat() throws {
        let labels = (0..<1000).map { $0 % 7 == 0 ? 0 : ($0 % 3) + 1 }
        let first = DataSplits.stratified(keys: labels, fraction: 0.2, generator: RandomGenerator(seed: 4))
        let again = DataSplits.stratified(keys: labels, fraction: 0.2, generator: RandomGenerator(seed: 4))
        XCTAssertEqual(first.heldOut, again.heldOut, "the same seed gives the same split")
        XCTAssertNotEqual(
            first.heldOut,
            DataSplits.stratified(keys: labels, fraction: 0.2, generator: RandomGenerator(seed: 5)).heldOut)
        XCTAssertEqual(Set(first.kept).union(first.heldOut).count, 1000)
        XCTAssert(Set(first.kept).isDisjoint(with: first.heldOut))
        for label in 0...3 {
            let total = labels.filter { $0 == label }.count
            let held = first.heldOut.filter { labels[$0] == label }.count
            XCTAssertLessThanOrEqual(abs(Double(held) - 0.2 * Double(total)), 1, "class \(label): \(held) of \(total)")
        }
    }

    func testTokenizerAndVocabulary() {
        XCTAssertEqual(
            Tokenizer.words("RT @user: I &amp; you http://t.co/x!! don't #tag"),
            ["rt", "<user>", "i", "you", "<url>", "don't", "tag"])
        let vocabulary = Vocabulary(texts: [["b", "a", "b"], ["c", "b", "a"]], minimumCount: 2)
        XCTAssertEqual(vocabulary.words, ["<pad>", "<unk>", "b", "a"])
        XCTAssertEqual(vocabulary.encode(["a", "z", "b"], length: 5), [3, 1, 2, 0, 0])
        XCTAssertEqual(
            IdentityTerms(terms: ["african", "american", "african american"]).match("I am an African American man"),
            "african american")
        XCTAssertNil(IdentityTerms(terms: ["trans"]).match("transgender people"), "whole words only")
        let ngrams = Tokenizer.hashedCharacterNgrams("abc", n: 3, buckets: 100)
        XCTAssertEqual(ngrams.count, 3)
        XCTAssertEqual(ngrams, Tokenizer.hashedCharacterNgrams("abc", n: 3, buckets: 100), "stable hashing")
    }
}
