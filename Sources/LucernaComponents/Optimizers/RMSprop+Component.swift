import LucernaCore
import LucernaNN

extension RMSprop: RegisteredComponent {
    static let rmspropOptions = [
        OptionSpec("lr", .number, default: .number(1e-2), "learning rate"),
        OptionSpec("alpha", .number, default: .number(0.99), "smoothing constant"),
        OptionSpec("eps", .number, default: .number(1e-8), "added to the denominator"),
        OptionSpec("weight_decay", .number, default: .number(0), "L2 penalty in the gradient"),
        OptionSpec("momentum", .number, default: .number(0), "momentum factor"),
        OptionSpec("centered", .boolean, default: .boolean(false), "normalize by the estimated variance"),
    ]

    static func rmsprop(_ config: Config) throws -> RMSprop {
        try RMSprop(
            parameters: config.tensors("params"), learningRate: config.number("lr"), alpha: config.number("alpha"),
            epsilon: config.number("eps"), weightDecay: config.number("weight_decay"),
            momentum: config.number("momentum"),
            centered: config.boolean("centered"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .optimizer, "rmsprop", "RMSprop, optionally centered", reference: "Hinton, Lecture 6e, 2012",
            options: rmspropOptions, build: rmsprop)
    ]
}
