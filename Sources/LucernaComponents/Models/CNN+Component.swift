import LucernaCore
import LucernaNN

extension CNN: RegisteredComponent {
    static let options = [
        OptionSpec("in_channels", .integer, default: .number(1), "input channels"),
        OptionSpec("image_size", .integer, default: .number(28), "input height and width"),
        OptionSpec("channels", .pair, default: .list([.number(32), .number(64)]), "channels of conv1 and conv2"),
        OptionSpec("hidden", .integer, default: .number(128), "width of fc1"),
        OptionSpec("classes", .integer, default: .number(10), "output classes"),
    ]

    static func make(_ config: Config) throws -> CNN {
        try CNN(
            inputChannels: config.positiveInteger("in_channels"), imageSize: config.positiveInteger("image_size"),
            channels: config.pair("channels"), hidden: config.positiveInteger("hidden"),
            classes: config.positiveInteger("classes"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "cnn", "benchmark CNN: conv-relu-pool x2, fc1, relu3, fc2", reference: "LeCun et al., 1998",
            options: options, build: make)
    ]
}
