import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
import LucernaTrain

/// A Lua function kept in the registry while Swift holds it (a `train{}` callback).
final class LuaFunctionReference {
    weak var lua: LuaState?
    let reference: Int32
    let label: String

    /// References the function at `index`.
    init(_ lua: LuaState, at index: Int32, label: String) {
        self.lua = lua
        self.label = label
        lua_pushvalue(lua.state, index)
        reference = luaL_ref(lua.state, lucerna_registryindex())
    }

    deinit { if let lua { luaL_unref(lua.state, lucerna_registryindex(), reference) } }

    /// Calls the function with `arguments`; returns its first result.
    func call(_ arguments: [ConfigValue]) throws -> ConfigValue {
        guard let lua else { throw TensorError(label, "the Lua state has been closed") }
        let state = lua.state
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        lua_rawgeti(state, lucerna_registryindex(), lua_Integer(reference))
        for argument in arguments { LuaConfigValue.push(argument, in: state) }
        try lua.protectedCall(arguments: Int32(arguments.count), results: 1)
        return try LuaConfigValue.read(-1, in: state, path: "\(label) result")
    }

    /// Calls the function and requires a tensor back.
    func tensor(_ arguments: [ConfigValue]) throws -> Tensor {
        guard case .tensor(let tensor) = try call(arguments) else { throw TensorError(label, "must return a tensor") }
        return tensor
    }
}

/// `train{model = ..., data = ..., ...}`: the ``Trainer`` from Lua, with the paper's protocol as defaults
/// (a stratified 20 % validation split of `data`, AdamW with cosine annealing, accuracy and macro F1,
/// the best validation epoch restored), checkpoints in the run folder and resume under `--resume`.
enum LuaTrainAPI {
    static let options: [(name: String, help: String)] = [
        ("model", "a module, or a table of named modules with `forward`"),
        ("forward", "function(batch) -> logits; default model(batch[inputs])"),
        ("data", "the training set (a table of tensors, e.g. data.mnist{})"),
        ("validation", "a data set, or the fraction of `data` held out stratified by target (default 0.2; 0 for none)"),
        ("test", "a data set evaluated once with the restored model"),
        ("loss", "a loss (name, spec, instance) or function(logits, batch) -> scalar; default cross_entropy"),
        ("optimizer", "an optimizer instance or spec (params are filled in); default {type = \"adamw\", lr = 1e-3, weight_decay = 1e-2}"),
        ("schedule", "a schedule instance, spec or name, or false; default cosine over the epochs (t_max filled in)"),
        ("schedule_interval", "\"epoch\" (default) or \"step\""),
        ("regularizers", "list of regularizers: instances, specs {type = ..., weight = w, name = ...}, or {instance, weight = w}"),
        ("terms", "function(batch, logits) -> {name = scalar tensor, ...}: extra loss terms, each logged"),
        ("metrics", "table name -> metric (instance, spec or name); default {accuracy = \"accuracy\", f1 = {type = \"f1\", average = \"macro\"}}"),
        ("epochs", "number of epochs (default 10)"),
        ("batch", "mini-batch size (default 64)"),
        ("eval_batch", "evaluation batch size (default 1000)"),
        ("drop_last", "drop the last incomplete batch (default false)"),
        ("clip_grad_norm", "rescale gradients to this global L2 norm"),
        ("ema", "decay of a moving average of the weights (e.g. 0.999) that validation, the best epoch and the test use"),
        ("clip_grad_value", "clamp gradients to +-value"),
        ("early_stopping", "{metric = \"val_f1\", patience = 3, mode = \"max\", min_delta = 0}"),
        ("restore_best", "load the best validation epoch's weights at the end (default true)"),
        ("target", "the target tensor's name (default \"labels\")"),
        ("groups", "the protected-attribute tensor's name (default \"groups\")"),
        ("inputs", "the tensor fed to a single model (default: the first of images, inputs, tokens, features present)"),
        ("seed", "seed of the validation split (default: the run's seed)"),
        ("name", "the trainer's name in records and checkpoint files (default \"train\")"),
        ("adversarial", "adversarial training: {method = \"pgd\", attack = spec or instance, mix = 1} (Madry; fgsm_rs for fast training) or {method = \"trades\", beta = 6, eps, alpha, steps}"),
        ("robust_validation", "{attack = spec or instance, limit = 1000}: robust accuracy on that many evenly spaced validation samples each epoch, recorded as val_robust_accuracy (early_stopping can watch it)"),
        ("verbose", "print a line per epoch (default true)"),
        ("callbacks", "{on_step_end = function(info), on_epoch_end = function(record) -> true to stop}"),
    ]
    static let callbackNames = ["on_step_end", "on_epoch_end"]

    static let evaluateOptions: [(name: String, help: String)] = [
        ("model", "a module, or a table of named modules with `forward`"),
        ("forward", "function(batch) -> logits; default model(batch[inputs])"),
        ("data", "the data set to evaluate"),
        ("metrics", "table name -> metric; default {accuracy = \"accuracy\", f1 = {type = \"f1\", average = \"macro\"}}"),
        ("loss", "also report the mean loss (a loss name, spec or instance)"),
        ("target", "the target tensor's name (default \"labels\")"),
        ("groups", "the protected-attribute tensor's name (default \"groups\")"),
        ("inputs", "the tensor fed to a single model (default: the first of images, inputs, tokens, features present)"),
        ("batch", "batch size (default 1000)"),
        ("name", "record name: logs {evaluation = name, <name>_<metric> = value} and adds the reports to evaluation.json (default: no record)"),
        ("attacks", "table name -> attack (instance, name or spec): logs clean accuracy and robust accuracy per attack, each labelled with its budget"),
        ("epsilons", "list of budgets: every attack given as a name or spec is run at each (names become <attack>_eps<value>), a robustness curve"),
        ("worst_case", "also report the per-sample worst case over all attacks (AutoAttack-style; default true with two or more attacks)"),
    ]

    static func install(in lua: LuaState) {
        lua.register("train") { [unowned lua] call in
            let result = try train(call, lua: lua)
            LuaConfigValue.push(result, in: call.state)
            return 1
        }
        lua.register("evaluate") { [unowned lua] call in
            LuaConfigValue.push(try evaluate(call, lua: lua), in: call.state)
            return 1
        }
    }

    /// `evaluate{model = m, data = set, metrics = {...}, name = "madlibs"}` → `{<metric> = value, ..., reports = {...}}`.
    static func evaluate(_ call: LuaCall, lua: LuaState) throws -> ConfigValue {
        guard call.count == 1, lua_type(call.state, 1) == LUA_TTABLE else {
            throw TensorError("evaluate", "expected one table: evaluate{model = ..., data = ..., metrics = {...}}")
        }
        let (spec, functions) = try readSpec(call, lua: lua, accepted: evaluateOptions.map(\.name), function: "evaluate")
        let config = Config(owner: "evaluate", values: spec)
        let data = try dataset(spec["data"] ?? .null, role: "data")
        let inputKey = try config.string("inputs", default: ["images", "inputs", "tokens", "features"].first { data.tensor($0) != nil } ?? "inputs")
        let model = try buildModel(spec["model"] ?? .null, forward: functions["forward"], inputKey: inputKey)
        let targetKey = try config.string("target", default: "labels"), groupKey = try config.string("groups", default: "groups")
        var loss: ((Tensor, Batch) throws -> Tensor)?
        if let lossSpec = spec["loss"], !lossSpec.isNull {
            let component = try component(.loss, lossSpec, lua: lua, "loss")
            loss = { logits, batch in try component.loss(logits, batch[targetKey] ?? logits) }
        }
        let batchSize = config.has("batch") ? try config.positiveInteger("batch") : 1000
        let name = config.has("name") ? try config.string("name") : nil
        if let name, name.range(of: "^[A-Za-z0-9_]+$", options: .regularExpression) == nil {
            throw TensorError("evaluate", "name '\(name)' must use letters, digits and '_'")
        }
        let memo = EvaluationMemo(spec: spec, functions: functions, model: model, data: data, lua: lua)
        if let memo, let stored = memo.load() {
            print("evaluate \(name ?? ""): the result of an earlier attempt of this run, replayed from \(memo.path) (same program, recipe, model, data, options and random state)")
            try log(stored, lua: lua)
            return stored.table
        }
        let outcome = try Evaluation.run(model: model, data: data, metrics: try metrics(spec["metrics"] ?? .null, lua: lua), loss: loss,
                                         targetKey: targetKey, groupKey: groupKey, batchSize: batchSize,
                                         label: "evaluate \(name ?? "")", reports: true)
        var table = outcome.values.mapValues(ConfigValue.number)
        table["reports"] = .table(outcome.reports.mapValues(ConfigValue.table))
        var result = EvaluationMemo.Outcome(table: .null)
        if let name {
            var record: [String: ConfigValue] = ["evaluation": .string(name), "phase": .string("evaluation")]
            for (metric, value) in outcome.values { record["\(name)_\(metric)"] = .number(value) }
            result.records.append(record)
            result.evaluation = (name, outcome.values, outcome.reports)
        }
        if let attackSpecs = spec["attacks"], !attackSpecs.isNull {
            let robustness = try robustnessEvaluation(attackSpecs, epsilons: spec["epsilons"] ?? .null, worstCase: spec["worst_case"] ?? .null,
                                                      model: model, data: data, inputKey: inputKey, targetKey: targetKey, batchSize: batchSize,
                                                      name: name, lua: lua)
            for (key, value) in robustness.table { table[key] = value }
            if let record = robustness.record { result.records.append(record) }
        }
        result.table = .table(table)
        try log(result, lua: lua)
        try memo?.store(result)
        return result.table
    }

    /// Logs an evaluation's records and `evaluation.json` entry into the run.
    static func log(_ outcome: EvaluationMemo.Outcome, lua: LuaState) throws {
        guard let run = lua.run else { return }
        for record in outcome.records { try run.log(record) }
        if let evaluation = outcome.evaluation {
            try run.recordEvaluation(trainer: evaluation.name, values: evaluation.values, reports: evaluation.reports)
        }
    }

    /// `train{adversarial = {method = "pgd", attack = ..., mix = 1}}` or `{method = "trades", beta, eps, alpha, steps}`.
    static func adversarialTraining(_ value: ConfigValue, inputKey: String, targetKey: String, lua: LuaState) throws -> AdversarialTraining {
        guard case .table(let fields) = value else {
            throw TensorError("train", "adversarial must be a table, e.g. {method = \"pgd\", attack = {type = \"pgd\", eps = 0.1, alpha = 0.01, steps = 10}}")
        }
        try rejectUnknownOptions(fields.keys, accepted: ["method", "attack", "mix", "beta", "eps", "alpha", "steps", "clamp_min", "clamp_max"],
                                 owner: "train adversarial")
        let config = Config(owner: "train: adversarial", values: fields)
        switch try config.string("method", default: "pgd") {
        case "pgd":
            guard let attackSpec = fields["attack"] else { throw TensorError("train", "adversarial: method pgd needs attack = an attack (instance, name or spec)") }
            let attack = try component(.attack, attackSpec, lua: lua, "adversarial attack")
            return try AdversarialTraining(method: .attack(attack, mix: config.number("mix", default: 1) ?? 1), inputKey: inputKey, targetKey: targetKey)
        case "trades":
            let eps = try config.number("eps", default: 0.1) ?? 0.1
            return try AdversarialTraining(method: .trades(beta: config.number("beta", default: 6) ?? 6, eps: eps,
                                                           alpha: config.number("alpha", default: eps / 4) ?? eps / 4, steps: config.integer("steps", default: 10),
                                                           clampRange: (config.number("clamp_min", default: 0) ?? 0, config.number("clamp_max", default: 1) ?? 1)),
                                           inputKey: inputKey, targetKey: targetKey)
        case let other:
            throw TensorError("train", "adversarial: method must be pgd or trades, got \(other)")
        }
    }

    /// `train{robust_validation = {attack = ..., limit = 1000}}`.
    static func robustValidation(_ value: ConfigValue, inputKey: String, lua: LuaState) throws -> RobustValidation {
        guard case .table(let fields) = value, let attackSpec = fields["attack"] else {
            throw TensorError("train", "robust_validation must be a table with an attack, e.g. {attack = {type = \"pgd\", eps = 0.1, alpha = 0.025, steps = 10}, limit = 1000}")
        }
        try rejectUnknownOptions(fields.keys, accepted: ["attack", "limit"], owner: "train robust_validation")
        let attack = try component(.attack, attackSpec, lua: lua, "robust_validation attack")
        return try RobustValidation(attack: attack, limit: Config(owner: "train: robust_validation", values: fields).integer("limit", default: 1000), inputKey: inputKey)
    }

    /// The attacks of `evaluate{attacks = ..., epsilons = ...}` run over the data: `clean_accuracy`,
    /// `robust_accuracy = {name = value}`, `attack_labels = {name = label}`, `worst_case_accuracy`; logged as
    /// `<name>_robust_<attack>` with a record of labels when the evaluation is named.
    static func robustnessEvaluation(_ value: ConfigValue, epsilons: ConfigValue, worstCase: ConfigValue, model: TrainableModel, data: TensorDataset,
                                     inputKey: String, targetKey: String, batchSize: Int, name: String?, lua: LuaState)
        throws -> (table: [String: ConfigValue], record: [String: ConfigValue]?) {
        guard case .table(let entries) = value, !entries.isEmpty else {
            throw TensorError("evaluate", "attacks must be a table from name to attack, e.g. {pgd20 = {type = \"pgd\", eps = 0.1, steps = 20}}")
        }
        var budgets: [Double?] = [nil]
        switch epsilons {
        case .null: break
        case .list(let items):
            budgets = try items.map { item in
                guard case .number(let eps) = item, eps >= 0 else { throw TensorError("evaluate", "epsilons must be a list of non-negative numbers") }
                return eps
            }
        default: throw TensorError("evaluate", "epsilons must be a list of numbers, e.g. {0.05, 0.1, 0.2}")
        }
        var attacks: [(name: String, attack: Attack)] = []
        for attackName in entries.keys.sorted() {
            let entry = entries[attackName] ?? .null
            for eps in budgets {
                var specification = entry
                var label = attackName
                if let eps {
                    switch entry {
                    case .string(let type): specification = .table(["type": .string(type), "eps": .number(eps)])
                    case .table(var fields): fields["eps"] = .number(eps); specification = .table(fields)
                    default: throw TensorError("evaluate", "with epsilons, attack \(attackName) must be a name or a spec table (an instance has a fixed budget)")
                    }
                    label = "\(attackName)_eps\(eps)"
                }
                attacks.append((label, try component(.attack, specification, lua: lua, "attack")))
            }
        }
        let useWorstCase: Bool
        switch worstCase {
        case .null: useWorstCase = attacks.count > 1 && budgets.count == 1
        case .boolean(let flag): useWorstCase = flag
        default: throw TensorError("evaluate", "worst_case must be a boolean")
        }
        let result = try RobustnessEvaluation.run(model: model, data: data, attacks: attacks, inputKey: inputKey, targetKey: targetKey,
                                                  batchSize: batchSize, label: "evaluate \(name ?? "")")
        var table: [String: ConfigValue] = [
            "clean_accuracy": .number(result.clean),
            "robust_accuracy": .table(Dictionary(uniqueKeysWithValues: result.robust.map { ($0.name, .number($0.accuracy)) })),
            "attack_labels": .table(Dictionary(uniqueKeysWithValues: result.robust.map { ($0.name, .string($0.label)) })),
        ]
        if useWorstCase, let worst = result.worstCase { table["worst_case_accuracy"] = .number(worst) }
        guard let name else { return (table, nil) }
        var record: [String: ConfigValue] = ["evaluation": .string(name), "phase": .string("robustness"),
                                             "\(name)_clean_accuracy": .number(result.clean), "samples": .number(Double(result.count))]
        for entry in result.robust {
            record["\(name)_robust_\(entry.name)"] = .number(entry.accuracy)
            record["attack_\(entry.name)"] = .string(entry.label)
        }
        if useWorstCase, let worst = result.worstCase { record["\(name)_robust_worst_case"] = .number(worst) }
        return (table, record)
    }

    /// Reads the spec, builds the trainer, fits, and returns the result as a table.
    static func train(_ call: LuaCall, lua: LuaState) throws -> ConfigValue {
        guard call.count == 1, lua_type(call.state, 1) == LUA_TTABLE else {
            throw TensorError("train", "expected one table: train{model = ..., data = ..., epochs = ...}")
        }
        let (spec, functions) = try readSpec(call, lua: lua)
        // Typed reads with defaults; errors name the option ("train: option epochs must be an integer").
        let config = Config(owner: "train", values: spec)
        func value(_ key: String) -> ConfigValue { config.value(key) }
        func number(_ key: String, _ fallback: Double?) throws -> Double? { try config.number(key, default: fallback) }
        func integer(_ key: String, _ fallback: Int) throws -> Int { try config.integer(key, default: fallback) }
        func boolean(_ key: String, _ fallback: Bool) throws -> Bool { try config.boolean(key, default: fallback) }
        func string(_ key: String, _ fallback: String) throws -> String { try config.string(key, default: fallback) }

        // 1. Options.
        var options = Trainer.Options()
        options.name = try string("name", "train")
        guard options.name.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression) != nil else {
            throw TensorError("train", "name '\(options.name)' must use letters, digits, '_' and '-'")
        }
        options.epochs = try integer("epochs", 10)
        options.batchSize = try integer("batch", 64)
        options.evaluationBatchSize = try integer("eval_batch", 1000)
        options.dropLast = try boolean("drop_last", false)
        options.clipGradientNorm = try number("clip_grad_norm", nil)
        options.emaDecay = try number("ema", nil)
        options.clipGradientValue = try number("clip_grad_value", nil)
        options.restoreBest = try boolean("restore_best", true)
        options.targetKey = try string("target", "labels")
        options.groupKey = try string("groups", "groups")
        options.verbose = try boolean("verbose", true)
        let interval = try string("schedule_interval", "epoch")
        guard interval == "epoch" || interval == "step" else {
            throw TensorError("train", "schedule_interval must be \"epoch\" or \"step\", got \"\(interval)\"")
        }
        options.scheduleEveryStep = interval == "step"
        options.earlyStopping = try earlyStopping(value("early_stopping"))
        if let run = lua.run {
            guard run.trainerNames.insert(options.name).inserted else {
                throw TensorError("train", "a train{} named '\(options.name)' already ran in this recipe; give each call its own name = ... (checkpoints are per name)")
            }
            options.checkpointDirectory = "\(run.directory)/checkpoints"
            options.resume = run.resuming
        }

        // 2. Data.
        let train = try dataset(value("data"), role: "data")
        var validation: TensorDataset?, trainingSet = train
        switch value("validation") {
        case .null, .number:
            let fraction = try number("validation", 0.2) ?? 0.2
            guard fraction >= 0, fraction < 1 else { throw TensorError("train", "validation must be a fraction in [0, 1), got \(fraction)") }
            if fraction > 0 {
                let seed = try integer("seed", lua.run?.seed ?? 0)
                (trainingSet, validation) = try split(train, fraction: fraction, target: options.targetKey, seed: seed, lua: lua)
            }
        case let other:
            validation = try dataset(other, role: "validation")
        }
        let test = value("test").isNull ? nil : try dataset(value("test"), role: "test")
        let inputKey = try string("inputs", ["images", "inputs", "tokens", "features"].first { trainingSet.tensor($0) != nil } ?? "inputs")
        options.inputKey = inputKey
        if let adversarial = spec["adversarial"], !adversarial.isNull {
            options.adversarial = try adversarialTraining(adversarial, inputKey: inputKey, targetKey: options.targetKey, lua: lua)
        }
        if let robust = spec["robust_validation"], !robust.isNull {
            options.robustValidation = try robustValidation(robust, inputKey: inputKey, lua: lua)
        }

        // 3. Model.
        let model = try buildModel(value("model"), forward: functions["forward"], inputKey: inputKey)

        // 4. Loss, regularizers, metrics.
        let loss: (Tensor, Batch) throws -> Tensor
        let targetKey = options.targetKey
        if let function = functions["loss"] {
            loss = { logits, batch in try function.tensor([.tensor(logits), .table(batch.mapValues(ConfigValue.tensor))]) }
        } else {
            let spec = value("loss").isNull ? ConfigValue.string("cross_entropy") : value("loss")
            let component = try component(.loss, spec, lua: lua, "loss")
            loss = { logits, batch in
                guard let targets = batch[targetKey] else { throw TensorError("train", "the batch has no '\(targetKey)' tensor") }
                return try component.loss(logits, targets)
            }
        }
        let regularizers = try self.regularizers(value("regularizers"), lua: lua)
        let metrics = try self.metrics(value("metrics"), lua: lua)

        // 5. Optimizer and schedule.
        var trainable = model.namedParameters.map(\.tensor)
        for (_, _, regularizer) in regularizers {
            if let owner = regularizer as? ParameterOwner { trainable += owner.parameters() }
        }
        let optimizer: Optimizer
        switch value("optimizer") {
        case .object(let instance as Optimizer): optimizer = instance
        case .null: optimizer = try component(.optimizer, .table(["type": .string("adamw"), "params": .list(trainable.map(ConfigValue.tensor)),
                                                                  "lr": .number(1e-3), "weight_decay": .number(1e-2)]), lua: lua, "optimizer")
        case .string(let name): optimizer = try component(.optimizer, .table(["type": .string(name), "params": .list(trainable.map(ConfigValue.tensor))]), lua: lua, "optimizer")
        case .table(var fields):
            if fields["params"] == nil { fields["params"] = .list(trainable.map(ConfigValue.tensor)) }
            optimizer = try component(.optimizer, .table(fields), lua: lua, "optimizer")
        case let other: throw TensorError("train", "optimizer must be an optimizer, a name or a spec table, got \(other.kindName)")
        }
        let stepsPerEpoch = options.dropLast ? trainingSet.count / options.batchSize : (trainingSet.count + options.batchSize - 1) / options.batchSize
        let horizon = options.scheduleEveryStep ? options.epochs * max(stepsPerEpoch, 1) : options.epochs
        let schedule: LearningRateSchedule?
        switch value("schedule") {
        case .boolean(false): schedule = nil
        case .object(let instance as LearningRateSchedule): schedule = instance
        case .null: schedule = try component(.schedule, .table(["type": .string("cosine"), "optimizer": .object(optimizer), "t_max": .number(Double(horizon))]), lua: lua, "schedule")
        case .string(let name): schedule = try component(.schedule, scheduleSpec(["type": .string(name)], optimizer: optimizer, horizon: horizon, lua: lua), lua: lua, "schedule")
        case .table(let fields): schedule = try component(.schedule, scheduleSpec(fields, optimizer: optimizer, horizon: horizon, lua: lua), lua: lua, "schedule")
        case let other: throw TensorError("train", "schedule must be a schedule, a name, a spec table or false, got \(other.kindName)")
        }

        // 6. Fit.
        let trainer = try Trainer(model: model.including(extra: optimizer.allParameters), optimizer: optimizer, schedule: schedule,
                                  loss: loss, regularizers: regularizers, metrics: metrics, options: options)
        if let terms = functions["terms"] {
            trainer.extraTerms = { batch, logits in
                let result = try terms.call([.table(batch.mapValues(ConfigValue.tensor)), .tensor(logits)])
                guard case .table(let fields) = result else {
                    if result.isNull { return [] }
                    throw TensorError("train terms", "must return a table {name = scalar tensor}, got \(result.kindName)")
                }
                return try fields.keys.sorted().map { name in
                    guard case .tensor(let tensor)? = fields[name] else { throw TensorError("train terms", "\(name) must be a tensor") }
                    return (name, tensor)
                }
            }
        }
        if let callback = functions["callbacks.on_step_end"] {
            trainer.onStepEnd = { info in
                _ = try callback.call([.table(["epoch": .number(Double(info.epoch)), "step": .number(Double(info.step)),
                                               "global_step": .number(Double(info.globalStep)), "loss": .number(info.loss),
                                               "batch_size": .number(Double(info.batchSize)), "lr": .number(info.learningRate),
                                               "terms": .table(info.terms.mapValues(ConfigValue.number))])])
            }
        }
        if let callback = functions["callbacks.on_epoch_end"] {
            trainer.onEpochEnd = { record in
                if case .boolean(true) = try callback.call([.table(record)]) { return true }
                return false
            }
        }
        trainer.log = { [weak lua] record in try lua?.run?.log(record) }
        trainer.print = options.verbose ? { line in
            print(line)
            fflush(nil)   // stream epoch lines when standard output is a file or a pipe
        } : { _ in }
        let result = try trainer.fit(train: trainingSet, validation: validation, test: test)
        if let run = lua.run, !result.test.isEmpty {
            try run.recordEvaluation(trainer: options.name, values: result.test, reports: result.testReports)
        }
        if let run = lua.run, options.checkpointDirectory != nil {
            run.recordCheckpoint("checkpoints/\(options.name)-last.safetensors")
            if result.bestEpoch != nil { run.recordCheckpoint("checkpoints/\(options.name)-best.safetensors") }
        }
        var table: [String: ConfigValue] = ["epochs_run": .number(Double(result.epochsRun)), "stopped_early": .boolean(result.stoppedEarly),
                                            "history": .list(result.history.map { .table($0) }),
                                            "test": .table(result.test.mapValues(ConfigValue.number)),
                                            "reports": .table(result.testReports.mapValues(ConfigValue.table))]
        if let bestEpoch = result.bestEpoch { table["best_epoch"] = .number(Double(bestEpoch)) }
        if let bestValue = result.bestValue { table["best_value"] = .number(bestValue) }
        return .table(table)
    }

    /// A module fed `batch[inputKey]`, or modules with a Lua `forward(batch)`.
    static func buildModel(_ value: ConfigValue, forward: LuaFunctionReference?, inputKey: String) throws -> TrainableModel {
        func luaForward(_ function: LuaFunctionReference) -> (Batch) throws -> Tensor {
            { batch in try function.tensor([.table(batch.mapValues(ConfigValue.tensor))]) }
        }
        switch value {
        case .object(let object as Module):
            if let forward { return TrainableModel(modules: [("", object)], forward: luaForward(forward)) }
            return TrainableModel(module: object, inputKey: inputKey)
        case .table(let fields) where !fields.isEmpty:
            var modules: [(name: String, module: Module)] = []
            for name in fields.keys.sorted() {
                guard case .object(let module as Module)? = fields[name] else {
                    throw TensorError("train", "model.\(name) must be a module, got \(fields[name]?.kindName ?? "nil")")
                }
                modules.append((name, module))
            }
            guard let forward else {
                throw TensorError("train", "a table of modules needs forward = function(batch) ... return logits end")
            }
            return TrainableModel(modules: modules, forward: luaForward(forward))
        case let other:
            throw TensorError("train", "model must be a module (e.g. models.cnn{}) or a table of named modules, got \(other.kindName)")
        }
    }

    // MARK: - Spec reading

    /// The spec's values, with its functions (`forward`, `loss`, `terms`, `callbacks.*`) kept as references.
    static func readSpec(_ call: LuaCall, lua: LuaState, accepted: [String] = options.map(\.name), function: String = "train")
        throws -> ([String: ConfigValue], [String: LuaFunctionReference]) {
        let state = call.state
        var values: [String: ConfigValue] = [:], functions: [String: LuaFunctionReference] = [:]
        lua_pushnil(state)
        while lua_next(state, 1) != 0 {
            defer { lucerna_pop(state, 1) }
            guard lua_type(state, -2) == LUA_TSTRING, let key = lucerna_tostring(state, -2).map({ String(cString: $0) }) else {
                throw TensorError(function, "options must be named (\(function){model = ..., data = ...})")
            }
            guard accepted.contains(key) else {
                throw TensorError(function, "unknown option '\(key)'\(suggestion(for: key, in: accepted)); accepted: \(accepted.joined(separator: ", "))")
            }
            switch (key, lua_type(state, -1)) {
            case ("forward", LUA_TFUNCTION), ("loss", LUA_TFUNCTION), ("terms", LUA_TFUNCTION):
                functions[key] = LuaFunctionReference(lua, at: -1, label: "\(function) \(key)")
            case ("forward", _), ("terms", _):
                throw TensorError("train", "\(key) must be a function")
            case ("callbacks", LUA_TTABLE):
                let table = lua_absindex(state, -1)
                lua_pushnil(state)
                while lua_next(state, table) != 0 {
                    defer { lucerna_pop(state, 1) }
                    let name = lua_type(state, -2) == LUA_TSTRING ? lucerna_tostring(state, -2).map { String(cString: $0) } ?? "?" : "?"
                    guard callbackNames.contains(name) else {
                        throw TensorError("train", "unknown callback '\(name)'\(suggestion(for: name, in: callbackNames)); accepted: \(callbackNames.joined(separator: ", "))")
                    }
                    guard lua_type(state, -1) == LUA_TFUNCTION else { throw TensorError("train", "callbacks.\(name) must be a function") }
                    functions["callbacks.\(name)"] = LuaFunctionReference(lua, at: -1, label: "train callbacks.\(name)")
                }
            case ("callbacks", _):
                throw TensorError("train", "callbacks must be a table {on_step_end = function ..., on_epoch_end = function ...}")
            default:
                values[key] = try LuaConfigValue.read(-1, in: state, path: "train \(key)")
            }
        }
        return (values, functions)
    }

    static func dataset(_ value: ConfigValue, role: String) throws -> TensorDataset {
        guard case .table(let fields) = value else {
            throw TensorError("train", "\(role) must be a data set (a table of tensors such as data.mnist{}), got \(value.kindName)")
        }
        let tensors = fields.keys.sorted().compactMap { key -> (name: String, tensor: Tensor)? in
            guard key != "indices", case .tensor(let tensor)? = fields[key] else { return nil }
            return (key, tensor)
        }
        guard !tensors.isEmpty else { throw TensorError("train", "\(role) holds no tensors") }
        return TensorDataset(name: role, tensors: tensors, metadata: fields.filter { if case .tensor = $0.value { false } else { true } })
    }

    /// A stratified split of `data` into (kept, held out), logged to `splits.jsonl`.
    static func split(_ data: TensorDataset, fraction: Double, target: String, seed: Int, lua: LuaState) throws -> (TensorDataset, TensorDataset) {
        guard let labels = data.tensor(target), labels.rank == 1 else {
            throw TensorError("train", "a validation fraction stratifies by '\(target)', which must be a [N] tensor of the training data")
        }
        let split = DataSplits.stratified(keys: labels.toIntegers(), fraction: fraction, generator: RandomGenerator(seed: UInt64(truncatingIfNeeded: seed)))
        guard !split.kept.isEmpty, !split.heldOut.isEmpty else {
            throw TensorError("train", "validation = \(fraction) of \(data.count) samples leaves an empty part")
        }
        for (part, indices) in [("train", split.kept), ("validation", split.heldOut)] {
            try lua.run?.log(["split": .string(part), "dataset": .string("train data"), "samples": .number(Double(indices.count)),
                              "seed": .number(Double(seed)), "validation": .number(fraction), "digest": .string(DataSplits.digest(indices))],
                             file: "splits.jsonl")
        }
        return (try data.rows(split.kept, name: "train"), try data.rows(split.heldOut, name: "validation"))
    }

    static func earlyStopping(_ value: ConfigValue) throws -> EarlyStopping? {
        switch value {
        case .null, .boolean(false): return nil
        case .table(let fields):
            try rejectUnknownOptions(fields.keys, accepted: ["metric", "patience", "mode", "min_delta"], owner: "train early_stopping")
            guard case .string(let metric) = fields["metric"] ?? .string("val_loss") else {
                throw TensorError("train early_stopping", "metric must be a record name such as \"val_f1\"")
            }
            var mode = EarlyStopping.defaultMode(for: metric)
            if let given = fields["mode"] {
                guard case .string(let text) = given, let parsed = EarlyStopping.Mode(rawValue: text) else {
                    throw TensorError("train early_stopping", "mode must be \"min\" or \"max\", got \(given)")
                }
                mode = parsed
            }
            let patience = fields["patience"]?.numberValue ?? 3
            guard patience.rounded() == patience, patience >= 1, patience < 1e6 else {
                throw TensorError("train early_stopping", "patience must be a positive integer, got \(patience)")
            }
            return try EarlyStopping(metric: metric, patience: Int(patience), mode: mode, minimumDelta: fields["min_delta"]?.numberValue ?? 0)
        case let other:
            throw TensorError("train", "early_stopping must be a table {metric = \"val_f1\", patience = 3, mode = \"max\"} or false, got \(other.kindName)")
        }
    }

    /// A component from an instance, name or spec (built and recorded in `components.jsonl`).
    static func component<Key: ComponentKindKey>(_ key: Key, _ spec: ConfigValue, lua: LuaState, _ role: String) throws -> Key.Instance {
        try LuaComponentsAPI.build(key, from: spec, context: "train \(role)", in: lua)
    }

    /// A schedule spec with the optimizer and, when the schedule takes one and none is given, its horizon.
    static func scheduleSpec(_ fields: [String: ConfigValue], optimizer: Optimizer, horizon: Int, lua: LuaState) throws -> ConfigValue {
        var spec = fields
        spec["optimizer"] = .object(optimizer)
        if case .string(let name)? = fields["type"], let entry = try? lua.registry.entry(.schedule, name) {
            for key in ["t_max", "total"] where spec[key] == nil && entry.options.contains(where: { $0.name == key }) {
                spec[key] = .number(Double(horizon))
            }
        }
        return .table(spec)
    }

    static func regularizers(_ value: ConfigValue, lua: LuaState) throws -> [(name: String, weight: Double, regularizer: Regularizer)] {
        let items: [ConfigValue]
        switch value {
        case .null: return []
        case .list(let list): items = list
        case .table(let fields) where fields.isEmpty: return []
        case let other: throw TensorError("train", "regularizers must be a list, got \(other.kindName)")
        }
        var result: [(name: String, weight: Double, regularizer: Regularizer)] = []
        var used = Set<String>()
        for (position, item) in items.enumerated() {
            var weight = 1.0, name: String?, instance: Regularizer
            switch item {
            case .object(let object as Regularizer): instance = object
            case .string(let type):
                instance = try component(.regularizer, .string(type), lua: lua, "regularizers[\(position + 1)]")
                name = type
            case .table(var fields):
                if let given = fields.removeValue(forKey: "weight") {
                    guard let number = given.numberValue, number.isFinite else { throw TensorError("train", "regularizers[\(position + 1)].weight must be a number") }
                    weight = number
                }
                if let given = fields.removeValue(forKey: "name") {
                    guard case .string(let text) = given else { throw TensorError("train", "regularizers[\(position + 1)].name must be a string") }
                    name = text
                }
                if case .object(let object as Regularizer)? = fields.removeValue(forKey: "regularizer") {
                    instance = object
                } else if case .string(let type)? = fields["type"] {
                    instance = try component(.regularizer, .table(fields), lua: lua, "regularizers[\(position + 1)]")
                    name = name ?? type
                } else {
                    throw TensorError("train", "regularizers[\(position + 1)] must be a regularizer, {type = \"l2\", weight = ...} or {regularizer = r, weight = ...}")
                }
            default:
                throw TensorError("train", "regularizers[\(position + 1)] must be a regularizer or a spec table, got \(item.kindName)")
            }
            var label = name ?? "regularizer\(position + 1)"
            if label == "data_loss" || used.contains(label) { label += "_\(position + 1)" }
            used.insert(label)
            result.append((label, weight, instance))
        }
        return result
    }

    static func metrics(_ value: ConfigValue, lua: LuaState) throws -> [(name: String, metric: Metric)] {
        let fields: [String: ConfigValue]
        switch value {
        case .null: fields = ["accuracy": .string("accuracy"), "f1": .table(["type": .string("f1"), "average": .string("macro")])]
        case .table(let given): fields = given
        case .list(let names):
            var byName: [String: ConfigValue] = [:]
            for item in names {
                guard case .string(let name) = item else { throw TensorError("train", "a metrics list must hold names; use a table name = metric for instances") }
                byName[name] = item
            }
            fields = byName
        case let other: throw TensorError("train", "metrics must be a table name = metric, got \(other.kindName)")
        }
        return try fields.keys.sorted().map { name in
            guard name.range(of: "^[A-Za-z0-9_]+$", options: .regularExpression) != nil, name != "loss" else {
                throw TensorError("train", "metric name '\(name)' must use letters, digits and '_' (and not be 'loss')")
            }
            return (name, try component(.metric, fields[name] ?? .null, lua: lua, "metrics.\(name)"))
        }
    }
}

extension ConfigValue {
    var isNull: Bool { if case .null = self { true } else { false } }
}
