import CLua
import LucernaComponents
import LucernaCore
import LucernaNN

/// The Localise, Revise and Re-evaluate steps of Reveal-to-Revise in the `reveal` table: `reveal.cav`,
/// `reveal.localize`, `reveal.masks`, `reveal.artifact_relevance`, `reveal.tcav` and `reveal.clarc`.
extension LuaRevealAPI {
    static let modelOptions = [
        OptionSpec("model", .object("Module"), "the model whose layer is read"),
        OptionSpec("layer", .string, "the layer (dotted name) whose activations the CAV lives in"),
        OptionSpec(
            "inputs", .any,
            "the inputs the model is run on: a tensor, or a multimodal classifier's inputs by modality ({image = x, audio = a}) with `modality`"
        ),
        OptionSpec(
            "modality", .string,
            "with inputs by modality: the one whose layer and pixels are read (the others held, sample by sample)"),
        OptionSpec("batch", .integer, default: .number(256), "samples per forward pass"),
    ]
    static let cavOptions =
        modelOptions + [
            OptionSpec(
                "activations", .tensor, "the layer's activations [N, C, h, w] or [N, D], instead of model and inputs"),
            OptionSpec("labels", .tensor, required: true, "[N]: nonzero for samples with the concept (artifact)"),
            OptionSpec(
                "method", .string, default: .string("svm"), "svm (linear SVM, no intercept, balanced) or signal"),
            OptionSpec(
                "pooling", .string, default: .string("max"), "per channel: max or mean over positions; flat: all"),
            OptionSpec("C", .number, default: .number(1), "the SVM's penalty C"),
            OptionSpec("tolerance", .number, default: .number(1e-4), "the SVM solver's stopping tolerance"),
            OptionSpec("max_iterations", .integer, default: .number(1000), "the SVM solver's sweeps at most"),
            OptionSpec("max_concept", .integer, default: .number(1000), "concept samples used at most"),
            OptionSpec("multiple", .number, default: .number(5), "other samples used: this multiple of the concept's"),
            OptionSpec("seed", .integer, default: .number(0), "sample selection and the solver's order"),
        ]
    static let cavValueOption = OptionSpec(
        "cav", .any, required: true, "a CAV as reveal.cav returns it ({vector, pooling, concept_mean, other_mean})")
    static let maskOptions = [
        OptionSpec("low", .number, default: .number(0.1), "first threshold, a share of each map's max"),
        OptionSpec("kernel", .integer, default: .number(41), "the Gaussian blur's (odd) kernel size"),
        OptionSpec("sigma", .number, default: .number(8), "the Gaussian blur's sigma"),
        OptionSpec("high", .number, default: .number(0.3), "second threshold, a share of the blurred map's max"),
    ]

    static let localizeOptions =
        modelOptions + maskOptions + [
            cavValueOption,
            OptionSpec(
                "explainer", .component(.explainer), default: .string("lrp"),
                "the explainer run on the model cut at the layer and scored along the CAV"),
        ]
    static let masksOptions =
        maskOptions + [OptionSpec("heatmaps", .tensor, required: true, "maps [N, H, W] or [N, C, H, W]")]
    static let relevanceOptions = [
        OptionSpec("heatmaps", .tensor, required: true, "relevance [N, H, W] or [N, C, H, W]"),
        OptionSpec("masks", .tensor, required: true, "artifact masks [N, H, W] or [N, 1, H, W]"),
    ]
    static let tcavOptions =
        modelOptions + [
            cavValueOption, OptionSpec("class", .integer, required: true, "the class whose logit is tested"),
        ]
    static let clarcOptions = [
        OptionSpec("model", .object("Module"), required: true, "the model to correct"),
        OptionSpec("layer", .string, required: true, "the layer whose output is moved"),
        cavValueOption,
        OptionSpec(
            "mode", .string, default: .string("projective"),
            "projective (P-ClArC, to the others' mean) or additive (A-ClArC, to the concept's)"),
        OptionSpec("strength", .number, default: .number(1), "λ of x' = x + λ v (z − vᵀx)"),
        OptionSpec(
            "reactive", .boolean, default: .boolean(false),
            "R-ClArC: move only the samples whose projection lies nearer the concept's mean than the others'"),
    ]

    /// The functions as the Lua API reference lists them: a call, what it returns, its options.
    public static let localisationDocumentation: [(call: String, summary: String, options: [OptionSpec])] = [
        (
            "reveal.cav{model = m, layer = \"relu2\", inputs = x, labels = artifact, method = \"svm\"}",
            "a concept activation vector: `{vector, pooling, concept_mean, other_mean, method, samples}` (unit vector; mean projections of the concept and other samples; the 0-based samples used)",
            cavOptions
        ),
        (
            "reveal.localize{model = m, layer = \"relu2\", inputs = x, cav = cav}",
            "`{heatmaps, masks}`: the input relevance of the CAV's direction (negatives 0, channels summed) and R2R's masks from it",
            localizeOptions
        ),
        ("reveal.masks{heatmaps = h}", "R2R's mask rule: `[N, H, W]` of 0 and 1", masksOptions),
        (
            "reveal.project{model = m, layer = \"relu2\", inputs = x, cav = cav}",
            "`[N]`: each sample's projection vᵀx̂ on the CAV (activations pooled as the CAV's)", projectOptions
        ),
        (
            "reveal.scatter{points = spray.coordinates, labels = spray.labels.kmeans, highlight = 3}",
            "an RGB image `[1, 3, size, size]` of the points coloured by label (matplotlib's tab10), for `run.image`",
            scatterOptions
        ),
        (
            "reveal.artifact_relevance{heatmaps = r, masks = m}",
            "`{mean, values}`: per sample Σ|R ⊙ M| / (Σ|R| + 1e-10)", relevanceOptions
        ),
        (
            "reveal.tcav{model = m, layer = \"relu2\", inputs = x, cav = cav, class = 0}",
            "`{score, sensitivity, derivatives}`: the share of positive directional derivatives ∇_a f_class · v, their mean |·|",
            tcavOptions
        ),
        (
            "reveal.clarc{model = m, layer = \"relu2\", cav = cav, mode = \"projective\"}",
            "installs P-/A-ClArC on the layer's output and returns `{target, remove}`; `remove()` takes it off",
            clarcOptions
        ),
    ]

    static let scatterOptions = [
        OptionSpec("points", .tensor, required: true, "[N, 2] coordinates (e.g. reveal.spray's coordinates)"),
        OptionSpec("labels", .tensor, required: true, "[N] cluster labels (−1: noise)"),
        OptionSpec("highlight", .any, "a label, or a list of labels, drawn last and larger"),
        OptionSpec("size", .integer, default: .number(160), "the picture's width and height in pixels"),
    ]

    static let projectOptions = modelOptions + [cavValueOption]

    static func installLocalisation(in lua: LuaState) {
        // reveal.project{model, layer, inputs, cav} -> [N]: vᵀx̂ per sample, the activations pooled as the CAV's.
        lua.setFunction("project") { call in
            let config = try options(call, "reveal.project", projectOptions)
            let count = try explainedInputs(config, owner: "reveal.project").count
            let activations = try layerActivations(
                config, owner: "reveal.project", labelCount: count, samples: Array(0..<count))
            let values = try cav(config.value("cav"), owner: "reveal.project").projections(activations)
            call.push(try Tensor(shape: [values.count], doubles: values))
            return 1
        }
        // reveal.scatter{points = result.coordinates, labels = result.labels.kmeans, highlight = 3} -> an RGB image
        // [1, 3, size, size] for run.image: SpRAy's embedding coloured by cluster.
        lua.setFunction("scatter") { call in
            let config = try options(call, "reveal.scatter", scatterOptions)
            let points = try config.tensor("points")
            guard points.rank == 2, points.shape[1] == 2 else {
                throw TensorError("reveal.scatter", "points must be [N, 2], got \(describe(shape: points.shape))")
            }
            var highlighted: Set<Int> = []
            switch config.value("highlight") {
            case .number(let label): highlighted = [Int(label)]
            case .list(let labels):
                for case .number(let label) in labels { highlighted.insert(Int(label)) }
            default: break
            }
            call.push(
                try SpectralRelevanceAnalysis.scatter(
                    points: points.toDoubles(), labels: config.tensor("labels").toIntegers(),
                    size: config.positiveInteger("size"), highlighted: highlighted))
            return 1
        }
        // reveal.cav{model = m, layer = "relu2", inputs = x, labels = artifact} -> {vector, pooling, concept_mean,
        // other_mean, method, samples}: the concept activation vector from the selected samples.
        lua.setFunction("cav") { [unowned lua] call in
            let config = try options(call, "reveal.cav", cavOptions, registry: lua.registry)
            let pooling = try pooling(config)
            let labels = try config.tensor("labels").toDoubles().map { $0 != 0 }
            let selected = ConceptActivationVector.select(
                labels: labels, maximum: try config.positiveInteger("max_concept"),
                multiple: try config.nonNegativeNumber("multiple"), seed: UInt64(max(0, try config.integer("seed"))))
            // Only the selected samples' activations are computed (a flat CAV of a large layer is wide).
            let chosen: Tensor
            if config.has("activations") {
                let activations = try config.tensor("activations")
                guard activations.shape.first == labels.count else {
                    throw TensorError(
                        "reveal.cav",
                        "activations \(describe(shape: activations.shape)) and \(labels.count) labels do not match")
                }
                chosen = try activations.indexSelect(axis: 0, indices: selected)
            } else {
                chosen = try layerActivations(config, owner: "reveal.cav", labelCount: labels.count, samples: selected)
            }
            let (rows, count, width) = try ConceptActivationVector.features(
                chosen, pooling: pooling, owner: "reveal.cav")
            var machine = LinearSupportVectorMachine()
            machine.regularization = try config.number("C")
            machine.tolerance = try config.nonNegativeNumber("tolerance")
            machine.maximumIterations = try config.positiveInteger("max_iterations")
            machine.seed = UInt64(max(0, try config.integer("seed")))
            let method = try config.choice("method", ConceptActivationVector.Method.allCases.map(\.rawValue))
            let cav = try ConceptActivationVector.fit(
                rows: rows, count: count, width: width, labels: selected.map { labels[$0] },
                method: ConceptActivationVector.Method(rawValue: method) ?? .svm, pooling: pooling, machine: machine)
            var table = try cavTable(cav)
            if case .table(var fields) = table {
                fields["method"] = .string(method)
                fields["samples"] = .tensor(try Tensor(shape: [selected.count], integers: selected))
                table = .table(fields)
            }
            LuaConfigValue.push(table, in: call.state)
            return 1
        }
        // reveal.localize{model, layer, inputs, cav, explainer = "lrp"} -> {heatmaps, masks}: the input relevance of
        // the CAV's direction and R2R's masks from it.
        lua.setFunction("localize") { [unowned lua] call in
            let config = try options(call, "reveal.localize", localizeOptions, registry: lua.registry)
            let model = try config.object("model", as: Module.self, named: "a model")
            let inputs = try explainedInputs(config, owner: "reveal.localize")
            let layer = try config.string("layer")
            let cav = try cav(config.value("cav"), owner: "reveal.localize")
            let explainer = try config.component("explainer", kind: .explainer)
            guard inputs.count > 0 else { throw TensorError("reveal.localize", "no inputs") }
            let parts = try inputs.batches(of: config.positiveInteger("batch"), model: model, owner: "reveal.localize")
            { view, slice in
                try ArtifactLocalization.conceptHeatmaps(
                    explainer: explainer, model: view, layer: layer, cav: cav, inputs: slice)
            }
            let heatmaps = try Tensor.concatenate(parts, axis: 0)
            let masks = try masks(heatmaps, config)
            LuaConfigValue.push(.table(["heatmaps": .tensor(heatmaps), "masks": .tensor(masks)]), in: call.state)
            return 1
        }
        // reveal.masks{heatmaps = h, low = 0.1, kernel = 41, sigma = 8, high = 0.3} -> masks [N, H, W].
        lua.setFunction("masks") { call in
            let config = try options(call, "reveal.masks", masksOptions)
            call.push(try masks(config.tensor("heatmaps"), config))
            return 1
        }
        // reveal.artifact_relevance{heatmaps = R, masks = M} -> {mean, values}: Σ|R ⊙ M| / Σ|R| per sample.
        lua.setFunction("artifact_relevance") { call in
            let config = try options(call, "reveal.artifact_relevance", relevanceOptions)
            let values = try ArtifactLocalization.artifactRelevance(
                heatmaps: config.tensor("heatmaps"), masks: config.tensor("masks"))
            LuaConfigValue.push(
                .table([
                    "mean": .number(values.reduce(0, +) / Double(max(values.count, 1))),
                    "values": .tensor(try Tensor(shape: [values.count], doubles: values)),
                ]), in: call.state)
            return 1
        }
        // reveal.tcav{model, layer, inputs, cav, class = 0} -> {score, sensitivity, derivatives}.
        lua.setFunction("tcav") { call in
            let config = try options(call, "reveal.tcav", tcavOptions)
            let result = try ConceptSensitivity.measure(
                model: config.object("model", as: Module.self, named: "a model"), layer: config.string("layer"),
                cav: cav(config.value("cav"), owner: "reveal.tcav"),
                inputs: explainedInputs(config, owner: "reveal.tcav"),
                classIndex: config.integer("class"), batchSize: config.positiveInteger("batch"))
            LuaConfigValue.push(
                .table([
                    "score": .number(result.score), "sensitivity": .number(result.sensitivity),
                    "derivatives": .tensor(try Tensor(shape: [result.derivatives.count], doubles: result.derivatives)),
                ]), in: call.state)
            return 1
        }
        // reveal.clarc{model, layer, cav, mode = "projective" | "additive", strength = 1} -> {target, remove}: installs
        // P-/A-ClArC on the layer's output until remove() is called.
        lua.setFunction("clarc") { [unowned lua] call in
            let config = try options(call, "reveal.clarc", clarcOptions)
            let model = try config.object("model", as: Module.self, named: "a model")
            let name = try config.string("layer")
            let layer = try ArtifactLocalization.layer(name, in: model, owner: "reveal.clarc")
            let mode = try config.choice("mode", ClassArtifactCompensation.Mode.allCases.map(\.rawValue))
            let correction = ClassArtifactCompensation(
                cav: try cav(config.value("cav"), owner: "reveal.clarc"),
                mode: ClassArtifactCompensation.Mode(rawValue: mode) ?? .projective,
                strength: try config.number("strength"), reactive: try config.boolean("reactive"))
            var identifier: Int? = correction.install(on: layer)
            lucerna_newtable(call.state)
            call.push(correction.target)
            lua_setfield(call.state, -2, "target")
            lua.setFunction("remove") { _ in
                if let installed = identifier { layer.removeOutputTransform(installed) }
                identifier = nil
                return 0
            }
            return 1
        }
    }

    /// The options table of a `reveal.*` call, checked against `specs`.
    static func options(_ call: LuaCall, _ name: String, _ specs: [OptionSpec], registry: Registry? = nil) throws
        -> Config
    {
        call.reads(upTo: 1)
        return try Config(owner: name, options: call.options(1, path: name), specs: specs, registry: registry)
    }

    static func pooling(_ config: Config) throws -> ConceptActivationVector.Pooling {
        ConceptActivationVector.Pooling(
            rawValue: try config.choice("pooling", ConceptActivationVector.Pooling.allCases.map(\.rawValue))) ?? .max
    }

    static func masks(_ heatmaps: Tensor, _ config: Config) throws -> Tensor {
        try ArtifactLocalization.masks(
            heatmaps, low: config.number("low"), kernelSize: config.integer("kernel"), sigma: config.number("sigma"),
            high: config.number("high"))
    }

    /// The layer's activations for the inputs at `samples`, in batches, in evaluation mode and outside the graph.
    static func layerActivations(_ config: Config, owner: String, labelCount: Int, samples: [Int]) throws -> Tensor {
        guard config.has("model"), config.has("layer"), config.has("inputs") else {
            throw ConfigurationError(owner, "give activations, or model, layer and inputs")
        }
        let model = try config.object("model", as: Module.self, named: "a model")
        let given = try explainedInputs(config, owner: owner)
        let name = try config.string("layer")
        guard given.count == labelCount else {
            throw TensorError(
                owner, "inputs \(describe(shape: given.explained.shape)) and \(labelCount) labels do not match")
        }
        guard !samples.isEmpty else { throw TensorError(owner, "no samples") }
        let inputs = try given.selected(samples)
        let layer = try ArtifactLocalization.layer(name, in: model, owner: owner)
        return try model.evaluating {
            try noGrad {
                let parts = try inputs.batches(of: config.positiveInteger("batch"), model: model, owner: owner) {
                    view, part in
                    try view.forward(part, capturing: layer, owner: owner, layerName: name).activations.detach()
                }
                return try Tensor.concatenate(parts, axis: 0)
            }
        }
    }

    /// The `inputs` option: a tensor, or a multimodal classifier's tensors by modality with `modality` naming
    /// the explained one.
    static func explainedInputs(_ config: Config, owner: String) throws -> ExplainedInputs {
        guard config.has("inputs") else { throw ConfigurationError(owner, "option inputs is required") }
        switch config.value("inputs") {
        case .tensor(let tensor):
            guard !config.has("modality") else {
                throw ConfigurationError(owner, "modality applies to inputs by modality ({image = x, audio = a})")
            }
            return ExplainedInputs(tensor)
        case .table(let fields):
            guard config.has("modality") else {
                throw ConfigurationError(owner, "inputs by modality need modality = the explained one's name")
            }
            var modalities: [String: Tensor] = [:]
            for (name, value) in fields {
                guard case .tensor(let tensor) = value else {
                    throw ConfigurationError(owner, "inputs.\(name) must be a tensor")
                }
                modalities[name] = tensor
            }
            return try ExplainedInputs(modalities: modalities, explained: config.string("modality"), owner: owner)
        default:
            throw ConfigurationError(owner, "inputs must be a tensor or a table of tensors by modality")
        }
    }

    static func cavTable(_ cav: ConceptActivationVector) throws -> ConfigValue {
        .table([
            "vector": .tensor(try Tensor(shape: [cav.vector.count], doubles: cav.vector)),
            "pooling": .string(cav.pooling.rawValue), "concept_mean": .number(cav.conceptMean),
            "other_mean": .number(cav.otherMean),
        ])
    }

    static func cav(_ value: ConfigValue, owner: String) throws -> ConceptActivationVector {
        guard case .table(let fields) = value, case .tensor(let vector)? = fields["vector"] else {
            throw ConfigurationError(owner, "cav must be a table with a vector tensor, as reveal.cav returns")
        }
        let pooling: ConceptActivationVector.Pooling
        switch fields["pooling"] ?? .string("max") {
        case .string(let name):
            guard let known = ConceptActivationVector.Pooling(rawValue: name) else {
                throw ConfigurationError(owner, "cav.pooling must be max, mean or flat, got \(name)")
            }
            pooling = known
        default: throw ConfigurationError(owner, "cav.pooling must be a string")
        }
        func number(_ key: String) throws -> Double {
            switch fields[key] {
            case .number(let value)?: return value
            case nil, .null?: return 0
            default: throw ConfigurationError(owner, "cav.\(key) must be a number")
            }
        }
        let values = vector.toDoubles()
        guard !values.isEmpty, values.allSatisfy(\.isFinite) else {
            throw ConfigurationError(owner, "cav.vector must be a non-empty finite tensor")
        }
        return ConceptActivationVector(
            vector: values, pooling: pooling, conceptMean: try number("concept_mean"),
            otherMean: try number("other_mean"))
    }
}
