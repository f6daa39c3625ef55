import LucernaCore
import LucernaNN

extension ResidualEncoder: RegisteredComponent {
    static let options = [
        OptionSpec("in_channels", .integer, default: .number(1), "input channels"),
        OptionSpec(
            "channels", .integers, default: .list([.number(16), .number(32), .number(64)]),
            "width of each stage (stride 2 from the second)"),
        OptionSpec("blocks", .integer, default: .number(1), "residual blocks per stage"),
        OptionSpec("dim", .integer, default: .number(64), "feature size"), ConvEncoder.tokensOption,
    ]

    static func make(_ config: Config) throws -> ResidualEncoder {
        try ResidualEncoder(
            inputChannels: config.positiveInteger("in_channels"), channels: config.integers("channels"),
            blocks: config.positiveInteger("blocks"),
            dimension: config.positiveInteger("dim"), outputsTokens: config.boolean("tokens"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "resnet_encoder", "small ResNet (BasicBlocks with BatchNorm) for images and spectrograms",
            reference: "He et al., CVPR 2016", options: options, build: make)
    ]
}
