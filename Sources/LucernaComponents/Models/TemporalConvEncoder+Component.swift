import LucernaCore
import LucernaNN

extension TemporalConvEncoder: RegisteredComponent {
    static let options = [
        OptionSpec("mels", .integer, default: .number(40), "mel bands (input channels)"),
        OptionSpec(
            "channels", .integers, default: .list([.number(64), .number(64)]),
            "channels of each conv-relu block (stride 2 after the first)"),
        OptionSpec("kernel", .integer, default: .number(5), "kernel size in frames"),
        OptionSpec("dim", .integer, default: .number(64), "feature size"), ConvEncoder.tokensOption,
    ]

    static func make(_ config: Config) throws -> TemporalConvEncoder {
        try TemporalConvEncoder(
            mels: config.positiveInteger("mels"), channels: config.integers("channels"),
            kernelSize: config.positiveInteger("kernel"),
            dimension: config.positiveInteger("dim"), outputsTokens: config.boolean("tokens"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "temporal_encoder", "1-D temporal CNN over spectrogram frames (mel bands as channels)",
            reference: "Dieleman & Schrauwen, ICASSP 2014", options: options, build: make)
    ]
}
