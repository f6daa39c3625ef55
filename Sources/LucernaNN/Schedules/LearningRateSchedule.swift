import Foundation

/// A learning-rate schedule: the factor-free closed form `rate(base, step)` of PyTorch's schedulers,
/// applied to every parameter group of an optimizer by ``step()``.
public final class LearningRateSchedule {
    /// The supported schedules.
    public enum Kind {
        /// `eta_min + (base - eta_min)(1 + cos(π t / T_max)) / 2` (CosineAnnealingLR).
        case cosine(maximumSteps: Int, minimumRate: Double)
        /// Linear warm-up from `startFactor · base` over `warmupSteps`, then cosine to `minimumRate` at `totalSteps`.
        case warmupCosine(warmupSteps: Int, totalSteps: Int, startFactor: Double, minimumRate: Double)
        /// `base · gamma^⌊t / stepSize⌋` (StepLR).
        case step(stepSize: Int, gamma: Double)
        /// `base · gamma^t` (ExponentialLR).
        case exponential(gamma: Double)
        /// `base`.
        case constant
        /// A rule supplied at run time (a Lua schedule plugin): `rate(base, t)`.
        case custom(name: String, rate: (Double, Int) throws -> Double)
    }

    public let kind: Kind
    public let optimizer: Optimizer
    /// Steps taken so far (epochs or iterations, as the caller counts).
    public private(set) var stepCount = 0

    public init(_ kind: Kind, optimizer: Optimizer) throws {
        switch kind {
        case .cosine(let maximumSteps, _) where maximumSteps <= 0:
            throw ScheduleError("cosine: t_max must be positive, got \(maximumSteps)")
        case .warmupCosine(let warmup, let total, let factor, _)
        where warmup < 0 || total <= warmup || factor < 0 || factor > 1:
            throw ScheduleError(
                "warmup_cosine: need 0 <= warmup < total and start factor in [0, 1], got warmup \(warmup), total \(total), factor \(factor)"
            )
        case .step(let stepSize, _) where stepSize <= 0:
            throw ScheduleError("step: step size must be positive, got \(stepSize)")
        default: break
        }
        self.kind = kind
        self.optimizer = optimizer
        // Like PyTorch's schedulers, construction sets the step-0 rate.
        for group in optimizer.groups { group.learningRate = try rate(base: group.initialLearningRate, at: 0) }
    }

    /// The rate at step `t` for a group that started at `base`.
    public func rate(base: Double, at t: Int) throws -> Double {
        switch kind {
        case .cosine(let maximumSteps, let minimumRate):
            return minimumRate + (base - minimumRate) * (1 + cos(Double.pi * Double(t) / Double(maximumSteps))) / 2
        case .warmupCosine(let warmup, let total, let startFactor, let minimumRate):
            if t < warmup {
                return base * (startFactor + (1 - startFactor) * Double(t) / Double(warmup))
            }
            // As PyTorch's SequentialLR(LinearLR, CosineAnnealingLR): past `totalSteps` the cosine continues.
            let progress = Double(t - warmup) / Double(total - warmup)
            return minimumRate + (base - minimumRate) * (1 + cos(Double.pi * progress)) / 2
        case .step(let stepSize, let gamma):
            return base * pow(gamma, Double(t / stepSize))
        case .exponential(let gamma):
            return base * pow(gamma, Double(t))
        case .constant:
            return base
        case .custom(let name, let rule):
            let value = try rule(base, t)
            guard value.isFinite, value >= 0 else {
                throw ScheduleError("\(name): rate \(value) at step \(t) must be finite and non-negative")
            }
            return value
        }
    }

    /// Advances one step and sets each group's learning rate.
    public func step() throws {
        stepCount += 1
        for group in optimizer.groups { group.learningRate = try rate(base: group.initialLearningRate, at: stepCount) }
    }

    /// Jumps to step `count` (resuming from a checkpoint) and sets each group's learning rate.
    public func restore(stepCount count: Int) throws {
        guard count >= 0 else { throw ScheduleError("schedule: cannot restore to step \(count)") }
        stepCount = count
        for group in optimizer.groups { group.learningRate = try rate(base: group.initialLearningRate, at: count) }
    }

    /// The current learning rate of the first group.
    public var currentRate: Double { optimizer.groups.first?.learningRate ?? 0 }
}

/// A schedule configured with invalid values.
public struct ScheduleError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
