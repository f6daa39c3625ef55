import LucernaCore
import LucernaNN

extension EmbeddingBagEncoder: RegisteredComponent {
    static let options = [
        OptionSpec("vocabulary", .integer, default: .number(20000), "vocabulary size (the data set's vocabulary_size)"),
        OptionSpec("dim", .integer, default: .number(64), "embedding size"), ConvEncoder.tokensOption,
    ]

    static func make(_ config: Config) throws -> EmbeddingBagEncoder {
        try EmbeddingBagEncoder(
            vocabulary: config.positiveInteger("vocabulary"), dimension: config.positiveInteger("dim"),
            outputsTokens: config.boolean("tokens"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "embedding_bag_encoder", "token embeddings, mean over real tokens (or the embeddings as tokens)",
            reference: "Joulin et al., EACL 2017", options: options, build: make)
    ]
}
