import LucernaCore
import LucernaNN

extension ComponentKind {
    /// Learning-rate schedules: set an optimizer's rate per step; every one takes `optimizer`.
    public static let schedule = ComponentKind(
        name: "schedule", namespace: "schedules", protocolName: "LearningRateSchedule",
        frameworkOptions: [optimizerOption], accepts: { $0 is LearningRateSchedule },
        conformance: { instance, probe in
            let schedule = try probe.instance(instance, as: LearningRateSchedule.self, "a schedule")
            for _ in 0..<3 { try schedule.step() }
            guard schedule.currentRate.isFinite, schedule.currentRate >= 0 else {
                throw probe.fail("rate \(schedule.currentRate) after 3 steps")
            }
            probe.passed("3 steps: rate \(schedule.currentRate)")
        })

    /// The `optimizer` option every schedule takes.
    public static let optimizerOption = OptionSpec(
        "optimizer", .object("Optimizer"), required: true, "the optimizer whose rate it sets")
}

extension ComponentKindKey where Self == TypedComponentKind<LearningRateSchedule> {
    public static var schedule: Self { TypedComponentKind(.schedule) }
}
