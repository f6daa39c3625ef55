import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTrain

extension Experiment {
    /// The loss spec rebuilt with `reduction = "none"`, for a method that needs the loss of each sample.
    static func perSample(_ spec: ConfigValue) throws -> ConfigValue {
        switch spec {
        case .string(let name): return .table(["type": .string(name), "reduction": .string("none")])
        case .table(var fields):
            fields["reduction"] = .string("none")
            return .table(fields)
        default:
            throw ConfigurationError(
                "train",
                "a method needs the loss of each sample: give the loss by name or spec (it is built again with reduction = \"none\"), or loss = function(logits, batch) returning one value per sample"
            )
        }
    }

    /// The name a method spec gives it in messages and records.
    static func methodName(_ spec: ConfigValue) throws -> String {
        switch spec {
        case .string(let name): return name
        case .table(let fields):
            if case .string(let type)? = fields["type"] { return type }
            return "method"
        default: return "method"
        }
    }

    /// JTT's first stage: trains the identification model (the recipe's model, loss and regularizers) as
    /// `<name>_identify` for the method's epochs, finds its training errors, puts the initial weights and
    /// optimizer state back, logs the error set, and returns the second stage's (upsampled) training data.
    static func firstStage(
        _ method: TwoStageTrainingMethod, model: TrainableModel, optimizer: Optimizer,
        schedule makeSchedule: (_ epochs: Int, _ samples: Int) throws -> LearningRateSchedule?,
        loss: @escaping (Tensor, Batch) throws -> Tensor,
        regularizers: [(name: String, weight: Double, regularizer: Regularizer)], options: Trainer.Options,
        data: TensorDataset, hooks: Hooks, components: ComponentBuilder
    ) throws -> TensorDataset {
        let initialModel = model.state.map { $0.tensor.copy() }
        let initialOptimizer = try optimizer.stateTensors()
        var first = options
        first.name = options.name + "_identify"
        first.epochs = method.firstStageEpochs
        first.earlyStopping = nil
        first.restoreBest = false
        first.emaDecay = nil
        first.robustValidation = nil
        first.epochsBeforeResume = 0
        if let run = components.run {
            guard run.trainerNames.insert(first.name).inserted else {
                throw ConfigurationError("train", "a train{} named '\(first.name)' already ran in this recipe")
            }
            first.epochsBeforeResume = run.epochsBeforeResume[first.name] ?? 0
        }
        let trainer = try Trainer(
            model: model, optimizer: optimizer, schedule: makeSchedule(first.epochs, data.count), loss: loss,
            regularizers: regularizers, metrics: [], options: first)
        trainer.extraTerms = hooks.terms
        trainer.log = { [run = components.run] record in try run?.log(record) }
        trainer.print = options.verbose ? { print($0) } : { _ in }
        _ = try trainer.fit(train: data, validation: nil)
        let misclassified = try trainer.misclassified(data)
        for ((_, tensor), value) in zip(model.state, initialModel) { try tensor.assign(value) }
        try optimizer.loadStateTensors(initialOptimizer)
        let rows = try method.secondStageRows(misclassified: misclassified)
        var record: [String: ConfigValue] = [
            "trainer": .string(options.name), "phase": .string("jtt"),
            "jtt_errors": .number(Double(misclassified.filter { $0 }.count)),
            "jtt_rows": .number(Double(rows.count)), "samples": .number(Double(data.count)),
        ]
        if let groups = data.tensor(options.groupKey), groups.rank == 1 {
            for (index, group) in groups.toIntegers().enumerated() where misclassified[index] {
                record["jtt_errors_group_\(group)"] = .number(
                    (record["jtt_errors_group_\(group)"]?.numberValue ?? 0) + 1)
            }
        }
        try components.run?.log(record)
        if options.verbose {
            print(
                "\(options.name): jtt error set \(Int(record["jtt_errors"]?.numberValue ?? 0)) of \(data.count) training samples; second stage on \(rows.count) rows"
            )
        }
        return try data.rows(rows, name: "train (jtt upsampled)")
    }
}
