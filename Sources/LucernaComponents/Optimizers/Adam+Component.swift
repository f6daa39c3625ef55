import LucernaCore
import LucernaNN

extension Adam: RegisteredComponent {
    static func adamOptions(weightDecay: Double) -> [OptionSpec] {
        [
            OptionSpec("lr", .number, default: .number(1e-3), "learning rate"),
            OptionSpec("betas", .any, default: .list([.number(0.9), .number(0.999)]), "{beta1, beta2}"),
            OptionSpec("eps", .number, default: .number(1e-8), "added to the denominator"),
            OptionSpec("weight_decay", .number, default: .number(weightDecay), "weight decay"),
            OptionSpec("amsgrad", .boolean, default: .boolean(false), "use the AMSGrad maximum"),
        ]
    }

    static func betas(_ config: Config) throws -> (Double, Double) {
        guard case .list(let items) = config.value("betas"), items.count == 2,
            case .number(let first) = items[0], case .number(let second) = items[1]
        else {
            throw ConfigurationError(config.owner, "option betas must be a pair {beta1, beta2}")
        }
        return (first, second)
    }

    static func adamw(_ config: Config) throws -> Adam {
        try AdamW(
            parameters: config.tensors("params"), learningRate: config.number("lr"), betas: betas(config),
            epsilon: config.number("eps"), weightDecay: config.number("weight_decay"),
            amsgrad: config.boolean("amsgrad"))
    }

    static func adam(_ config: Config) throws -> Adam {
        try Adam(
            parameters: config.tensors("params"), learningRate: config.number("lr"), betas: betas(config),
            epsilon: config.number("eps"), weightDecay: config.number("weight_decay"),
            amsgrad: config.boolean("amsgrad"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .optimizer, "adamw", "Adam with decoupled weight decay", reference: "Loshchilov & Hutter, 2019",
            options: adamOptions(weightDecay: 1e-2), build: adamw),
        ComponentEntry(
            .optimizer, "adam", "Adam with L2 weight decay in the gradient", reference: "Kingma & Ba, 2015",
            options: adamOptions(weightDecay: 0), build: adam),
    ]
}
