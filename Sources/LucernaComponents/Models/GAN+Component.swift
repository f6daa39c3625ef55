import LucernaCore
import LucernaNN

/// `attention = 14`, `attention = {resolution = 14}`, or `attention = false` / `0` for none.
func attentionOption(_ config: Config) throws -> Int? {
    switch config.value("attention") {
    case .null, .boolean(false): return nil
    case .number(let value) where value == value.rounded() && value >= 0: return value == 0 ? nil : Int(value)
    case .table(let fields):
        let inner = try Config(
            owner: "\(config.owner) attention", options: fields,
            specs: [OptionSpec("resolution", .integer, required: true, "the feature map size of the block")])
        return try inner.positiveInteger("resolution")
    default:
        throw config.error(
            "option attention must be a resolution (14), {resolution = 14} or false, got \(config.value("attention").kindName)"
        )
    }
}

extension GANGenerator: RegisteredComponent {
    static let options = [
        OptionSpec("latent", .integer, default: .number(128), "the noise's dimension"),
        OptionSpec("classes", .integer, default: .number(10), "classes of the label conditioning"),
        OptionSpec(
            "conditioning", .string, default: .string("embedding"),
            "\"embedding\": class labels through a learned embedding; \"fused\": a conditioning vector [N, condition_dim] (a fused multimodal embedding)"
        ),
        OptionSpec("condition_dim", .integer, default: .number(64), "the conditioning vector's size (fused)"),
        OptionSpec("embedding", .integer, default: .number(32), "the condition's embedding size, joined to the noise"),
        OptionSpec("channels", .pair, default: .list([.number(128), .number(64)]), "channels at s/4 and s/2"),
        OptionSpec(
            "attention", .any, default: .number(14),
            "resolution of the self-attention block (s/4 or s/2), {resolution = n}, or false for none"),
        OptionSpec("image_size", .integer, default: .number(28), "output height and width (a multiple of 4)"),
        OptionSpec("out_channels", .integer, default: .number(1), "output channels"),
    ]

    static func make(_ config: Config) throws -> GANGenerator {
        let conditioning: GANConditioning =
            try config.choice("conditioning", ["embedding", "fused"]) == "embedding"
            ? .labels(classes: try config.positiveInteger("classes"))
            : .vector(dimension: try config.positiveInteger("condition_dim"))
        return try GANGenerator(
            latent: config.positiveInteger("latent"), conditioning: conditioning,
            embedding: config.positiveInteger("embedding"), channels: config.pair("channels"),
            attentionResolution: attentionOption(config), imageSize: config.positiveInteger("image_size"),
            outputChannels: config.positiveInteger("out_channels"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "cgan_generator",
            "conditional DCGAN-style generator with a SAGAN self-attention block (the paper's attention WGAN-GP)",
            reference: "Zhang et al., \"Self-Attention GANs\", ICML 2019; Gulrajani et al., WGAN-GP, NeurIPS 2017",
            options: options, build: make)
    ]
}

extension GANCritic: RegisteredComponent {
    static let options = [
        OptionSpec("classes", .integer, default: .number(10), "classes of the label conditioning"),
        OptionSpec(
            "conditioning", .string, default: .string("projection"),
            "\"projection\" (ψ(φ) + embed(y)ᵀφ, Miyato & Koyama) or \"concat\" (a per-class map as an extra channel)"),
        OptionSpec("channels", .pair, default: .list([.number(64), .number(128)]), "channels at s/2 and s/4"),
        OptionSpec(
            "attention", .any, default: .number(14),
            "resolution of the self-attention block (s/2 or s/4), {resolution = n}, or false for none"),
        OptionSpec(
            "spectral_norm", .boolean, default: .boolean(false), "spectral normalisation of convolutions and score"),
        OptionSpec("image_size", .integer, default: .number(28), "input height and width (a multiple of 4)"),
        OptionSpec("in_channels", .integer, default: .number(1), "input channels"),
    ]

    static func make(_ config: Config) throws -> GANCritic {
        try GANCritic(
            classes: config.positiveInteger("classes"),
            conditioning: config.choice("conditioning", ["projection", "concat"]) == "projection"
                ? .projection : .concat,
            channels: config.pair("channels"), attentionResolution: attentionOption(config),
            spectralNorm: config.boolean("spectral_norm"), imageSize: config.positiveInteger("image_size"),
            inputChannels: config.positiveInteger("in_channels"))
    }

    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .model, "cgan_critic",
            "conditional WGAN critic (projection or concat conditioning, optional self-attention and spectral norm)",
            reference: "Miyato & Koyama, \"cGANs with Projection Discriminator\", ICLR 2018; Gulrajani et al. 2017",
            options: options, build: make)
    ]
}
