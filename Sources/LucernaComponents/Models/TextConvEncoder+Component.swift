import LucernaCore
import LucernaNN

extension TextConvEncoder: RegisteredComponent {
    static let options = [
        OptionSpec("vocabulary", .integer, default: .number(20000), "vocabulary size (the data set's vocabulary_size)"),
        OptionSpec("embedding_dim", .integer, default: .number(64), "embedding size"),
        OptionSpec("filters", .integer, default: .number(32), "filters per kernel width"),
        OptionSpec(
            "kernels", .integers, default: .list([.number(3), .number(4), .number(5)]), "kernel widths in tokens"),
        ConvEncoder.tokensOption,
    ]

    static func make(_ config: Config) throws -> TextConvEncoder {
        try TextConvEncoder(
            vocabulary: config.positiveInteger("vocabulary"),
            embeddingDimension: config.positiveInteger("embedding_dim"),
            filters: config.positiveInteger("filters"), kernels: config.integers("kernels"),
            outputsTokens: config.boolean("tokens"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "text_cnn_encoder", "1-D convolutions over token embeddings, max over time (Kim's CNN)",
            reference: "Kim, EMNLP 2014", options: options, build: make)
    ]
}
