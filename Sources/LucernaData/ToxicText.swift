import Foundation
import LucernaCore

/// The toxic-text corpora of `toxic/`: Davidson et al.'s tweets (class 0 hate speech, 1 offensive,
/// 2 neither), the Conversation AI identity-term madlibs and the Wikipedia toxicity test set, parsed
/// with the RFC 4180 reader and cached in memory.
public enum ToxicText {
    public struct Corpus: @unchecked Sendable {
        public let texts: [String]
        /// Binary labels: 1 toxic, 0 not.
        public let labels: [Int]
        /// Davidson's three classes (else the binary label).
        public let classes: [Int]
        /// Extra columns (the madlibs template).
        public let templates: [String]
    }

    nonisolated(unsafe) static var cache: [String: Corpus] = [:]

    /// The `toxic/` folder from the data roots.
    public static func locate(explicit: String? = nil) throws -> String {
        let folders = DataLocation.candidates(for: "toxic", explicit: explicit)
        for folder in folders where FileManager.default.fileExists(atPath: "\(folder)/davidson_labeled_data.csv") {
            return folder
        }
        throw DataError(
            path: "toxic",
            message:
                "not found; looked in \(folders.joined(separator: ", ")); set LUCERNA_DATA or --data, or run scripts/fetch-data.sh"
        )
    }

    /// Reads `file` once (then from the cache): the text column, a label per record from `classify`
    /// (given the label column's text and the record number), and optionally a template column.
    static func corpus(
        _ folder: String, _ file: String, text: String, label: String, template: String? = nil,
        classify: (String, String, Int) throws -> Int
    ) throws -> ([String], [Int], [String]) {
        let path = "\(folder)/\(file)"
        let table = try CSVTable(path: path)
        guard !table.records.isEmpty else {
            throw DataError(path: path, message: "has a header but no records: the data set would be empty")
        }
        let textColumn = try table.column(text, path: path)
        let labelColumn = try table.column(label, path: path)
        let templateColumn = try template.map { try table.column($0, path: path) }
        let labels = try table.records.enumerated().map { index, record in
            try classify(record[labelColumn], path, index)
        }
        return (
            table.records.map { $0[textColumn] }, labels,
            templateColumn.map { column in table.records.map { $0[column] } } ?? []
        )
    }

    static func cached(_ key: String, _ load: () throws -> Corpus) rethrows -> Corpus {
        if let corpus = cache[key] { return corpus }
        let corpus = try load()
        cache[key] = corpus
        return corpus
    }

    /// Davidson et al.: toxic = hate speech or offensive (class 0 or 1), not toxic = neither (class 2).
    public static func davidson(folder: String) throws -> Corpus {
        try cached("\(folder)/davidson") {
            let (texts, classes, _) = try corpus(folder, "davidson_labeled_data.csv", text: "tweet", label: "class") {
                value, path, index in
                guard let number = Int(value), (0...2).contains(number) else {
                    throw DataError(path: path, message: "record \(index + 1): class '\(value)' is not 0, 1 or 2")
                }
                return number
            }
            return Corpus(texts: texts, labels: classes.map { $0 == 2 ? 0 : 1 }, classes: classes, templates: [])
        }
    }

    /// The madlibs: `Label` BAD → 1, NOT_BAD → 0; `Template` kept.
    public static func madlibs(folder: String) throws -> Corpus {
        try cached("\(folder)/madlibs") {
            let (texts, labels, templates) = try corpus(
                folder, "bias_madlibs_77k.csv", text: "Text", label: "Label", template: "Template",
                classify: binary(true: "BAD", false: "NOT_BAD", column: "Label"))
            return Corpus(texts: texts, labels: labels, classes: labels, templates: templates)
        }
    }

    /// The Wikipedia toxicity test set: `toxic` True → 1, False → 0.
    public static func wikipedia(folder: String) throws -> Corpus {
        try cached("\(folder)/wikipedia") {
            let (texts, labels, _) = try corpus(
                folder, "toxicity_nonfuzzed_testset.csv", text: "comment", label: "toxic",
                classify: binary(true: "True", false: "False", column: "toxic"))
            return Corpus(texts: texts, labels: labels, classes: labels, templates: [])
        }
    }

    /// A label rule for a two-valued column.
    static func binary(true positive: String, false negative: String, column: String) -> (String, String, Int) throws ->
        Int
    {
        { value, path, index in
            if value == positive { return 1 }
            if value == negative { return 0 }
            throw DataError(
                path: path, message: "record \(index + 1): \(column) '\(value)' is neither \(positive) nor \(negative)")
        }
    }
}
