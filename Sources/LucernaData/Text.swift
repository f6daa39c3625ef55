import Foundation

/// Word-level tokenisation for tweets and comments: HTML entities decoded, lower-cased, URLs → `<url>`,
/// @mentions → `<user>`, words are runs of letters, digits and apostrophes; other characters separate
/// them (emoji and punctuation are dropped).
///
/// Reference: Davidson et al., ICWSM 2017 (the same normalisation of URLs and mentions before features).
public enum Tokenizer {
    public static func words(_ text: String) -> [String] {
        var tokens: [String] = []
        for piece in HTMLEntities.decode(text).lowercased().split(whereSeparator: { $0.isWhitespace }) {
            if piece.hasPrefix("http://") || piece.hasPrefix("https://") || piece.hasPrefix("www.") {
                tokens.append("<url>")
                continue
            }
            if piece.hasPrefix("@") && piece.count > 1 {
                tokens.append("<user>")
                continue
            }
            var word = ""
            for character in piece {
                if character.isLetter || character.isNumber || character == "'" {
                    word.append(character)
                } else if !word.isEmpty {
                    tokens.append(word)
                    word = ""
                }
            }
            if !word.isEmpty { tokens.append(word) }
        }
        return tokens.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }.filter { !$0.isEmpty }
    }

    /// Hashed character n-grams of each word (with `<` and `>` marking word boundaries, as fastText)
    /// into `buckets` ids, offset by 2 (0 is padding, 1 unknown).
    public static func hashedCharacterNgrams(_ text: String, n: Int, buckets: Int) -> [Int] {
        var ids: [Int] = []
        for word in words(text) {
            let characters = Array("<\(word)>".unicodeScalars)
            guard characters.count >= n else { continue }
            for start in 0...(characters.count - n) {
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across runs and machines
                for scalar in characters[start..<(start + n)] {
                    for byte in String(scalar).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                }
                ids.append(2 + Int(hash % UInt64(buckets)))
            }
        }
        return ids
    }
}

/// A word vocabulary built on a training split only: `<pad>` = 0, `<unk>` = 1, then words by falling
/// frequency (ties alphabetical), keeping those seen at least `minimumCount` times, at most `maximumSize`.
public struct Vocabulary: Sendable {
    public let words: [String]
    let ids: [String: Int]

    public init(texts: [[String]], minimumCount: Int = 1, maximumSize: Int = 20_000) {
        var counts: [String: Int] = [:]
        for tokens in texts { for token in tokens { counts[token, default: 0] += 1 } }
        let kept = counts.filter { $0.value >= minimumCount }.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
        words = ["<pad>", "<unk>"] + kept.prefix(max(0, maximumSize - 2)).map(\.key)
        ids = Dictionary(uniqueKeysWithValues: words.enumerated().map { ($1, $0) })
    }

    public var count: Int { words.count }

    /// Ids of `tokens` (unknown words are 1), cut or padded with 0 to `length`.
    public func encode(_ tokens: [String], length: Int) -> [Int] {
        let encoded = tokens.prefix(length).map { ids[$0] ?? 1 }
        return encoded + [Int](repeating: 0, count: length - encoded.count)
    }
}

/// Identity terms found in text as whole words, longest term first (so "african american" is one term,
/// not "african" and "american").
///
/// Reference: Dixon et al., "Measuring and Mitigating Unintended Bias in Text Classification", AIES 2018.
public struct IdentityTerms: Sendable {
    public let terms: [String]
    private let byLength: [(term: String, words: [String])]

    public init(terms: [String]) {
        self.terms = terms
        byLength = terms.map { ($0, $0.lowercased().split(separator: " ").map(String.init)) }
            .sorted { ($0.words.count, $0.term.count) > ($1.words.count, $1.term.count) }
    }

    /// Reads one term per line.
    public init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DataError(path: path, message: "not found or not UTF-8")
        }
        let terms = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        guard !terms.isEmpty else { throw DataError(path: path, message: "no identity terms") }
        self.init(terms: terms)
    }

    /// The word positions of `words` that belong to an identity term (longest terms first; a word is
    /// taken by at most one term), and the index in ``terms`` of the first term found, in term order
    /// (longest first), as ``match(_:)`` finds it.
    public func positions(in words: [String]) -> (positions: [Int], first: Int?) {
        var taken = [Bool](repeating: false, count: words.count)
        var first: Int?
        for (term, pattern) in byLength where pattern.count <= words.count {
            for start in 0...(words.count - pattern.count)
            where !taken[start..<(start + pattern.count)].contains(true)
                && Array(words[start..<(start + pattern.count)]) == pattern
            {
                for position in start..<(start + pattern.count) { taken[position] = true }
                if first == nil { first = terms.firstIndex(of: term) }
            }
        }
        return (taken.indices.filter { taken[$0] }, first)
    }

    /// The first term (longest first) that occurs in `text` as whole words, or nil.
    public func match(_ text: String) -> String? {
        let tokens = text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
        for (term, words) in byLength where words.count <= tokens.count {
            for start in 0...(tokens.count - words.count) where Array(tokens[start..<(start + words.count)]) == words {
                return term
            }
        }
        return nil
    }
}
