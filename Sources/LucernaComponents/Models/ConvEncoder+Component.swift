import LucernaCore
import LucernaNN

extension ConvEncoder: RegisteredComponent {
    /// The `tokens` option every encoder takes.
    static let tokensOption = OptionSpec(
        "tokens", .boolean, default: .boolean(false),
        "forward gives token sequences [N, L, dim] instead of pooled [N, dim]")
    static let options = [
        OptionSpec("in_channels", .integer, default: .number(1), "input channels"),
        OptionSpec(
            "input_size", .pair, default: .list([.number(28), .number(28)]),
            "input height and width ({40, 32} for default spectrograms)"),
        OptionSpec(
            "channels", .integers, default: .list([.number(32), .number(64)]), "channels of each conv-relu-pool block"),
        OptionSpec("dim", .integer, default: .number(64), "feature size"), tokensOption,
    ]

    static func make(_ config: Config) throws -> ConvEncoder {
        try ConvEncoder(
            inputChannels: config.positiveInteger("in_channels"), inputSize: config.pair("input_size"),
            channels: config.integers("channels"),
            dimension: config.positiveInteger("dim"), outputsTokens: config.boolean("tokens"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "conv_encoder", "2-D CNN encoder for images and spectrograms: pooled vector or position tokens",
            reference: "LeCun et al., 1998; Hershey et al., ICASSP 2017", options: options, build: make)
    ]
}
