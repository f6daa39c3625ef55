import LucernaCore
import LucernaData

/// Toxic-text data sets: Davidson et al.'s tweets as binary toxic (hate or offensive) vs not, split
/// 80/20 stratified by class with a seed (the corpus has no official split), tokenised with a
/// vocabulary built on the training split only; and two out-of-domain evaluation sets encoded with that
/// same vocabulary: the identity-term madlibs (subgroup = the identity term, matched longest first) and
/// the Wikipedia toxicity test set.
enum TextDatasets {
    static let encodingOptions = [
        OptionSpec(
            "test", .number, default: .number(0.2), "fraction of Davidson's tweets held out (stratified by class)"),
        OptionSpec("seed", .integer, default: .number(0), "seed of the split"),
        OptionSpec("max_length", .integer, default: .number(32), "tokens per text (cut or padded with 0)"),
        OptionSpec("tokens", .string, default: .string("words"), "words (vocabulary) or char_ngrams (hashed)"),
        OptionSpec(
            "min_count", .integer, default: .number(2), "words: keep words seen this often in the training split"),
        OptionSpec(
            "max_vocabulary", .integer, default: .number(20000), "words: vocabulary size including <pad> and <unk>"),
        OptionSpec("ngram", .integer, default: .number(3), "char_ngrams: n"),
        OptionSpec("buckets", .integer, default: .number(50000), "char_ngrams: hash buckets"),
    ]
    static let davidsonOptions =
        [
            OptionSpec("split", .string, default: .string("train"), "train, test or all"),
            OptionSpec("limit", .integer, "keep only the first limit samples"),
            OptionSpec(
                "identity", .boolean, default: .boolean(false),
                "add groups (the first identity term of the madlibs list a tweet mentions, longest first; the list's length for none) and token_masks [N, max_length] over identity-term words (words tokens only)"
            ),
            OptionSpec(
                "identity_masks", .string, default: .string("terms"),
                "token_masks mark the words of whole identity terms (\"terms\": \"middle\" only inside \"middle eastern\") or every word of the term list wherever it occurs (\"words\")"
            ),
        ] + encodingOptions
    static let evaluationOptions =
        [OptionSpec("limit", .integer, "keep only the first limit samples")] + encodingOptions

    /// Davidson's stratified split and the encoder it implies (vocabulary from the training part).
    struct Encoding {
        let train: [Int], test: [Int]
        let encode: (String) -> [Int]
        let vocabularySize: Int
        /// The word of each id (`tokens = "words"`; nil for hashed n-grams).
        var words: [String]? = nil

        /// `vocabulary_size`, and `vocabulary` (the word of id i at position i + 1 in Lua) for words.
        var metadata: [String: ConfigValue] {
            var facts: [String: ConfigValue] = ClassNames.metadata(["not toxic", "toxic"])
            facts["vocabulary_size"] = .number(Double(vocabularySize))
            if let words { facts["vocabulary"] = .list(words.map(ConfigValue.string)) }
            return facts
        }
    }

    nonisolated(unsafe) static var encodings: [String: Encoding] = [:]

    static func encoding(_ config: Config, folder: String) throws -> Encoding {
        let test = try config.number("test")
        let seed = try config.integer("seed")
        let length = try config.positiveInteger("max_length")
        let mode = try config.choice("tokens", ["words", "char_ngrams"])
        guard test > 0, test < 1 else { throw ConfigurationError(config.owner, "test must be in (0, 1), got \(test)") }
        let key =
            "\(folder)|\(test)|\(seed)|\(length)|\(mode)|\(try config.integer("min_count"))|\(try config.integer("max_vocabulary"))|\(try config.integer("ngram"))|\(try config.integer("buckets"))"
        if let cached = encodings[key] { return cached }
        let corpus = try ToxicText.davidson(folder: folder)
        let split = DataSplits.stratified(
            keys: corpus.classes, fraction: test, generator: RandomGenerator(seed: UInt64(truncatingIfNeeded: seed)))
        let result: Encoding
        if mode == "words" {
            let vocabulary = Vocabulary(
                texts: split.kept.map { Tokenizer.words(corpus.texts[$0]) },
                minimumCount: try config.positiveInteger("min_count"),
                maximumSize: try config.positiveInteger("max_vocabulary"))
            result = Encoding(
                train: split.kept, test: split.heldOut,
                encode: { vocabulary.encode(Tokenizer.words($0), length: length) },
                vocabularySize: vocabulary.count, words: vocabulary.words)
        } else {
            let n = try config.positiveInteger("ngram")
            let buckets = try config.positiveInteger("buckets")
            result = Encoding(
                train: split.kept, test: split.heldOut,
                encode: { text in
                    let ids = Tokenizer.hashedCharacterNgrams(text, n: n, buckets: buckets).prefix(length)
                    return Array(ids) + [Int](repeating: 0, count: length - ids.count)
                }, vocabularySize: buckets + 2)
        }
        encodings[key] = result
        return result
    }

    static func tokens(_ texts: [String], _ encoding: Encoding, length: Int) throws -> (Tensor, Tensor) {
        let encoded = texts.map(encoding.encode)
        return (
            try Tensor(shape: [texts.count, length], integers: encoded.flatMap { $0 }),
            try Tensor(shape: [texts.count], integers: encoded.map { $0.filter { $0 != 0 }.count })
        )
    }

    static func limited(_ positions: [Int], _ config: Config) throws -> [Int] {
        guard let limit = try config.optionalInteger("limit") else { return positions }
        guard limit > 0 else { throw ConfigurationError(config.owner, "limit must be positive, got \(limit)") }
        return Array(positions.prefix(limit))
    }

    static func davidson(_ config: Config) throws -> TensorDataset {
        let folder = try ToxicText.locate(explicit: DataLocation.root)
        let corpus = try ToxicText.davidson(folder: folder)
        let encoding = try encoding(config, folder: folder)
        let split = try config.choice("split", ["train", "test", "all"])
        let positions = try limited(
            split == "train" ? encoding.train : split == "test" ? encoding.test : Array(corpus.texts.indices), config)
        let length = try config.positiveInteger("max_length")
        let (tokens, lengths) = try tokens(positions.map { corpus.texts[$0] }, encoding, length: length)
        var tensors: [(name: String, tensor: Tensor)] = [
            ("tokens", tokens), ("lengths", lengths),
            ("labels", try Tensor(shape: [positions.count], integers: positions.map { corpus.labels[$0] })),
            ("classes", try Tensor(shape: [positions.count], integers: positions.map { corpus.classes[$0] })),
            ("indices", try Tensor(shape: [positions.count], integers: positions)),
        ]
        var metadata = encoding.metadata
        if try config.boolean("identity") {
            guard encoding.words != nil else {
                throw ConfigurationError(
                    config.owner, "identity = true needs tokens = \"words\" (token masks are per word)")
            }
            let terms = try IdentityTerms(path: "\(folder)/bias_madlibs_identity_terms.txt")
            let everyWord = try config.choice("identity_masks", ["terms", "words"]) == "words"
            let termWords = Set(terms.terms.flatMap { $0.lowercased().split(separator: " ").map(String.init) })
            var groups: [Int] = []
            var masks = [Float](repeating: 0, count: positions.count * length)
            for (row, position) in positions.enumerated() {
                // The words the vocabulary encodes, one token each, so word positions are token positions.
                let words = Tokenizer.words(corpus.texts[position])
                let found = terms.positions(in: words)
                groups.append(found.first ?? terms.terms.count)
                let marked = everyWord ? words.indices.filter { termWords.contains(words[$0]) } : found.positions
                for word in marked where word < length { masks[row * length + word] = 1 }
            }
            tensors.append(("groups", try Tensor(shape: [positions.count], integers: groups)))
            tensors.append(("token_masks", try Tensor(shape: [positions.count, length], scalars: masks)))
            metadata["group_names"] = .list((terms.terms + ["none"]).map { .string($0) })
        }
        return TensorDataset(name: "toxic_text", tensors: tensors, metadata: metadata)
    }

    /// An evaluation corpus with identity-term subgroups (`groups`: the term's position in the identity
    /// term list, -1 when none occurs).
    static func evaluation(_ config: Config, load: (String) throws -> ToxicText.Corpus, name: String) throws
        -> TensorDataset
    {
        let folder = try ToxicText.locate(explicit: DataLocation.root)
        let corpus = try load(folder)
        let encoding = try encoding(config, folder: folder)
        let terms = try IdentityTerms(path: "\(folder)/bias_madlibs_identity_terms.txt")
        let positions = try limited(Array(corpus.texts.indices), config)
        let texts = positions.map { corpus.texts[$0] }
        let (tokens, lengths) = try tokens(texts, encoding, length: config.positiveInteger("max_length"))
        let groups = texts.map { text in terms.match(text).flatMap { terms.terms.firstIndex(of: $0) } ?? -1 }
        return TensorDataset(
            name: name,
            tensors: [
                ("tokens", tokens), ("lengths", lengths),
                ("labels", try Tensor(shape: [positions.count], integers: positions.map { corpus.labels[$0] })),
                ("groups", try Tensor(shape: [positions.count], integers: groups)),
            ],
            metadata: encoding.metadata.merging(["group_names": .list(terms.terms.map { .string($0) })]) { first, _ in
                first
            })
    }
}

extension TextDatasets: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .dataset, "toxic_text",
            "Davidson tweets: toxic (hate or offensive) vs not, tokens [N, max_length], seeded 80/20 split",
            reference: "Davidson et al., ICWSM 2017", options: TextDatasets.davidsonOptions,
            build: TextDatasets.davidson),
        ComponentEntry(
            .dataset, "identity_madlibs",
            "templated sentences with identity-term subgroups (groups), Davidson's vocabulary",
            reference: "Dixon et al., AIES 2018", options: TextDatasets.evaluationOptions,
            build: { try TextDatasets.evaluation($0, load: ToxicText.madlibs, name: "identity_madlibs") }),
        ComponentEntry(
            .dataset, "wiki_toxicity",
            "Wikipedia talk comments (toxic or not) with identity-term subgroups, out of domain",
            reference: "Wulczyn, Thain & Dixon, WWW 2017", options: TextDatasets.evaluationOptions,
            build: { try TextDatasets.evaluation($0, load: ToxicText.wikipedia, name: "wiki_toxicity") }),
    ]
}
