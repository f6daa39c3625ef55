import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
import LucernaTrain

/// `train{...}` and `evaluate{...}` as the run layer carries them out, whatever front end calls them: a spec
/// (the options as configuration values) and hooks (functions of the script, as closures) in; a
/// ``Trainer`` assembled with the paper's protocol as defaults (a stratified 20 % validation split of
/// `data`, AdamW with cosine annealing, accuracy and macro F1, the best validation epoch restored),
/// checkpoints in the run folder and resume under `--resume`; the result as a table out.
public enum Experiment {
    /// The options of `train{}`, declared like a component's (so `lucerna docs` and `stubs` show them alike).
    public static let trainOptions: [OptionSpec] = [
        OptionSpec("model", .any, "a module, or a table of named modules with `forward`"),
        OptionSpec("forward", .function, "function(batch) -> logits; default model(batch[inputs])"),
        OptionSpec("data", .any, "the training set (a table of tensors, e.g. data.mnist{})"),
        OptionSpec(
            "validation", .any,
            "a data set, or the fraction of `data` held out stratified by target (default 0.2; 0 for none)"),
        OptionSpec("test", .any, "a data set evaluated once with the restored model"),
        OptionSpec(
            "loss", .any, "a loss (name, spec, instance) or function(logits, batch) -> scalar; default cross_entropy"),
        OptionSpec(
            "optimizer", .any,
            "an optimizer instance or spec (params are filled in); default {type = \"adamw\", lr = 1e-3, weight_decay = 1e-2}"
        ),
        OptionSpec(
            "schedule", .any,
            "a schedule instance, spec or name, or false; default cosine over the epochs (t_max filled in)"),
        OptionSpec("schedule_interval", .string, default: .string("epoch"), "\"epoch\" (default) or \"step\""),
        OptionSpec(
            "regularizers", .any,
            "list of regularizers: instances, specs {type = ..., weight = w, name = ...}, or {instance, weight = w}"),
        OptionSpec(
            "method", .any,
            "a bias-aware training method (name, spec or instance): group_dro, reweighing, jtt, adversarial_debiasing; it makes the data loss from the loss per sample"
        ),
        OptionSpec(
            "terms", .function, "function(batch, logits) -> {name = scalar tensor, ...}: extra loss terms, each logged"),
        OptionSpec(
            "metrics", .any,
            "table name -> metric (instance, spec or name); default {accuracy = \"accuracy\", f1 = {type = \"f1\", average = \"macro\"}}"
        ),
        OptionSpec("epochs", .integer, default: .number(10), "number of epochs (default 10)"),
        OptionSpec("batch", .integer, default: .number(64), "mini-batch size (default 64)"),
        OptionSpec("eval_batch", .integer, default: .number(1000), "evaluation batch size (default 1000)"),
        OptionSpec("drop_last", .boolean, default: .boolean(false), "drop the last incomplete batch (default false)"),
        OptionSpec("clip_grad_norm", .number, "rescale gradients to this global L2 norm"),
        OptionSpec(
            "ema", .number,
            "decay of a moving average of the weights (e.g. 0.999) that validation, the best epoch and the test use"),
        OptionSpec("clip_grad_value", .number, "clamp gradients to +-value"),
        OptionSpec("early_stopping", .any, "{metric = \"val_f1\", patience = 3, mode = \"max\", min_delta = 0}"),
        OptionSpec(
            "restore_best", .boolean, default: .boolean(true),
            "load the best validation epoch's weights at the end (default true)"),
        OptionSpec("target", .string, default: .string("labels"), "the target tensor's name (default \"labels\")"),
        OptionSpec(
            "groups", .string, default: .string("groups"), "the protected-attribute tensor's name (default \"groups\")"),
        OptionSpec(
            "inputs", .string,
            "the tensor fed to a single model (default: the first of images, inputs, tokens, features present)"),
        OptionSpec("seed", .integer, "seed of the validation split (default: the run's seed)"),
        OptionSpec(
            "name", .string, default: .string("train"),
            "the trainer's name in records and checkpoint files (default \"train\")"),
        OptionSpec(
            "augment", .any,
            "augmentations (instances, names or specs; a list applied in order, or one) transforming the inputs of every training batch, e.g. {augmentations.random_crop{padding = 2}, \"horizontal_flip\"}, or a table tensor name -> augmentations for several (the modalities: {image = {...}}); never validation or test data"
        ),
        OptionSpec(
            "adversarial", .any,
            "adversarial training: {method = \"pgd\", attack = spec or instance, mix = 1} (Madry; fgsm_rs for fast training) or {method = \"trades\", beta = 6, eps, alpha, steps}; awp_gamma (and awp_warmup) adds adversarial weight perturbation"
        ),
        OptionSpec(
            "robust_validation", .any,
            "{attack = spec or instance, limit = 1000}: robust accuracy on that many evenly spaced validation samples each epoch, recorded as val_robust_accuracy (early_stopping can watch it)"
        ),
        OptionSpec("verbose", .boolean, default: .boolean(true), "print a line per epoch (default true)"),
        OptionSpec(
            "callbacks", .any, "{on_step_end = function(info), on_epoch_end = function(record) -> true to stop}"),
    ]
    public static let callbackNames = ["on_step_end", "on_epoch_end"]

    /// The options of `evaluate{}`.
    public static let evaluateOptions: [OptionSpec] = [
        OptionSpec("model", .any, "a module, or a table of named modules with `forward`"),
        OptionSpec("forward", .function, "function(batch) -> logits; default model(batch[inputs])"),
        OptionSpec("data", .any, "the data set to evaluate"),
        OptionSpec(
            "metrics", .any,
            "table name -> metric; default {accuracy = \"accuracy\", f1 = {type = \"f1\", average = \"macro\"}}"),
        OptionSpec("loss", .any, "also report the mean loss (a loss name, spec or instance)"),
        OptionSpec("target", .string, default: .string("labels"), "the target tensor's name (default \"labels\")"),
        OptionSpec(
            "groups", .string, default: .string("groups"), "the protected-attribute tensor's name (default \"groups\")"),
        OptionSpec(
            "inputs", .string,
            "the tensor fed to a single model (default: the first of images, inputs, tokens, features present)"),
        OptionSpec("batch", .integer, default: .number(1000), "batch size (default 1000)"),
        OptionSpec(
            "name", .string,
            "record name: logs {evaluation = name, <name>_<metric> = value} and adds the reports to evaluation.json (default: no record)"
        ),
        OptionSpec(
            "attacks", .any,
            "table name -> attack (instance, name or spec): logs clean accuracy and robust accuracy per attack, each labelled with its budget"
        ),
        OptionSpec(
            "epsilons", .any,
            "list of budgets: every attack given as a name or spec is run at each (names become <attack>_eps<value>), a robustness curve"
        ),
        OptionSpec(
            "worst_case", .boolean,
            "also report the per-sample worst case over all attacks (AutoAttack-style; default true with two or more attacks)"
        ),
    ]

    /// The functions of a script that `train{}` and `evaluate{}` call back.
    public struct Hooks {
        /// `forward(batch) -> logits` for a model given as a table of modules (or to replace a model's own).
        public var forward: ((Batch) throws -> Tensor)?
        /// `loss(logits, batch) -> scalar`.
        public var loss: ((Tensor, Batch) throws -> Tensor)?
        /// `terms(batch, logits) -> {name = scalar}`: extra loss terms, each logged.
        public var terms: ((Batch, Tensor) throws -> [(name: String, value: Tensor)])?
        public var onStepEnd: ((Trainer.StepInfo) throws -> Void)?
        /// Returns true to stop training.
        public var onEpochEnd: (([String: ConfigValue]) throws -> Bool)?

        public init() {}

        /// Whether no function takes part (the call depends only on values, so it can be memoised).
        public var isEmpty: Bool {
            forward == nil && loss == nil && terms == nil && onStepEnd == nil && onEpochEnd == nil
        }
    }

    /// `evaluate{model = m, data = set, metrics = {...}, name = "madlibs"}` → `{<metric> = value, ..., reports = {...}}`.
    public static func evaluate(_ spec: [String: ConfigValue], hooks: Hooks = Hooks(), components: ComponentBuilder)
        throws -> ConfigValue
    {
        try rejectUnknownOptions(spec.keys, accepted: evaluateOptions.map(\.name), owner: "evaluate")
        let config = Config(owner: "evaluate", values: spec)
        let data = try dataset(spec["data"] ?? .null, role: "data")
        let inputKey = try config.string(
            "inputs", default: ["images", "inputs", "tokens", "features"].first { data.tensor($0) != nil } ?? "inputs")
        let model = try buildModel(spec["model"] ?? .null, forward: hooks.forward, inputKey: inputKey)
        let targetKey = try config.string("target", default: "labels")
        let groupKey = try config.string("groups", default: "groups")
        var loss: ((Tensor, Batch) throws -> Tensor)?
        if let lossSpec = spec["loss"], !lossSpec.isNull {
            let component = try component(.loss, lossSpec, components: components, "loss")
            loss = { logits, batch in try component.loss(logits, batch[targetKey] ?? logits) }
        }
        let batchSize = config.has("batch") ? try config.positiveInteger("batch") : 1000
        let name = config.has("name") ? try config.string("name") : nil
        if let name, name.range(of: "^[A-Za-z0-9_]+$", options: .regularExpression) == nil {
            throw ConfigurationError("evaluate", "name '\(name)' must use letters, digits and '_'")
        }
        let memo = hooks.isEmpty ? EvaluationMemo(spec: spec, model: model, data: data, components: components) : nil
        if let memo, let stored = memo.load() {
            print(
                "evaluate \(name ?? ""): the result of an earlier attempt of this run, replayed from \(memo.path) (same program, recipe, model, data, options and random state)"
            )
            try log(stored, classNames: ClassNames.names(in: data.metadata), components: components)
            return stored.table
        }
        let outcome = try Evaluation.run(
            model: model, data: data, metrics: try metrics(spec["metrics"] ?? .null, components: components),
            loss: loss,
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
            let robustness = try robustnessEvaluation(
                attackSpecs, epsilons: spec["epsilons"] ?? .null, worstCase: spec["worst_case"] ?? .null,
                model: model, data: data, inputKey: inputKey, targetKey: targetKey, batchSize: batchSize,
                name: name, components: components)
            for (key, value) in robustness.table { table[key] = value }
            if let record = robustness.record { result.records.append(record) }
        }
        result.table = .table(table)
        try log(result, classNames: ClassNames.names(in: data.metadata), components: components)
        try memo?.store(result)
        return result.table
    }

    /// Logs an evaluation's records and `evaluation.json` entry into the run.
    public static func log(_ outcome: EvaluationMemo.Outcome, classNames: [String]?, components: ComponentBuilder)
        throws
    {
        guard let run = components.run else { return }
        for record in outcome.records { try run.log(record) }
        if let evaluation = outcome.evaluation {
            try run.recordEvaluation(
                trainer: evaluation.name, values: evaluation.values, reports: evaluation.reports, classNames: classNames
            )
        }
    }

    /// `train{adversarial = {method = "pgd", attack = ..., mix = 1}}` or `{method = "trades", beta, eps, alpha, steps}`.
    public static func adversarialTraining(
        _ value: ConfigValue, inputKey: String, targetKey: String, components: ComponentBuilder
    ) throws -> AdversarialTraining {
        guard case .table(let fields) = value else {
            throw ConfigurationError(
                "train",
                "adversarial must be a table, e.g. {method = \"pgd\", attack = {type = \"pgd\", eps = 0.1, alpha = 0.01, steps = 10}}"
            )
        }
        try rejectUnknownOptions(
            fields.keys,
            accepted: [
                "method", "attack", "mix", "beta", "eps", "alpha", "steps", "clamp_min", "clamp_max", "awp_gamma",
                "awp_warmup",
            ],
            owner: "train adversarial")
        let config = Config(owner: "train: adversarial", values: fields)
        let weightPerturbation = try config.number("awp_gamma", default: nil).map {
            try AdversarialWeightPerturbation(gamma: $0, warmup: config.integer("awp_warmup", default: 0))
        }
        if weightPerturbation == nil, fields["awp_warmup"] != nil {
            throw ConfigurationError("train", "adversarial: awp_warmup needs awp_gamma (e.g. 0.005 with TRADES)")
        }
        switch try config.string("method", default: "pgd") {
        case "pgd":
            guard let attackSpec = fields["attack"] else {
                throw ConfigurationError(
                    "train", "adversarial: method pgd needs attack = an attack (instance, name or spec)")
            }
            let attack = try component(.attack, attackSpec, components: components, "adversarial attack")
            return try AdversarialTraining(
                method: .attack(attack, mix: config.number("mix", default: 1) ?? 1), inputKey: inputKey,
                targetKey: targetKey, weightPerturbation: weightPerturbation)
        case "trades":
            let eps = try config.number("eps", default: 0.1) ?? 0.1
            return try AdversarialTraining(
                method: .trades(
                    beta: config.number("beta", default: 6) ?? 6, eps: eps,
                    alpha: config.number("alpha", default: eps / 4) ?? eps / 4,
                    steps: config.integer("steps", default: 10),
                    clampRange: (
                        config.number("clamp_min", default: 0) ?? 0, config.number("clamp_max", default: 1) ?? 1
                    )),
                inputKey: inputKey, targetKey: targetKey, weightPerturbation: weightPerturbation)
        case let other:
            throw ConfigurationError("train", "adversarial: method must be pgd or trades, got \(other)")
        }
    }

    /// `train{robust_validation = {attack = ..., limit = 1000}}`.
    public static func robustValidation(_ value: ConfigValue, inputKey: String, components: ComponentBuilder) throws
        -> RobustValidation
    {
        guard case .table(let fields) = value, let attackSpec = fields["attack"] else {
            throw ConfigurationError(
                "train",
                "robust_validation must be a table with an attack, e.g. {attack = {type = \"pgd\", eps = 0.1, alpha = 0.025, steps = 10}, limit = 1000}"
            )
        }
        try rejectUnknownOptions(fields.keys, accepted: ["attack", "limit"], owner: "train robust_validation")
        let attack = try component(.attack, attackSpec, components: components, "robust_validation attack")
        return try RobustValidation(
            attack: attack,
            limit: Config(owner: "train: robust_validation", values: fields).integer("limit", default: 1000),
            inputKey: inputKey)
    }

    /// The attacks of `evaluate{attacks = ..., epsilons = ...}` run over the data: `clean_accuracy`,
    /// `robust_accuracy = {name = value}`, `attack_labels = {name = label}`, `worst_case_accuracy`; logged as
    /// `<name>_robust_<attack>` with a record of labels when the evaluation is named.
    public static func robustnessEvaluation(
        _ value: ConfigValue, epsilons: ConfigValue, worstCase: ConfigValue, model: TrainableModel, data: TensorDataset,
        inputKey: String, targetKey: String, batchSize: Int, name: String?, components: ComponentBuilder
    )
        throws -> (table: [String: ConfigValue], record: [String: ConfigValue]?)
    {
        guard case .table(let entries) = value, !entries.isEmpty else {
            throw ConfigurationError(
                "evaluate",
                "attacks must be a table from name to attack, e.g. {pgd20 = {type = \"pgd\", eps = 0.1, steps = 20}}")
        }
        var budgets: [Double?] = [nil]
        switch epsilons {
        case .null: break
        case .list(let items):
            budgets = try items.map { item in
                guard case .number(let eps) = item, eps >= 0 else {
                    throw ConfigurationError("evaluate", "epsilons must be a list of non-negative numbers")
                }
                return eps
            }
        default: throw ConfigurationError("evaluate", "epsilons must be a list of numbers, e.g. {0.05, 0.1, 0.2}")
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
                    case .table(var fields):
                        fields["eps"] = .number(eps)
                        specification = .table(fields)
                    default:
                        throw ConfigurationError(
                            "evaluate",
                            "with epsilons, attack \(attackName) must be a name or a spec table (an instance has a fixed budget)"
                        )
                    }
                    label = "\(attackName)_eps\(eps)"
                }
                attacks.append((label, try component(.attack, specification, components: components, "attack")))
            }
        }
        let useWorstCase: Bool
        switch worstCase {
        case .null: useWorstCase = attacks.count > 1 && budgets.count == 1
        case .boolean(let flag): useWorstCase = flag
        default: throw ConfigurationError("evaluate", "worst_case must be a boolean")
        }
        let result = try RobustnessEvaluation.run(
            model: model, data: data, attacks: attacks, inputKey: inputKey, targetKey: targetKey,
            batchSize: batchSize, label: "evaluate \(name ?? "")")
        var table: [String: ConfigValue] = [
            "clean_accuracy": .number(result.clean),
            "robust_accuracy": .table(
                Dictionary(uniqueKeysWithValues: result.robust.map { ($0.name, .number($0.accuracy)) })),
            "attack_labels": .table(
                Dictionary(uniqueKeysWithValues: result.robust.map { ($0.name, .string($0.label)) })),
        ]
        if useWorstCase, let worst = result.worstCase { table["worst_case_accuracy"] = .number(worst) }
        guard let name else { return (table, nil) }
        var record: [String: ConfigValue] = [
            "evaluation": .string(name), "phase": .string("robustness"),
            "\(name)_clean_accuracy": .number(result.clean), "samples": .number(Double(result.count)),
        ]
        for entry in result.robust {
            record["\(name)_robust_\(entry.name)"] = .number(entry.accuracy)
            record["attack_\(entry.name)"] = .string(entry.label)
        }
        if useWorstCase, let worst = result.worstCase { record["\(name)_robust_worst_case"] = .number(worst) }
        return (table, record)
    }

    /// Reads the spec, builds the trainer, fits, and returns the result as a table.
    public static func train(_ spec: [String: ConfigValue], hooks: Hooks = Hooks(), components: ComponentBuilder) throws
        -> ConfigValue
    {
        try rejectUnknownOptions(spec.keys, accepted: trainOptions.map(\.name), owner: "train")
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
            throw ConfigurationError("train", "name '\(options.name)' must use letters, digits, '_' and '-'")
        }
        // Sizes and counts must be positive: a zero batch would divide by zero in the epoch loop.
        func positive(_ key: String, _ fallback: Int) throws -> Int {
            config.has(key) ? try config.positiveInteger(key) : fallback
        }
        options.epochs = try positive("epochs", 10)
        options.batchSize = try positive("batch", 64)
        options.evaluationBatchSize = try positive("eval_batch", 1000)
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
            throw ConfigurationError("train", "schedule_interval must be \"epoch\" or \"step\", got \"\(interval)\"")
        }
        options.scheduleEveryStep = interval == "step"
        options.earlyStopping = try earlyStopping(value("early_stopping"))
        if let run = components.run {
            guard run.trainerNames.insert(options.name).inserted else {
                throw ConfigurationError(
                    "train",
                    "a train{} named '\(options.name)' already ran in this recipe; give each call its own name = ... (checkpoints are per name)"
                )
            }
            options.checkpointDirectory = "\(run.directory)/checkpoints"
            options.resume = run.resuming
            options.epochsBeforeResume = run.epochsBeforeResume[options.name] ?? 0
        }

        // 2. Data.
        let train = try dataset(value("data"), role: "data")
        var validation: TensorDataset?
        var trainingSet = train
        switch value("validation") {
        case .null, .number:
            let fraction = try number("validation", 0.2) ?? 0.2
            guard fraction >= 0, fraction < 1 else {
                throw ConfigurationError("train", "validation must be a fraction in [0, 1), got \(fraction)")
            }
            if fraction > 0 {
                let seed = try integer("seed", components.run?.seed ?? 0)
                (trainingSet, validation) = try split(
                    train, fraction: fraction, target: options.targetKey, seed: seed, components: components)
            }
        case let other:
            validation = try dataset(other, role: "validation")
        }
        let test = value("test").isNull ? nil : try dataset(value("test"), role: "test")
        let inputKey = try string(
            "inputs", ["images", "inputs", "tokens", "features"].first { trainingSet.tensor($0) != nil } ?? "inputs")
        options.inputKey = inputKey
        options.augmentations = try augmentations(value("augment"), inputKey: inputKey, components: components)
        if let adversarial = spec["adversarial"], !adversarial.isNull {
            options.adversarial = try adversarialTraining(
                adversarial, inputKey: inputKey, targetKey: options.targetKey, components: components)
        }
        if let robust = spec["robust_validation"], !robust.isNull {
            options.robustValidation = try robustValidation(robust, inputKey: inputKey, components: components)
        }

        // 3. Model.
        let model = try buildModel(value("model"), forward: hooks.forward, inputKey: inputKey)

        // 4. Loss, regularizers, metrics.
        var loss: (Tensor, Batch) throws -> Tensor
        var perSampleLoss: ((Tensor, Batch) throws -> Tensor)?
        let targetKey = options.targetKey
        let method =
            value("method").isNull ? nil : try component(.method, value("method"), components: components, "method")
        if let function = hooks.loss {
            loss = function
            if method != nil {
                perSampleLoss = function
                loss = { try function($0, $1).mean() }
            }
        } else {
            let spec = value("loss").isNull ? ConfigValue.string("cross_entropy") : value("loss")
            func applied(_ component: any Loss) -> (Tensor, Batch) throws -> Tensor {
                { logits, batch in
                    guard let targets = batch[targetKey] else {
                        throw ConfigurationError("train", "the batch has no '\(targetKey)' tensor")
                    }
                    return try component.loss(logits, targets)
                }
            }
            loss = applied(try component(.loss, spec, components: components, "loss"))
            if method != nil {
                perSampleLoss = applied(try component(.loss, try perSample(spec), components: components, "loss"))
            }
        }
        if let method {
            let name = "method \(try methodName(value("method")))"
            try Trainer.check(fields: method.fields, of: name, in: trainingSet, options: options)
            try method.prepare(trainingSet, keys: TrainingKeys(target: targetKey, groups: options.groupKey))
        }
        let regularizers = try self.regularizers(value("regularizers"), components: components)
        let metrics = try self.metrics(value("metrics"), components: components)

        // 5. Optimizer and schedule.
        var trainable = model.namedParameters.map(\.tensor)
        for (_, _, regularizer) in regularizers {
            if let owner = regularizer as? ParameterOwner { trainable += owner.parameters() }
        }
        if let owner = method as? ParameterOwner { trainable += owner.parameters() }
        let optimizer: Optimizer
        switch value("optimizer") {
        case .object(let instance as Optimizer): optimizer = instance
        case .null:
            optimizer = try component(
                .optimizer,
                .table([
                    "type": .string("adamw"), "params": .list(trainable.map(ConfigValue.tensor)),
                    "lr": .number(1e-3), "weight_decay": .number(1e-2),
                ]), components: components, "optimizer")
        case .string(let name):
            optimizer = try component(
                .optimizer, .table(["type": .string(name), "params": .list(trainable.map(ConfigValue.tensor))]),
                components: components, "optimizer")
        case .table(var fields):
            if fields["params"] == nil { fields["params"] = .list(trainable.map(ConfigValue.tensor)) }
            optimizer = try component(.optimizer, .table(fields), components: components, "optimizer")
        case let other:
            throw ConfigurationError(
                "train", "optimizer must be an optimizer, a name or a spec table, got \(other.kindName)")
        }
        /// The schedule over `epochs` epochs of `samples` training samples.
        func makeSchedule(epochs: Int, samples: Int) throws -> LearningRateSchedule? {
            let stepsPerEpoch =
                options.dropLast ? samples / options.batchSize : (samples + options.batchSize - 1) / options.batchSize
            let horizon = options.scheduleEveryStep ? epochs * max(stepsPerEpoch, 1) : epochs
            switch value("schedule") {
            case .boolean(false): return nil
            case .object(let instance as LearningRateSchedule): return instance
            case .null:
                return try component(
                    .schedule,
                    .table([
                        "type": .string("cosine"), "optimizer": .object(optimizer), "t_max": .number(Double(horizon)),
                    ]),
                    components: components, "schedule")
            case .string(let name):
                return try component(
                    .schedule,
                    scheduleSpec(
                        ["type": .string(name)], optimizer: optimizer, horizon: horizon, components: components),
                    components: components, "schedule")
            case .table(let fields):
                return try component(
                    .schedule, scheduleSpec(fields, optimizer: optimizer, horizon: horizon, components: components),
                    components: components, "schedule")
            case let other:
                throw ConfigurationError(
                    "train", "schedule must be a schedule, a name, a spec table or false, got \(other.kindName)")
            }
        }
        let trainedModel = model.including(extra: optimizer.allParameters)

        // 6. A two-stage method (JTT) first trains the identification model and picks the second stage's rows.
        if let staged = method as? TwoStageTrainingMethod {
            trainingSet = try firstStage(
                staged, model: trainedModel, optimizer: optimizer, schedule: makeSchedule,
                loss: loss, regularizers: regularizers, options: options, data: trainingSet, hooks: hooks,
                components: components)
        }

        // 7. Fit.
        let schedule = try makeSchedule(epochs: options.epochs, samples: trainingSet.count)
        let trainer = try Trainer(
            model: trainedModel, optimizer: optimizer, schedule: schedule,
            loss: loss, regularizers: regularizers, metrics: metrics, options: options)
        if let method {
            trainer.method = (try methodName(value("method")), method)
            trainer.perSampleLoss = perSampleLoss
        }
        trainer.extraTerms = hooks.terms
        trainer.onStepEnd = hooks.onStepEnd
        trainer.onEpochEnd = hooks.onEpochEnd
        trainer.log = { [run = components.run] record in try run?.log(record) }
        trainer.print =
            options.verbose
            ? { line in
                print(line)
                fflush(nil)  // stream epoch lines when standard output is a file or a pipe
            } : { _ in }
        let result = try trainer.fit(train: trainingSet, validation: validation, test: test)
        if let run = components.run, !result.test.isEmpty {
            try run.recordEvaluation(
                trainer: options.name, values: result.test, reports: result.testReports,
                classNames: test.flatMap { ClassNames.names(in: $0.metadata) })
        }
        if let run = components.run, options.checkpointDirectory != nil {
            run.recordCheckpoint("checkpoints/\(options.name)-last.safetensors")
            if result.bestEpoch != nil { run.recordCheckpoint("checkpoints/\(options.name)-best.safetensors") }
        }
        var table: [String: ConfigValue] = [
            "epochs_run": .number(Double(result.epochsRun)), "stopped_early": .boolean(result.stoppedEarly),
            "history": .list(result.history.map { .table($0) }),
            "test": .table(result.test.mapValues(ConfigValue.number)),
            "reports": .table(result.testReports.mapValues(ConfigValue.table)),
        ]
        if let bestEpoch = result.bestEpoch { table["best_epoch"] = .number(Double(bestEpoch)) }
        if let bestValue = result.bestValue { table["best_value"] = .number(bestValue) }
        return .table(table)
    }

    /// A module fed `batch[inputKey]`, or modules with a scripted `forward(batch)`.
    public static func buildModel(_ value: ConfigValue, forward: ((Batch) throws -> Tensor)?, inputKey: String) throws
        -> TrainableModel
    {
        switch value {
        case .object(let object as Module):
            if let forward { return TrainableModel(modules: [("", object)], forward: forward) }
            return TrainableModel(module: object, inputKey: inputKey)
        case .table(let fields) where !fields.isEmpty:
            var modules: [(name: String, module: Module)] = []
            for name in fields.keys.sorted() {
                guard case .object(let module as Module)? = fields[name] else {
                    throw ConfigurationError(
                        "train", "model.\(name) must be a module, got \(fields[name]?.kindName ?? "nil")")
                }
                modules.append((name, module))
            }
            guard let forward else {
                throw ConfigurationError(
                    "train", "a table of modules needs forward = function(batch) ... return logits end")
            }
            return TrainableModel(modules: modules, forward: forward)
        case let other:
            throw ConfigurationError(
                "train", "model must be a module (e.g. models.cnn{}) or a table of named modules, got \(other.kindName)"
            )
        }
    }

    public static func dataset(_ value: ConfigValue, role: String) throws -> TensorDataset {
        guard case .table(let fields) = value else {
            throw ConfigurationError(
                "train", "\(role) must be a data set (a table of tensors such as data.mnist{}), got \(value.kindName)")
        }
        let tensors = fields.keys.sorted().compactMap { key -> (name: String, tensor: Tensor)? in
            guard key != "indices", case .tensor(let tensor)? = fields[key] else { return nil }
            return (key, tensor)
        }
        guard !tensors.isEmpty else { throw ConfigurationError("train", "\(role) holds no tensors") }
        // Every tensor is one row per sample: a shorter one would silently drop samples from the others.
        let lengths = tensors.map { ($0.name, $0.tensor.shape.first) }
        if let scalar = lengths.first(where: { $0.1 == nil }) {
            throw ConfigurationError(
                "train", "\(role).\(scalar.0) is a scalar; every tensor of a data set has one row per sample")
        }
        let counts = Set(lengths.compactMap(\.1))
        guard counts.count == 1, let samples = counts.first else {
            throw ConfigurationError(
                "train",
                "\(role)'s tensors differ in length: \(lengths.map { "\($0.0) has \($0.1 ?? 0)" }.joined(separator: ", ")) samples"
            )
        }
        guard samples > 0 else { throw ConfigurationError("train", "\(role) holds no samples") }
        return TensorDataset(
            name: role, tensors: tensors, metadata: fields.filter { if case .tensor = $0.value { false } else { true } }
        )
    }

    /// A stratified split of `data` into (kept, held out), logged to `splits.jsonl`.
    public static func split(
        _ data: TensorDataset, fraction: Double, target: String, seed: Int, components: ComponentBuilder
    ) throws -> (TensorDataset, TensorDataset) {
        guard let labels = data.tensor(target), labels.rank == 1 else {
            throw ConfigurationError(
                "train",
                "a validation fraction stratifies by '\(target)', which must be a [N] tensor of the training data")
        }
        let split = DataSplits.stratified(
            keys: labels.toIntegers(), fraction: fraction,
            generator: RandomGenerator(seed: UInt64(truncatingIfNeeded: seed)))
        guard !split.kept.isEmpty, !split.heldOut.isEmpty else {
            throw ConfigurationError("train", "validation = \(fraction) of \(data.count) samples leaves an empty part")
        }
        for (part, indices) in [("train", split.kept), ("validation", split.heldOut)] {
            try components.run?.log(
                [
                    "split": .string(part), "dataset": .string("train data"), "samples": .number(Double(indices.count)),
                    "seed": .number(Double(seed)), "validation": .number(fraction),
                    "digest": .string(DataSplits.digest(indices)),
                ],
                file: "splits.jsonl")
        }
        return (try data.rows(split.kept, name: "train"), try data.rows(split.heldOut, name: "validation"))
    }

    public static func earlyStopping(_ value: ConfigValue) throws -> EarlyStopping? {
        switch value {
        case .null, .boolean(false): return nil
        case .table(let fields):
            try rejectUnknownOptions(
                fields.keys, accepted: ["metric", "patience", "mode", "min_delta"], owner: "train early_stopping")
            guard case .string(let metric) = fields["metric"] ?? .string("val_loss") else {
                throw ConfigurationError("train early_stopping", "metric must be a record name such as \"val_f1\"")
            }
            var mode = EarlyStopping.defaultMode(for: metric)
            if let given = fields["mode"] {
                guard case .string(let text) = given, let parsed = EarlyStopping.Mode(rawValue: text) else {
                    throw ConfigurationError("train early_stopping", "mode must be \"min\" or \"max\", got \(given)")
                }
                mode = parsed
            }
            let patience = fields["patience"]?.numberValue ?? 3
            guard patience.rounded() == patience, patience >= 1, patience < 1e6 else {
                throw ConfigurationError("train early_stopping", "patience must be a positive integer, got \(patience)")
            }
            return try EarlyStopping(
                metric: metric, patience: Int(patience), mode: mode, minimumDelta: fields["min_delta"]?.numberValue ?? 0
            )
        case let other:
            throw ConfigurationError(
                "train",
                "early_stopping must be a table {metric = \"val_f1\", patience = 3, mode = \"max\"} or false, got \(other.kindName)"
            )
        }
    }

    /// A component from an instance, name or spec (built and recorded in `components.jsonl`).
    static func component<Key: ComponentKindKey>(
        _ key: Key, _ spec: ConfigValue, components: ComponentBuilder, _ role: String
    ) throws -> Key.Instance {
        try components.build(key, from: spec, context: "train \(role)")
    }

    /// A schedule spec with the optimizer and, when the schedule takes one and none is given, its horizon.
    public static func scheduleSpec(
        _ fields: [String: ConfigValue], optimizer: Optimizer, horizon: Int, components: ComponentBuilder
    ) throws -> ConfigValue {
        var spec = fields
        spec["optimizer"] = .object(optimizer)
        if case .string(let name)? = fields["type"], let entry = try? components.registry.entry(.schedule, name) {
            for key in ["t_max", "total"] where spec[key] == nil && entry.options.contains(where: { $0.name == key }) {
                spec[key] = .number(Double(horizon))
            }
        }
        return .table(spec)
    }

    /// `augment`: nothing, one augmentation (instance, name or spec) or a list of them for the inputs, in the order
    /// they apply, or a table tensor name -> those (in the order of the names).
    static func augmentations(_ value: ConfigValue, inputKey: String, components: ComponentBuilder) throws -> [(
        key: String, augmentations: [Augmentation]
    )] {
        func list(_ value: ConfigValue, _ role: String) throws -> [Augmentation] {
            switch value {
            case .null: []
            case .list(let items):
                try items.enumerated().map { position, item in
                    try component(.augmentation, item, components: components, "\(role)[\(position + 1)]")
                }
            case .table(let fields) where fields.isEmpty: []
            case let single: [try component(.augmentation, single, components: components, role)]
            }
        }
        // A table without `type` names tensors; with it, it is one augmentation's spec.
        if case .table(let fields) = value, !fields.isEmpty, fields["type"] == nil {
            return try fields.keys.sorted().compactMap { key in
                let augmentations = try list(fields[key] ?? .null, "augment.\(key)")
                return augmentations.isEmpty ? nil : (key, augmentations)
            }
        }
        let augmentations = try list(value, "augment")
        return augmentations.isEmpty ? [] : [(inputKey, augmentations)]
    }

    public static func regularizers(_ value: ConfigValue, components: ComponentBuilder) throws -> [(
        name: String, weight: Double, regularizer: Regularizer
    )] {
        let items: [ConfigValue]
        switch value {
        case .null: return []
        case .list(let list): items = list
        case .table(let fields) where fields.isEmpty: return []
        case let other: throw ConfigurationError("train", "regularizers must be a list, got \(other.kindName)")
        }
        var result: [(name: String, weight: Double, regularizer: Regularizer)] = []
        var used = Set<String>()
        for (position, item) in items.enumerated() {
            var weight = 1.0
            var name: String?
            var instance: Regularizer
            switch item {
            case .object(let object as Regularizer): instance = object
            case .string(let type):
                instance = try component(
                    .regularizer, .string(type), components: components, "regularizers[\(position + 1)]")
                name = type
            case .table(var fields):
                // A spec's weight is the component's own option when it has one (`{type = "l2", weight = 1e-4}`
                // is 1e-4 · Σw²); otherwise, and for an instance, it multiplies the penalty.
                var ownWeight = false
                if case .string(let type)? = fields["type"], fields["regularizer"] == nil,
                    let entry = try? components.registry.entry(.regularizer, type)
                {
                    ownWeight = entry.options.contains { $0.name == "weight" }
                }
                if !ownWeight, let given = fields.removeValue(forKey: "weight") {
                    guard let number = given.numberValue, number.isFinite else {
                        throw ConfigurationError("train", "regularizers[\(position + 1)].weight must be a number")
                    }
                    weight = number
                }
                if let given = fields.removeValue(forKey: "name") {
                    guard case .string(let text) = given else {
                        throw ConfigurationError("train", "regularizers[\(position + 1)].name must be a string")
                    }
                    name = text
                }
                if case .object(let object as Regularizer)? = fields.removeValue(forKey: "regularizer") {
                    instance = object
                } else if case .string(let type)? = fields["type"] {
                    instance = try component(
                        .regularizer, .table(fields), components: components, "regularizers[\(position + 1)]")
                    name = name ?? type
                } else {
                    throw ConfigurationError(
                        "train",
                        "regularizers[\(position + 1)] must be a regularizer, {type = \"l2\", weight = ...} or {regularizer = r, weight = ...}"
                    )
                }
            default:
                throw ConfigurationError(
                    "train", "regularizers[\(position + 1)] must be a regularizer or a spec table, got \(item.kindName)"
                )
            }
            var label = name ?? "regularizer\(position + 1)"
            if label == "data_loss" || used.contains(label) { label += "_\(position + 1)" }
            used.insert(label)
            result.append((label, weight, instance))
        }
        return result
    }

    public static func metrics(_ value: ConfigValue, components: ComponentBuilder) throws -> [(
        name: String, metric: Metric
    )] {
        let fields: [String: ConfigValue]
        switch value {
        case .null:
            fields = [
                "accuracy": .string("accuracy"), "f1": .table(["type": .string("f1"), "average": .string("macro")]),
            ]
        case .table(let given): fields = given
        case .list(let names):
            var byName: [String: ConfigValue] = [:]
            for item in names {
                guard case .string(let name) = item else {
                    throw ConfigurationError(
                        "train", "a metrics list must hold names; use a table name = metric for instances")
                }
                byName[name] = item
            }
            fields = byName
        case let other:
            throw ConfigurationError("train", "metrics must be a table name = metric, got \(other.kindName)")
        }
        return try fields.keys.sorted().map { name in
            guard name.range(of: "^[A-Za-z0-9_]+$", options: .regularExpression) != nil, name != "loss" else {
                throw ConfigurationError(
                    "train", "metric name '\(name)' must use letters, digits and '_' (and not be 'loss')")
            }
            return (name, try component(.metric, fields[name] ?? .null, components: components, "metrics.\(name)"))
        }
    }
}

extension ConfigValue {
    var isNull: Bool { if case .null = self { true } else { false } }
}
