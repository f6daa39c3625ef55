import LucernaCore
import LucernaNN

/// A classifier over named modalities: an encoder per modality, a fusion, a head. Modalities are ordered
/// by name (so fusion input i and attention pair keys follow that order). With `fusion` given as a name or
/// spec, its `input_dims` are filled in from the encoders and, for fusions that take token sequences
/// (`cross_attention`), encoders given by name or spec are built with `tokens = true`; `late` fusion gets a linear head per modality and no
/// head after it. One encoder and no fusion is the unimodal baseline. A missing modality at inference is
/// left out of the inputs (the fusion's placeholder stands in).
public final class MultimodalClassifier: Module {
    public static let options = [
        OptionSpec(
            "encoders", .any,
            default: .table(["image": .string("conv_encoder"), "audio": .string("temporal_encoder")]),
            "a table from modality name to encoder (an instance, name or spec: models.conv_encoder{...}); default: multimodal MNIST's image and audio"
        ),
        OptionSpec(
            "fusion", .component(.fusion), default: .string("concat"),
            "the fusion (name, spec or instance); false: none (one encoder)"),
        OptionSpec("classes", .integer, default: .number(10), "output classes"),
        OptionSpec("hidden", .integer, "width of a hidden ReLU layer in the head; nil: a linear head"),
        OptionSpec("dropout", .number, default: .number(0), "dropout before the head"),
    ]

    public let modalities: [String]
    public let encoders: [Encoder]
    public let fusion: Fusion?
    /// Whether the encoders give token sequences (the fusion takes them).
    public let usesTokens: Bool
    let head: Module?
    let modalityHeads: [Linear]

    public init(
        encoders named: [(String, Encoder)], fusion: Fusion?, usesTokens: Bool, classes: Int, hidden: Int?,
        dropout: Double
    ) throws {
        guard !named.isEmpty else { throw TensorError("multimodal_classifier", "give at least one encoder") }
        let sorted = named.sorted { $0.0 < $1.0 }
        let encoders = sorted.map(\.1)
        modalities = sorted.map(\.0)
        self.encoders = encoders
        self.usesTokens = usesTokens
        self.fusion = fusion
        if usesTokens, let pooled = sorted.first(where: { !$0.1.outputsTokens }) {
            throw TensorError(
                "multimodal_classifier",
                "the fusion takes token sequences but encoder \(pooled.0) gives pooled vectors; build it with tokens = true"
            )
        }
        guard fusion != nil || encoders.count == 1 else {
            throw TensorError(
                "multimodal_classifier", "\(encoders.count) encoders need a fusion (e.g. fusion = \"concat\")")
        }
        if fusion is LateFusion {
            modalityHeads = try encoders.map { try Linear($0.featureDimension, classes) }
            head = nil
        } else {
            modalityHeads = []
            // The fused size, from one probe through the fusion.
            let width =
                try fusion.map { fusion in
                    try noGrad {
                        try fusion.fuse(
                            encoders.map {
                                try Tensor.zeros(
                                    [1, $0.featureDimension], dtype: $0.parameters().first?.dtype ?? .float32)
                            })
                    }.shape[1]
                } ?? encoders[0].featureDimension
            var layers: [Module] = []
            if dropout > 0 { layers.append(try Dropout(dropout)) }
            if let hidden {
                layers += [try Linear(width, hidden), ReLU()]
                if dropout > 0 { layers.append(try Dropout(dropout)) }
                layers.append(try Linear(hidden, classes))
            } else {
                layers.append(try Linear(width, classes))
            }
            head = Sequential(layers)
        }
        super.init()
        let container = registerModule("encoders", Module())
        for (name, encoder) in zip(modalities, encoders) { container.registerModule(name, encoder) }
        if let fusion { registerModule("fusion", fusion) }
        if let head { registerModule("head", head) }
        if !modalityHeads.isEmpty {
            let heads = registerModule("modality_heads", Module())
            for (name, linear) in zip(modalities, modalityHeads) { heads.registerModule(name, linear) }
        }
    }

    convenience init(config: Config) throws {
        guard case .table(let table) = config.value("encoders"), !table.isEmpty, let registry = config.registry else {
            throw config.error(
                "encoders must be a table from modality name to encoder, e.g. {image = models.conv_encoder{}, audio = \"temporal_encoder\"}"
            )
        }
        /// The encoders, built from their specs (with tokens = true when the fusion takes sequences).
        func buildEncoders(tokens: Bool) throws -> [(String, Encoder)] {
            try table.keys.sorted().map { name in
                var value = table[name] ?? .null
                if tokens {
                    switch value {
                    case .string(let type): value = .table(["type": .string(type), "tokens": .boolean(true)])
                    case .table(var fields):
                        fields["tokens"] = .boolean(true)
                        value = .table(fields)
                    default: break
                    }
                }
                guard
                    let encoder = try registry.build(.model, from: value, context: "\(config.owner): encoders.\(name)")
                        as? Encoder
                else {
                    throw config.error(
                        "encoders.\(name) must be an encoder (conv_encoder, temporal_encoder, embedding_bag_encoder, transformer_encoder)"
                    )
                }
                return (name, encoder)
            }
        }
        var encoders = try buildEncoders(tokens: false)
        var fusion: Fusion?
        var usesTokens = false
        switch config.value("fusion") {
        case .null, .boolean(false): break
        case .object(let object):
            guard let given = object as? Fusion else { throw config.error("fusion must be a fusion") }
            fusion = given
            usesTokens = (given as? ModalityFusion)?.acceptsSequences ?? false
        case let value:
            var spec: [String: ConfigValue]
            switch value {
            case .string(let name): spec = ["type": .string(name)]
            case .table(let fields): spec = fields
            default: throw config.error("fusion must be a name, a spec table or a fusion")
            }
            let name: String
            if case .string(let type)? = spec["type"] {
                name = type
            } else {
                throw config.error("a fusion spec needs type = \"name\"")
            }
            let classes = try config.positiveInteger("classes")
            let dimensions = name == "late" ? encoders.map { _ in classes } : encoders.map { $0.1.featureDimension }
            spec["input_dims"] = spec["input_dims"] ?? .list(dimensions.map { .number(Double($0)) })
            let built = try registry.build(.fusion, from: .table(spec), context: "\(config.owner): fusion")
            fusion = built
            usesTokens = (built as? ModalityFusion)?.acceptsSequences ?? false
            if usesTokens { encoders = try buildEncoders(tokens: true) }
        }
        try self.init(
            encoders: encoders, fusion: fusion, usesTokens: usesTokens, classes: config.positiveInteger("classes"),
            hidden: config.optionalInteger("hidden"), dropout: config.number("dropout"))
    }

    /// Logits from the present modalities (by name); absent ones get the fusion's placeholder.
    public func forward(modalities inputs: [String: Tensor]) throws -> Tensor {
        let fused = try fusedFeatures(inputs)
        return try head.map { try $0(fused) } ?? fused
    }

    /// The fused embedding `[N, D]` the head reads — the encoders' features of the present modalities through
    /// the fusion, absent ones replaced by its placeholder (e.g. a spoken digit alone, for a generator
    /// conditioned on it). Late fusion has no such embedding (it fuses per-modality logits).
    public func embedding(modalities inputs: [String: Tensor]) throws -> Tensor {
        guard modalityHeads.isEmpty else {
            throw TensorError(
                "multimodal_classifier", "late fusion fuses per-modality logits and has no fused embedding")
        }
        return try fusedFeatures(inputs)
    }

    func fusedFeatures(_ inputs: [String: Tensor]) throws -> Tensor {
        for name in inputs.keys where !modalities.contains(name) {
            throw TensorError(
                "multimodal_classifier",
                "unknown modality '\(name)'\(suggestion(for: name, in: modalities)); modalities: \(modalities.joined(separator: ", "))"
            )
        }
        var features: [Tensor?] = []
        for (position, (name, encoder)) in zip(modalities, encoders).enumerated() {
            guard let input = inputs[name] else {
                features.append(nil)
                continue
            }
            let encoded = try encoder(input)
            features.append(modalityHeads.isEmpty ? encoded : try modalityHeads[position](encoded))
        }
        guard features.contains(where: { $0 != nil }) else {
            throw TensorError(
                "multimodal_classifier", "no modality given; expected \(modalities.joined(separator: ", "))")
        }
        let fused: Tensor
        if let fusion {
            fused =
                features.contains { $0 == nil }
                ? try fusion.fuse(available: features) : try fusion.fuse(features.compactMap { $0 })
        } else {
            guard let only = features[0] else {
                throw TensorError("multimodal_classifier", "the modality \(modalities[0]) is missing")
            }
            fused = only
        }
        return fused
    }

    /// With one modality, its input; otherwise an error naming the call to use.
    public override func forward(_ input: Tensor) throws -> Tensor {
        guard modalities.count == 1 else {
            throw TensorError(
                "multimodal_classifier",
                "call it with a table of modalities: model{\(modalities.map { "\($0) = ..." }.joined(separator: ", "))}"
            )
        }
        return try forward(modalities: [modalities[0]: input])
    }

    public override var summary: String {
        "modalities=\(modalities.joined(separator: ",")), fusion=\(fusion?.typeName ?? "none")"
    }
}

extension MultimodalClassifier: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "multimodal_classifier", "encoders per named modality, a fusion and a head (one encoder: unimodal)",
            reference:
                "Baltrušaitis, Ahuja & Morency, \"Multimodal Machine Learning: A Survey and Taxonomy\", 2019; MultiBench (Liang et al., NeurIPS 2021)",
            options: MultimodalClassifier.options, build: MultimodalClassifier.init)
    ]
}
