import LucernaCore
import LucernaNN

extension LearningRateSchedule: RegisteredComponent {
    static func make(_ config: Config, _ kind: LearningRateSchedule.Kind) throws -> LearningRateSchedule {
        try LearningRateSchedule(
            kind,
            optimizer: config.object("optimizer", as: Optimizer.self, named: "an optimizer (e.g. optim.adamw{...})"))
    }

    static let cosineOptions = [
        OptionSpec("t_max", .integer, required: true, "steps of one half cosine"),
        OptionSpec("eta_min", .number, default: .number(0), "final learning rate"),
    ]
    static func cosine(_ config: Config) throws -> LearningRateSchedule {
        try make(config, .cosine(maximumSteps: config.integer("t_max"), minimumRate: config.number("eta_min")))
    }

    static let warmupOptions = [
        OptionSpec("warmup", .integer, required: true, "warm-up steps"),
        OptionSpec("total", .integer, required: true, "total steps"),
        OptionSpec("start_factor", .number, default: .number(0.1), "first rate as a fraction of the base"),
        OptionSpec("eta_min", .number, default: .number(0), "final learning rate"),
    ]
    static func warmupCosine(_ config: Config) throws -> LearningRateSchedule {
        try make(
            config,
            .warmupCosine(
                warmupSteps: config.integer("warmup"), totalSteps: config.integer("total"),
                startFactor: config.number("start_factor"), minimumRate: config.number("eta_min")))
    }

    static let stepOptions = [
        OptionSpec("step_size", .integer, required: true, "steps between decays"),
        OptionSpec("gamma", .number, default: .number(0.1), "decay factor"),
    ]
    static func step(_ config: Config) throws -> LearningRateSchedule {
        try make(config, .step(stepSize: config.integer("step_size"), gamma: config.number("gamma")))
    }

    static let exponentialOptions = [
        OptionSpec("gamma", .number, default: .number(0.9), "decay factor per step")
    ]
    static func exponential(_ config: Config) throws -> LearningRateSchedule {
        try make(config, .exponential(gamma: config.number("gamma")))
    }

    static func constant(_ config: Config) throws -> LearningRateSchedule { try make(config, .constant) }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .schedule, "cosine", "cosine annealing from the base rate to eta_min over t_max steps",
            reference: "Loshchilov & Hutter, SGDR, 2017", options: cosineOptions, build: cosine),
        ComponentEntry(
            .schedule, "warmup_cosine", "linear warm-up, then cosine annealing", reference: "Goyal et al., 2017",
            options: warmupOptions, build: warmupCosine),
        ComponentEntry(
            .schedule, "step", "multiply the rate by gamma every step_size steps", reference: "PyTorch StepLR",
            options: stepOptions, build: step),
        ComponentEntry(
            .schedule, "exponential", "multiply the rate by gamma every step", reference: "PyTorch ExponentialLR",
            options: exponentialOptions, build: exponential),
        ComponentEntry(
            .schedule, "constant", "keep the base rate", reference: "PyTorch ConstantLR (factor 1)",
            build: constant),
    ]
}
