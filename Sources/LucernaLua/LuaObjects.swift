import CLua
import LucernaComponents
import LucernaCore
import LucernaNN

/// Engine objects in Lua: each Swift type has a metatable (`lucerna.Module`, `lucerna.Optimizer`, ...);
/// a registry build result is pushed under the metatable of what it is.
enum LuaObjects {
    static let regularizerMetatable = "lucerna.Regularizer"
    static let metricMetatable = "lucerna.Metric"
    static let lossMetatable = "lucerna.Loss"
    static let attackMetatable = "lucerna.Attack"
    static let explainerMetatable = "lucerna.Explainer"
    static let ruleMetatable = "lucerna.Rule"
    static let compositeMetatable = "lucerna.Composite"
    static let clusteringMetatable = "lucerna.Clustering"
    static let augmentationMetatable = "lucerna.Augmentation"

    static let metatables = [
        LuaNNAPI.moduleMetatable, LuaNNAPI.optimizerMetatable, LuaNNAPI.scheduleMetatable,
        regularizerMetatable, metricMetatable, lossMetatable, attackMetatable, explainerMetatable,
        ruleMetatable, compositeMetatable, clusteringMetatable, augmentationMetatable,
    ]

    /// The engine object at `index` (not tensors), or nil.
    static func object(at index: Int32, in state: OpaquePointer) -> AnyObject? {
        for name in metatables {
            if let object = LuaUserdata.object(at: index, metatable: name, in: state) { return object }
        }
        return nil
    }

    /// Pushes a registry build result: engine objects as userdata, data sets as tables of tensors.
    static func push(_ value: Any, in state: OpaquePointer) {
        switch value {
        case let module as Module: LuaNNAPI.push(module, in: state)
        case let optimizer as Optimizer: LuaUserdata.push(optimizer, metatable: LuaNNAPI.optimizerMetatable, in: state)
        case let schedule as LearningRateSchedule:
            LuaUserdata.push(schedule, metatable: LuaNNAPI.scheduleMetatable, in: state)
        case let regularizer as Regularizer: LuaUserdata.push(regularizer, metatable: regularizerMetatable, in: state)
        case let metric as Metric: LuaUserdata.push(metric, metatable: metricMetatable, in: state)
        case let loss as Loss: LuaUserdata.push(loss, metatable: lossMetatable, in: state)
        case let attack as Attack: LuaUserdata.push(attack, metatable: attackMetatable, in: state)
        case let explainer as Explainer: LuaUserdata.push(explainer, metatable: explainerMetatable, in: state)
        case let rule as RelevanceRule: LuaUserdata.push(rule, metatable: ruleMetatable, in: state)
        case let composite as RelevanceComposite: LuaUserdata.push(composite, metatable: compositeMetatable, in: state)
        case let clustering as Clustering: LuaUserdata.push(clustering, metatable: clusteringMetatable, in: state)
        case let augmentation as Augmentation:
            LuaUserdata.push(augmentation, metatable: augmentationMetatable, in: state)
        case let dataset as TensorDataset:
            lua_createtable(state, 0, Int32(dataset.tensors.count + dataset.metadata.count))
            for (name, tensor) in dataset.tensors {
                LuaTensorAPI.push(tensor, in: state)
                lua_setfield(state, -2, name)
            }
            for name in dataset.metadata.keys.sorted() {
                LuaConfigValue.push(dataset.metadata[name] ?? .null, in: state)
                lua_setfield(state, -2, name)
            }
        case let tensor as Tensor: LuaTensorAPI.push(tensor, in: state)
        default: lua_pushnil(state)
        }
    }

    static func argument<T>(_ call: LuaCall, _ metatable: String, as type: T.Type, _ what: String) throws -> T {
        call.reads(upTo: 1)
        guard let object = LuaUserdata.object(at: 1, metatable: metatable, in: call.state) as? T else {
            throw call.fail(1, "\(what) (call methods with a colon: x:method())")
        }
        return object
    }

    /// The metatables of regularizers, metrics, losses, attacks and explainers.
    static func install(in lua: LuaState) {
        let state = lua.state
        LuaUserdata.createMetatable(regularizerMetatable, in: lua) { lua in
            lua.setFunction("penalty") { call in
                let regularizer = try argument(call, regularizerMetatable, as: Regularizer.self, "a regularizer")
                call.push(try regularizer.penalty(context(call, 2)))
                return 1
            }
            lua.setFunction("parameters") { call in
                let regularizer = try argument(call, regularizerMetatable, as: Regularizer.self, "a regularizer")
                LuaNNAPI.pushList((regularizer as? ParameterOwner)?.parameters() ?? [], in: call.state)
                return 1
            }
        }
        lucerna_pop(state, 1)
        LuaUserdata.createMetatable(metricMetatable, in: lua) { lua in
            lua.setFunction("update") { call in
                let metric = try argument(call, metricMetatable, as: Metric.self, "a metric")
                try metric.update(
                    predictions: call.tensor(2), targets: call.tensor(3), groups: call.isNil(4) ? nil : call.tensor(4))
                return 0
            }
            lua.setFunction("update_explanation") { call in
                // metric:update_explanation(model, inputs, maps[, targets]) for faithfulness metrics.
                let metric = try argument(call, metricMetatable, as: Metric.self, "a metric")
                guard let faithfulness = metric as? FaithfulnessMetric else {
                    throw TensorError(
                        "update_explanation", "this metric takes metric:update(predictions, targets[, groups]) instead")
                }
                try faithfulness.update(
                    model: LuaNNAPI.moduleArgument(call, 2), inputs: call.tensor(3), attributions: call.tensor(4),
                    targets: call.isNil(5) ? nil : call.tensor(5))
                return 0
            }
            lua.setFunction("compute") { call in
                call.push(try argument(call, metricMetatable, as: Metric.self, "a metric").compute())
                return 1
            }
            lua.setFunction("reset") { call in
                try argument(call, metricMetatable, as: Metric.self, "a metric").reset()
                return 0
            }
            lua.setFunction("report") { call in
                LuaConfigValue.push(
                    .table(try argument(call, metricMetatable, as: Metric.self, "a metric").report()), in: call.state)
                return 1
            }
        }
        lucerna_pop(state, 1)
        LuaUserdata.createMetatable(lossMetatable, in: lua) { lua in
            lua.setFunction("forward") { call in
                call.push(
                    try argument(call, lossMetatable, as: Loss.self, "a loss").loss(call.tensor(2), call.tensor(3)))
                return 1
            }
        }
        lua.setFunction("__call") { call in
            call.push(try argument(call, lossMetatable, as: Loss.self, "a loss").loss(call.tensor(2), call.tensor(3)))
            return 1
        }
        lucerna_pop(state, 1)
        // Attacks and explainers share one call shape: x:method(model, inputs, targets) -> tensor.
        // attack:perturb(model, inputs, targets): adversarial inputs; for a multimodal classifier, inputs is a
        // table of modalities and an optional fourth argument names the attacked one(s) (default: all) or gives
        // each attacked modality its own budget and range.
        LuaUserdata.createMetatable(attackMetatable, in: lua) { lua in
            lua.setFunction("perturb") { call in
                let attack = try argument(call, attackMetatable, as: Attack.self, "an attack")
                let model = try LuaNNAPI.moduleArgument(call, 2)
                if let multimodal = model as? MultimodalClassifier, call.optionalTensor(3) == nil {
                    let inputs = try modalityTable(call, 3, model: multimodal)
                    var attacked: [String]?
                    var budgets: [String: ModalityBudget] = [:]
                    let expected =
                        "a modality name, a list of names or a table of budgets {image = {eps = 0.1}, audio = {eps = 1, clamp_min = -math.huge, clamp_max = math.huge}}"
                    switch call.isNil(5) ? .null : try call.value(5, path: "modalities") {
                    case .null: attacked = nil
                    case .string(let name): attacked = [name]
                    case .list(let names):
                        attacked = try names.map { value in
                            guard case .string(let name) = value else { throw call.fail(5, expected) }
                            return name
                        }
                    case .table(let fields):
                        for (name, value) in fields {
                            guard case .table(let options) = value else { throw call.fail(5, expected) }
                            try rejectUnknownOptions(
                                options.keys, accepted: ["eps", "clamp_min", "clamp_max"],
                                owner: "attack:perturb budget for \(name)")
                            let config = Config(owner: "attack:perturb budget for \(name)", values: options)
                            budgets[name] = ModalityBudget(
                                eps: try config.number("eps", default: nil),
                                low: try config.number("clamp_min", default: nil),
                                high: try config.number("clamp_max", default: nil))
                        }
                        guard !budgets.isEmpty else { throw call.fail(5, expected) }
                    default: throw call.fail(5, expected)
                    }
                    let result = try MultimodalAttack.perturb(
                        attack, model: multimodal, inputs: inputs, targets: call.tensor(4), attacked: attacked,
                        budgets: budgets)
                    LuaConfigValue.push(.table(result.mapValues { .tensor($0) }), in: call.state)
                    return 1
                }
                call.push(try attack.perturb(model: model, inputs: call.tensor(3), targets: call.tensor(4)))
                return 1
            }
            // attack:adversarial_logits(model, inputs, targets): the logits under attack (for embedding-space
            // attacks, of the perturbed embeddings; otherwise model(attack:perturb(...))).
            lua.setFunction("adversarial_logits") { call in
                let attack = try argument(call, attackMetatable, as: Attack.self, "an attack")
                call.push(
                    try attack.adversarialLogits(
                        model: LuaNNAPI.moduleArgument(call, 2), inputs: call.tensor(3), targets: call.tensor(4)))
                return 1
            }
        }
        lucerna_pop(lua.state, 1)
        // explainer:attribute(model, inputs[, targets]) and its alias explainer:explain(...): nil targets
        // explain the predicted classes.
        LuaUserdata.createMetatable(explainerMetatable, in: lua) { lua in
            for name in ["attribute", "explain"] {
                lua.setFunction(name) { call in
                    let explainer = try argument(call, explainerMetatable, as: Explainer.self, "an explainer")
                    let targets = call.isNil(4) ? nil : try call.tensor(4)
                    let model = try LuaNNAPI.moduleArgument(call, 2)
                    // A multimodal classifier with a table of modalities: one map per modality.
                    if let multimodal = model as? MultimodalClassifier,
                        call.optionalTensor(3) == nil
                    {
                        let inputs = try modalityTable(call, 3, model: multimodal)
                        let maps = try ModalityView.explain(
                            explainer, model: multimodal, inputs: inputs, targets: targets)
                        LuaConfigValue.push(.table(maps.mapValues { .tensor($0) }), in: call.state)
                        return 1
                    }
                    call.push(try explainer.attribute(model: model, inputs: call.tensor(3), targets: targets))
                    return 1
                }
            }
        }
        lucerna_pop(lua.state, 1)
        // rule:relevance(layer, input, relevance): one propagation step through a layer module.
        LuaUserdata.createMetatable(ruleMetatable, in: lua) { lua in
            lua.setFunction("relevance") { call in
                let rule = try argument(call, ruleMetatable, as: RelevanceRule.self, "a rule")
                let layer = try LuaNNAPI.moduleArgument(call, 2)
                call.push(
                    try rule.inputRelevance(
                        layer: RelevanceLayer(name: layer.typeName, module: layer), input: call.tensor(3),
                        outputRelevance: call.tensor(4)))
                return 1
            }
        }
        lucerna_pop(lua.state, 1)
        // clustering:fit(points): a label per row of points [N, features], -1 for noise.
        LuaUserdata.createMetatable(clusteringMetatable, in: lua) { lua in
            lua.setFunction("fit") { call in
                call.push(
                    try argument(call, clusteringMetatable, as: Clustering.self, "a clustering").fit(call.tensor(2)))
                return 1
            }
        }
        lucerna_pop(lua.state, 1)
        // augmentation:augment(images): a randomly transformed copy, drawn from the run's generator.
        LuaUserdata.createMetatable(augmentationMetatable, in: lua) { lua in
            lua.setFunction("augment") { call in
                let augmentation = try argument(call, augmentationMetatable, as: Augmentation.self, "an augmentation")
                call.push(try augmentation.augment(call.tensor(2), generator: RandomGenerator.shared))
                return 1
            }
        }
        lucerna_pop(lua.state, 1)
        // composite:rules(model): module name -> the class of rule it gets (layers keeping their gradient omitted).
        LuaUserdata.createMetatable(compositeMetatable, in: lua) { lua in
            lua.setFunction("rules") { call in
                let composite = try argument(call, compositeMetatable, as: RelevanceComposite.self, "a composite")
                let leaves = try LuaNNAPI.moduleArgument(call, 2).namedModules().filter { $0.module.children.isEmpty }
                var assigned: [String: ConfigValue] = [:]
                for ((name, _), rule) in zip(leaves, composite.rules(for: leaves)) {
                    guard let rule else { continue }
                    assigned[name] = .string(rule.name)
                }
                LuaConfigValue.push(.table(assigned), in: call.state)
                return 1
            }
        }
        lucerna_pop(lua.state, 1)
    }

    /// A metatable whose one method `name(self, model, inputs, targets)` returns a tensor.
    /// The table of modality tensors at `index` (`{image = x, audio = y}`).
    static func modalityTable(_ call: LuaCall, _ index: Int32, model: MultimodalClassifier) throws -> [String: Tensor] {
        try tensorTable(
            call, index, path: "inputs", entry: "modality",
            expected: "a table of modalities {\(model.modalities.map { "\($0) = ..." }.joined(separator: ", "))}")
    }

    /// The table of name → tensor at `index` (modalities, a state dict); `expected` describes it in the error
    /// for anything else, `entry` names an entry that is not a tensor.
    static func tensorTable(_ call: LuaCall, _ index: Int32, path: String, entry: String, expected: String) throws
        -> [String: Tensor]
    {
        guard case .table(let fields) = try call.value(index, path: path) else { throw call.fail(index, expected) }
        var tensors: [String: Tensor] = [:]
        for (name, value) in fields {
            guard case .tensor(let tensor) = value else {
                throw TensorError(call.name, "\(entry) \(name) must be a tensor, got \(value.kindName)")
            }
            tensors[name] = tensor
        }
        return tensors
    }

    /// The fields of a regularizer context as Lua sees them.
    static let contextFields = [
        "parameters", "inputs", "logits", "targets", "groups", "environments", "attributions", "batch", "modalities",
        "activations", "model", "step",
    ]

    /// A regularizer context from the table at `index`: `parameters` (a model, a list of tensors or a
    /// name → tensor table), `inputs`, `logits`, `targets`, `groups`, `environments`, `attributions`, `batch`,
    /// `modalities` and `activations` (name → tensor tables), `model` (a module fed `inputs`) and `step`.
    static func context(_ call: LuaCall, _ index: Int32) throws -> RegularizerContext {
        let fields = try call.options(index, path: "\(call.name) context")
        for key in fields.keys.sorted() where !contextFields.contains(key) {
            throw TensorError(
                call.name,
                "unknown context field '\(key)'\(suggestion(for: key, in: contextFields)); accepted: \(contextFields.joined(separator: ", "))"
            )
        }
        func tensor(_ key: String) throws -> Tensor? {
            switch fields[key] ?? .null {
            case .null: return nil
            case .tensor(let tensor): return tensor
            case let other: throw TensorError(call.name, "context field \(key) must be a tensor, got \(other.kindName)")
            }
        }
        func tensors(_ key: String) throws -> [String: Tensor] {
            switch fields[key] ?? .null {
            case .null: return [:]
            case .table(let named):
                return try named.mapValues { value in
                    guard case .tensor(let tensor) = value else {
                        throw TensorError(call.name, "context field \(key) must map names to tensors")
                    }
                    return tensor
                }
            case let other:
                throw TensorError(call.name, "context field \(key) must be a table of tensors, got \(other.kindName)")
            }
        }
        var parameters: [(name: String, tensor: Tensor)] = []
        switch fields["parameters"] ?? .null {
        case .null: break
        case .object(let module as Module): parameters = module.namedParameters()
        case .list(let items):
            for (position, item) in items.enumerated() {
                guard case .tensor(let tensor) = item else {
                    throw TensorError(call.name, "context parameters[\(position + 1)] must be a tensor")
                }
                parameters.append(("\(position + 1)", tensor))
            }
        case .table(let named):
            for name in named.keys.sorted() {
                guard case .tensor(let tensor)? = named[name] else {
                    throw TensorError(call.name, "context parameters.\(name) must be a tensor")
                }
                parameters.append((name, tensor))
            }
        case let other:
            throw TensorError(call.name, "context parameters must be a model or tensors, got \(other.kindName)")
        }
        var model: RegularizedModel?
        switch fields["model"] ?? .null {
        case .null: break
        case .object(let module as Module): model = RegularizedModel(module: module, inputKey: "inputs")
        case let other: throw TensorError(call.name, "context model must be a module, got \(other.kindName)")
        }
        var step = 0
        if let given = fields["step"] {
            guard let number = given.numberValue, number >= 0, number < 1e15, number.rounded() == number else {
                throw TensorError(call.name, "context step must be a non-negative integer, got \(given)")
            }
            step = Int(number)
        }
        let inputs = try tensor("inputs")
        var batch = try tensors("batch")
        if let inputs, batch["inputs"] == nil { batch["inputs"] = inputs }
        return RegularizerContext(
            parameters: parameters, inputs: inputs, logits: try tensor("logits"), targets: try tensor("targets"),
            groups: try tensor("groups"), attributions: try tensor("attributions"), model: model, batch: batch,
            environments: try tensor("environments"), modalities: try tensors("modalities"),
            activations: try tensors("activations"), inputKey: inputs == nil ? nil : "inputs", step: step)
    }

    /// A regularizer context as the table a Lua plugin's `penalty(self, ctx)` receives.
    static func contextTable(_ context: RegularizerContext) -> ConfigValue {
        func table(_ tensors: [String: Tensor]) -> ConfigValue { .table(tensors.mapValues(ConfigValue.tensor)) }
        var fields: [String: ConfigValue] = [
            "parameters": table(
                Dictionary(context.parameters.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })),
            "batch": table(context.batch), "modalities": table(context.modalities),
            "activations": table(context.activations), "step": .number(Double(context.step)),
        ]
        for (key, value) in [
            ("inputs", context.inputs), ("logits", context.logits), ("targets", context.targets),
            ("groups", context.groups), ("environments", context.environments),
            ("attributions", context.attributions),
        ] {
            if let value { fields[key] = .tensor(value) }
        }
        if let model = context.model {
            fields["model"] =
                model.modules.count == 1 && model.modules[0].name.isEmpty
                ? .object(model.modules[0].module)
                : .table(
                    Dictionary(model.modules.map { ($0.name, .object($0.module)) }, uniquingKeysWith: { a, _ in a }))
        }
        return .table(fields)
    }
}
