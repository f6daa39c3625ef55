import LucernaCore
import LucernaNN

extension MLP: RegisteredComponent {
    static let options = [
        OptionSpec("in_features", .integer, default: .number(784), "input features"),
        OptionSpec("hidden", .pair, default: .list([.number(256), .number(128)]), "the two hidden widths"),
        OptionSpec("classes", .integer, default: .number(10), "output classes"),
    ]

    static func make(_ config: Config) throws -> MLP {
        try MLP(
            inputFeatures: config.positiveInteger("in_features"), hidden: config.pair("hidden"),
            classes: config.positiveInteger("classes"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "mlp", "MLP 784-256-128-10 with ReLU (layers fc1, fc2, fc3)",
            reference: "Rumelhart, Hinton & Williams, 1986",
            options: options, build: make)
    ]
}
