import LucernaCore
import LucernaNN

extension TransformerTextEncoder: RegisteredComponent {
    static let options = [
        OptionSpec("vocabulary", .integer, default: .number(20000), "vocabulary size (the data set's vocabulary_size)"),
        OptionSpec("dim", .integer, default: .number(64), "model width"),
        OptionSpec("heads", .integer, default: .number(4), "attention heads"),
        OptionSpec("layers", .integer, default: .number(2), "encoder layers (1-8)"),
        OptionSpec("feed_forward", .integer, default: .number(128), "feed-forward width"),
        OptionSpec("max_length", .integer, default: .number(64), "longest token sequence"),
        OptionSpec("dropout", .number, default: .number(0.1), "dropout in the layers"), ConvEncoder.tokensOption,
    ]

    static func make(_ config: Config) throws -> TransformerTextEncoder {
        try TransformerTextEncoder(
            vocabulary: config.positiveInteger("vocabulary"), dimension: config.positiveInteger("dim"),
            heads: config.positiveInteger("heads"), layers: config.positiveInteger("layers"),
            feedForward: config.positiveInteger("feed_forward"), maxLength: config.positiveInteger("max_length"),
            dropout: config.number("dropout"), outputsTokens: config.boolean("tokens"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "transformer_encoder", "small Transformer text encoder with learned positions and padding masks",
            reference: "Vaswani et al., NeurIPS 2017", options: options, build: make)
    ]
}
