import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTrain

extension Experiment {
    public static let trainGANOptions: [OptionSpec] = [
        OptionSpec("generator", .any, "the conditional generator (e.g. models.cgan_generator{})"),
        OptionSpec("critic", .any, "the conditional critic (e.g. models.cgan_critic{})"),
        OptionSpec("data", .any, "real images in [0, 1] with their labels (e.g. data.mnist{})"),
        OptionSpec("loss", .string, default: .string("wgan_gp"), "\"wgan_gp\" or \"hinge\""),
        OptionSpec("n_critic", .integer, default: .number(5), "critic updates per generator update"),
        OptionSpec("gradient_penalty", .number, default: .number(10), "λ of WGAN-GP's gradient penalty"),
        OptionSpec(
            "optimizer", .any,
            "spec for both networks' optimizers (params filled in); default {type = \"adam\", lr = 1e-4, betas = {0, 0.9}}"
        ),
        OptionSpec("generator_optimizer", .any, "the generator's optimizer spec, overriding `optimizer`"),
        OptionSpec("critic_optimizer", .any, "the critic's optimizer spec, overriding `optimizer`"),
        OptionSpec("steps", .integer, default: .number(1000), "generator updates"),
        OptionSpec("batch", .integer, default: .number(64), "real batch size"),
        OptionSpec("ema", .any, default: .number(0.999), "decay of the generator's weight average, or false"),
        OptionSpec(
            "every", .any,
            "{log = 100, images = 500, metrics = 0}: generator steps between log records and checkpoints, image grids, and on_metrics calls (a multiple of log; 0: only at the end)"
        ),
        OptionSpec(
            "on_metrics", .any,
            "function(step) returning a table of numbers, called every `every.metrics` steps and at the end with the weight average in the generator; logged as a `gan_metrics` record"
        ),
        OptionSpec(
            "feedback", .any,
            "explanation feedback {classifier = c, layer = \"relu2\", explainer = \"grad_cam_pp\", weight = 1, every = 1, threshold = 0.1, form = \"share\"}: the classifier's CAM of each generated sample kept on its own foreground"
        ),
        OptionSpec(
            "fairness", .any,
            "bias feedback {groups = group classifier or function(images) -> probabilities, target = \"uniform\" or shares, weight = 1, classifier = auditing classifier, accuracy_weight = 1, every = 1}: generated subgroup shares kept at the target and per-class accuracy even"
        ),
        OptionSpec(
            "conditions", .string,
            "the data set's conditioning vectors [N, D], one per image, for a generator with conditioning = \"fused\" (the critic still sees the labels)"
        ),
        OptionSpec(
            "conditioner", .any,
            "{model = multimodal classifier, inputs = {image = \"images\", audio = \"spectrograms\"}, train = true}: each sample's condition is the model's fused embedding of these data tensors, the model trained with the generator (or frozen with train = false)"
        ),
        OptionSpec(
            "reconstruction", .number, default: .number(0),
            "λ of λ·mean|G(z, c) − x| between each condition's generated image and its real image (with conditions)"),
        OptionSpec("images", .string, default: .string("images"), "the data set's image tensor"),
        OptionSpec("target", .string, default: .string("labels"), "the data set's label tensor"),
        OptionSpec("name", .string, default: .string("gan"), "the trainer's name in records and checkpoints"),
        OptionSpec("verbose", .boolean, default: .boolean(true), "print a line per log record"),
    ]

    /// `train_gan{...}`: trains a conditional GAN with ``GANTrainer``, checkpoints and image grids in the run.
    public static func trainGAN(
        _ spec: [String: ConfigValue], onMetrics: ((Int) throws -> [String: Double])? = nil,
        groups: ((Tensor) throws -> Tensor)? = nil, components: ComponentBuilder
    ) throws -> ConfigValue {
        try rejectUnknownOptions(spec.keys, accepted: trainGANOptions.map(\.name), owner: "train_gan")
        let config = Config(owner: "train_gan", values: spec)
        func network(_ key: String) throws -> ConditionalModel {
            guard case .object(let object as ConditionalModel) = config.value(key) else {
                throw ConfigurationError(
                    "train_gan",
                    "\(key) must be a conditional network (models.cgan_generator{} / models.cgan_critic{}), got \(config.value(key).kindName)"
                )
            }
            return object
        }
        let (generator, critic) = (try network("generator"), try network("critic"))
        var options = GANTrainer.Options()
        options.name = try config.string("name", default: "gan")
        guard options.name.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression) != nil else {
            throw ConfigurationError("train_gan", "name '\(options.name)' must use letters, digits, '_' and '-'")
        }
        options.steps = config.has("steps") ? try config.positiveInteger("steps") : 1000
        options.batchSize = config.has("batch") ? try config.positiveInteger("batch") : 64
        options.criticSteps = config.has("n_critic") ? try config.positiveInteger("n_critic") : 5
        options.penaltyWeight = try config.number("gradient_penalty", default: 10) ?? 10
        options.verbose = try config.boolean("verbose", default: true)
        guard let loss = GANTrainer.Loss(rawValue: try config.string("loss", default: "wgan_gp")) else {
            throw ConfigurationError("train_gan", "loss must be \"wgan_gp\" or \"hinge\"")
        }
        options.loss = loss
        switch config.value("ema") {
        case .null: options.emaDecay = 0.999
        case .boolean(false): options.emaDecay = nil
        case .number(let decay): options.emaDecay = decay
        case let other: throw ConfigurationError("train_gan", "ema must be a decay or false, got \(other.kindName)")
        }
        var (imageEvery, metricsEvery) = (500, 0)
        if case .table(let fields) = config.value("every") {
            let every = try Config(
                owner: "train_gan every", options: fields,
                specs: [
                    OptionSpec("log", .integer, default: .number(100), "steps between records and checkpoints"),
                    OptionSpec("images", .integer, default: .number(500), "steps between image grids"),
                    OptionSpec("metrics", .integer, default: .number(0), "steps between on_metrics calls"),
                ])
            options.logEvery = try every.positiveInteger("log")
            imageEvery = try every.positiveInteger("images")
            metricsEvery = try every.integer("metrics")
            guard metricsEvery >= 0, metricsEvery % options.logEvery == 0 else {
                throw ConfigurationError(
                    "train_gan",
                    "every.metrics must be 0 or a multiple of every.log (\(options.logEvery)), got \(metricsEvery)")
            }
        } else if !config.value("every").isNull {
            throw ConfigurationError("train_gan", "every must be a table {log = 100, images = 500}")
        }
        options.explanationFeedback = try explanationFeedback(config.value("feedback"))
        options.biasFeedback = try biasFeedback(config.value("fairness"), groupFunction: groups)
        if let run = components.run {
            guard run.trainerNames.insert(options.name).inserted else {
                throw ConfigurationError(
                    "train_gan", "a trainer named '\(options.name)' already ran in this recipe; give each its own name")
            }
            options.checkpointDirectory = "\(run.directory)/checkpoints"
            options.resume = run.resuming
        }
        // Data.
        let data = try dataset(config.value("data"), role: "data")
        let imageKey = try config.string("images", default: "images")
        let labelKey = try config.string("target", default: "labels")
        guard let images = data.tensor(imageKey), let labels = data.tensor(labelKey) else {
            throw ConfigurationError("train_gan", "data needs tensors \(imageKey) and \(labelKey)")
        }
        var conditions: Tensor?
        if config.has("conditions") {
            let key = try config.string("conditions")
            guard let given = data.tensor(key) else {
                throw ConfigurationError("train_gan", "data has no tensor '\(key)' (conditions)")
            }
            conditions = given.detach()
        }
        options.reconstructionWeight = config.has("reconstruction") ? try config.nonNegativeNumber("reconstruction") : 0
        var inputs: [String: Tensor] = [:]
        if case .table(let fields) = config.value("conditioner") {
            let spec = try Config(
                owner: "train_gan conditioner", options: fields,
                specs: [
                    OptionSpec("model", .object("Module"), required: true, "a multimodal classifier"),
                    OptionSpec("inputs", .any, required: true, "modality name → the data set's tensor key"),
                    OptionSpec("train", .boolean, default: .boolean(true), "train it with the generator"),
                ])
            guard let model = try spec.object("model", as: Module.self, named: "a module") as? MultimodalClassifier,
                case .table(let named) = spec.value("inputs")
            else {
                throw ConfigurationError(
                    "train_gan conditioner",
                    "model must be a multimodal classifier (models.multimodal_classifier{}) and inputs a table {image = \"images\", ...}"
                )
            }
            var keys: [String: String] = [:]
            for (modality, value) in named {
                guard case .string(let key) = value, let tensor = data.tensor(key) else {
                    throw ConfigurationError(
                        "train_gan conditioner", "inputs.\(modality) must name a tensor of the data set, got \(value)")
                }
                (keys[modality], inputs[modality]) = (key, tensor)
            }
            options.conditioner = try GANConditioner(model: model, inputs: keys, trained: spec.boolean("train"))
        } else if !config.value("conditioner").isNull {
            throw ConfigurationError("train_gan", "conditioner must be a table {model = ..., inputs = {...}}")
        }
        // Optimizers: Adam(1e-4, β = (0, 0.9)) as WGAN-GP's Algorithm 1 unless given.
        func optimizer(_ key: String, _ network: ConditionalModel) throws -> Optimizer {
            // A trained conditioner learns with the generator.
            let extra =
                key == "generator_optimizer" && options.conditioner?.trained == true
                ? options.conditioner?.model.parameters() ?? [] : []
            let parameters = ConfigValue.list((network.parameters() + extra).map(ConfigValue.tensor))
            var fields: [String: ConfigValue] = [
                "type": .string("adam"), "lr": .number(1e-4), "betas": .list([.number(0), .number(0.9)]),
            ]
            for source in ["optimizer", key] {
                switch config.value(source) {
                case .null: continue
                case .string(let name): fields = ["type": .string(name)]
                case .table(let given): fields = given
                case let other:
                    throw ConfigurationError(
                        "train_gan", "\(source) must be a name or a spec table, got \(other.kindName)")
                }
            }
            fields["params"] = parameters
            return try component(.optimizer, .table(fields), components: components, key)
        }
        let trainer = try GANTrainer(
            generator: generator, critic: critic, generatorOptimizer: optimizer("generator_optimizer", generator),
            criticOptimizer: optimizer("critic_optimizer", critic), options: options)
        trainer.log = { [run = components.run] record in try run?.log(record) }
        let classes = Array(Set(labels.toIntegers())).sorted()
        func grid(_ step: Int) throws {
            guard let run = components.run else { return }
            // Eight samples per class from the averaged generator, a row per class: for label conditioning
            // the class itself, for conditioning vectors those of the first eight real samples of the class.
            let perClass = 8
            var batch = try GANTrainer.Batch(
                images: images,
                labels: Tensor(
                    shape: [classes.count * perClass],
                    integers: classes.flatMap { Array(repeating: $0, count: perClass) }))
            if conditions != nil || !inputs.isEmpty {
                let known = labels.toIntegers()
                let rows = classes.flatMap { label in
                    let members = known.indices.filter { known[$0] == label }
                    return (0..<perClass).map { members[$0 % members.count] }
                }
                batch = try GANTrainer.Batch(
                    images: images.indexSelect(axis: 0, indices: rows),
                    labels: labels.indexSelect(axis: 0, indices: rows),
                    conditions: conditions?.indexSelect(axis: 0, indices: rows),
                    inputs: inputs.mapValues { try $0.indexSelect(axis: 0, indices: rows) })
            }
            // One swap to the weight average for the condition (a trained conditioner's too) and the drawing.
            let drawn = try trainer.withAverage {
                try generator.evaluating {
                    try noGrad {
                        let condition = try trainer.condition(for: batch, differentiable: false)
                        return try generator.forward(
                            trainer.noise(count: classes.count * perClass), condition: condition)
                    }
                }
            }
            _ = try run.saveImage(
                "\(options.name)-step-\(step)", drawn, columns: perClass, range: (-1, 1),
                series: (tag: "\(options.name)/samples", step: step))
        }
        trainer.onLog = { [run = components.run, unowned trainer] step in
            if step % imageEvery == 0 || step == options.steps { try grid(step) }
            // Metrics of the averaged generator, before the checkpoint (which then holds the random state the
            // metrics left, so a resumed run continues as an uninterrupted one).
            if let onMetrics, step == options.steps || (metricsEvery > 0 && step % metricsEvery == 0) {
                let values = try trainer.withAverage { try onMetrics(step) }
                var fields = values.mapValues(ConfigValue.number)
                (fields["step"], fields["trainer"], fields["phase"]) = (
                    .number(Double(step)), .string(options.name), .string("gan_metrics")
                )
                try run?.log(fields)
                if options.verbose, !values.isEmpty {
                    Swift.print(
                        "\(options.name): step \(step) metrics "
                            + values.keys.sorted().map { String(format: "%@ %.4f", $0, values[$0] ?? 0) }.joined(
                                separator: "  "))
                }
            }
        }
        let records = try trainer.fit(images: images, labels: labels, conditions: conditions, inputs: inputs)
        try trainer.adoptAverage()
        if let run = components.run { run.recordCheckpoint("checkpoints/\(options.name)-last.safetensors") }
        return .table([
            "steps": .number(Double(trainer.step)),
            // Training time over every process of the run: the restored history keeps the earlier intervals.
            "seconds": .number(records.reduce(0) { $0 + ($1.values["seconds"] ?? 0) }),
            "history": .list(
                records.map { record in
                    var fields = record.values.mapValues(ConfigValue.number)
                    fields["step"] = .number(Double(record.step))
                    return .table(fields)
                }),
        ])
    }

    static let feedbackOptions: [OptionSpec] = [
        OptionSpec("classifier", .object("Module"), required: true, "the auditing classifier (trained on real data)"),
        OptionSpec("layer", .string, required: true, "the classifier's layer whose activations make the map"),
        OptionSpec("explainer", .string, default: .string("grad_cam_pp"), "\"grad_cam_pp\" or \"grad_cam\""),
        OptionSpec("weight", .number, default: .number(1), "λ of the penalty"),
        OptionSpec("every", .integer, default: .number(1), "generator steps between feedback updates"),
        OptionSpec("threshold", .number, default: .number(0.1), "pixels above it (in [0, 1]) are the foreground"),
        OptionSpec(
            "form", .string, default: .string("share"),
            "\"share\": the map's mass off the foreground; \"dice\": 1 − soft Dice with it"),
    ]

    /// `feedback = {...}` read into an ``ExplanationFeedback`` (nil when absent).
    static func explanationFeedback(_ value: ConfigValue) throws -> ExplanationFeedback? {
        guard case .table(let fields) = value else {
            if value.isNull { return nil }
            throw ConfigurationError("train_gan", "feedback must be a table {classifier = ..., layer = ...}")
        }
        let config = try Config(owner: "train_gan feedback", options: fields, specs: feedbackOptions)
        let method: CAMPenalty.Method =
            try config.choice("explainer", ["grad_cam_pp", "grad_cam"]) == "grad_cam" ? .gradCAM : .gradCAMPlusPlus
        let layer = try config.string("layer")
        let penalty = try CAMPenalty(
            method: method,
            config: Config(
                owner: "train_gan feedback",
                values: [
                    "weight": .number(try config.nonNegativeNumber("weight")), "layer": .string(layer),
                    "mask": .string("foreground"), "invert": .boolean(true), "target": .string("label"),
                    "form": .string(try config.string("form")),
                ]))
        return try ExplanationFeedback(
            penalty: penalty, classifier: config.object("classifier", as: Module.self, named: "a module"),
            layer: layer, threshold: config.number("threshold"), every: config.positiveInteger("every"))
    }

    public static let fairnessOptions: [OptionSpec] = [
        OptionSpec(
            "groups", .any,
            "a classifier over the protected subgroups (softmax of its outputs), or a function(images in [0, 1]) returning probabilities [N, G] or [N] (two groups)"
        ),
        OptionSpec("target", .any, default: .string("uniform"), "\"uniform\" or a list of target shares summing to 1"),
        OptionSpec("weight", .number, default: .number(1), "λ of the share penalty ‖p̄ − target‖²"),
        OptionSpec("classifier", .any, "the auditing classifier whose per-class accuracy is kept even"),
        OptionSpec("accuracy_weight", .number, default: .number(1), "λ of the per-class accuracy penalty"),
        OptionSpec("every", .integer, default: .number(1), "generator steps between feedback updates"),
    ]

    /// `fairness = {...}` read into a ``BiasFeedback`` (nil when absent); `groupFunction` is the script's
    /// `groups` function when it gave one.
    static func biasFeedback(_ value: ConfigValue, groupFunction: ((Tensor) throws -> Tensor)?) throws
        -> BiasFeedback?
    {
        guard case .table(let fields) = value else {
            if value.isNull { return nil }
            throw ConfigurationError("train_gan", "fairness must be a table {groups = ..., classifier = ...}")
        }
        let config = try Config(owner: "train_gan fairness", options: fields, specs: fairnessOptions)
        var groups: BiasFeedback.Groups?
        switch config.value("groups") {
        case .null: groups = groupFunction.map(BiasFeedback.Groups.function)
        case .object(let module as Module): groups = .classifier(module)
        case let other:
            throw ConfigurationError(
                "train_gan fairness", "groups must be a classifier or a function, got \(other.kindName)")
        }
        var target: [Double]?
        switch config.value("target") {
        case .null, .string("uniform"): target = nil
        case .list(let shares):
            target = try shares.map { share in
                guard case .number(let number) = share else {
                    throw ConfigurationError(
                        "train_gan fairness", "target shares must be numbers, got \(share.kindName)")
                }
                return number
            }
        case let other:
            throw ConfigurationError(
                "train_gan fairness", "target must be \"uniform\" or a list of shares, got \(other.description)")
        }
        let classifier: Module? =
            config.has("classifier") ? try config.object("classifier", as: Module.self, named: "a module") : nil
        return try BiasFeedback(
            groups: groups, target: target, weight: config.nonNegativeNumber("weight"), classifier: classifier,
            accuracyWeight: config.nonNegativeNumber("accuracy_weight"), every: config.positiveInteger("every"))
    }

    public static let generateOptions: [OptionSpec] = [
        OptionSpec("generator", .any, "a conditional generator (e.g. models.cgan_generator{} after train_gan)"),
        OptionSpec("per_class", .integer, default: .number(100), "samples per class (label conditioning)"),
        OptionSpec("classes", .integer, "the classes 0..<classes to draw; default: the generator's"),
        OptionSpec("conditions", .tensor, "conditioning vectors [N, D] (fused conditioning): one sample each"),
        OptionSpec("labels", .tensor, "labels [N] returned with `conditions` (e.g. the spoken digits' classes)"),
        OptionSpec("batch", .integer, default: .number(500), "samples per forward pass"),
        OptionSpec("seed", .integer, "the noise's random generator; default: the run's"),
    ]

    /// `generate{generator = g, per_class = 100}`: a data set `{images, labels}` drawn from a conditional
    /// generator in evaluation mode without gradients, images mapped from the generator's [−1, 1] to [0, 1]
    /// (ready for `train{}` — GAN-train accuracy — and the generation metrics). With label conditioning,
    /// `per_class` samples of each class in label order; with `conditions`, one sample per row.
    public static func generate(_ spec: [String: ConfigValue]) throws -> ConfigValue {
        try rejectUnknownOptions(spec.keys, accepted: generateOptions.map(\.name), owner: "generate")
        let config = Config(owner: "generate", values: spec)
        guard case .object(let object as GANGenerator) = config.value("generator") else {
            throw ConfigurationError(
                "generate",
                "generator must be a conditional generator (models.cgan_generator{}), got \(config.value("generator").kindName)"
            )
        }
        let batch = config.has("batch") ? try config.positiveInteger("batch") : 500
        let random = config.has("seed") ? RandomGenerator(seed: UInt64(max(0, try config.integer("seed")))) : .shared
        var conditions: Tensor
        var labels: Tensor?
        switch object.conditioning {
        case .labels(let known):
            guard !config.has("conditions") else {
                throw ConfigurationError(
                    "generate", "conditions are for a fused-conditioning generator; this one takes labels")
            }
            let classes = config.has("classes") ? try config.positiveInteger("classes") : known
            guard classes <= known else {
                throw ConfigurationError("generate", "classes \(classes) exceeds the generator's \(known)")
            }
            let perClass = config.has("per_class") ? try config.positiveInteger("per_class") : 100
            conditions = try Tensor(
                shape: [classes * perClass], integers: (0..<classes).flatMap { Array(repeating: $0, count: perClass) })
            labels = conditions
        case .vector(let dimension):
            guard config.has("conditions") else {
                throw ConfigurationError(
                    "generate", "a fused-conditioning generator needs conditions [N, \(dimension)]")
            }
            conditions = try config.tensor("conditions")
            guard conditions.rank == 2, conditions.shape[1] == dimension, conditions.shape[0] > 0 else {
                throw ConfigurationError(
                    "generate", "conditions must be [N, \(dimension)], got \(describe(shape: conditions.shape))")
            }
            if config.has("labels") {
                let given = try config.tensor("labels")
                guard given.shape == [conditions.shape[0]] else {
                    throw ConfigurationError(
                        "generate", "labels must be [\(conditions.shape[0])], got \(describe(shape: given.shape))")
                }
                labels = given
            }
        }
        let count = conditions.shape[0]
        var parts: [Tensor] = []
        try object.evaluating {
            try noGrad {
                for start in stride(from: 0, to: count, by: batch) {
                    let end = min(start + batch, count)
                    let noise = try object.noise(count: end - start, generator: random)
                    let drawn = try object.forward(noise, condition: conditions.sliced(axis: 0, start: start, end: end))
                    parts.append(try drawn.affine(scale: 0.5, shift: 0.5))
                }
            }
        }
        var result: [String: ConfigValue] = ["images": .tensor(try Tensor.concatenate(parts, axis: 0))]
        if let labels { result["labels"] = .tensor(labels) }
        return .table(result)
    }
}
