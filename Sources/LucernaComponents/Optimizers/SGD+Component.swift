import LucernaCore
import LucernaNN

extension SGD: RegisteredComponent {
    static let sgdOptions = [
        OptionSpec("lr", .number, default: .number(1e-2), "learning rate"),
        OptionSpec("momentum", .number, default: .number(0), "momentum factor"),
        OptionSpec("dampening", .number, default: .number(0), "dampening of momentum"),
        OptionSpec("weight_decay", .number, default: .number(0), "L2 penalty in the gradient"),
        OptionSpec("nesterov", .boolean, default: .boolean(false), "Nesterov momentum"),
    ]

    static func sgd(_ config: Config) throws -> SGD {
        try SGD(
            parameters: config.tensors("params"), learningRate: config.number("lr"),
            momentum: config.number("momentum"),
            dampening: config.number("dampening"), weightDecay: config.number("weight_decay"),
            nesterov: config.boolean("nesterov"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .optimizer, "sgd", "stochastic gradient descent with momentum and Nesterov",
            reference: "Sutskever et al., 2013",
            options: sgdOptions, build: sgd)
    ]
}
