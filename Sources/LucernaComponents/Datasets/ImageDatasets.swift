import LucernaCore
import LucernaData

/// MNIST and Fashion-MNIST from their IDX files: images in [0, 1] (or normalised by the training set's
/// mean and standard deviation), labels, and optional ground-truth object masks (pixels above a
/// threshold) for explanation metrics.
enum ImageDatasets {
    static let options = [
        OptionSpec("split", .string, default: .string("train"), "train or test (the official split)"),
        OptionSpec("limit", .integer, "keep only the first limit samples"),
        OptionSpec(
            "normalize", .boolean, default: .boolean(false),
            "subtract the training set's mean pixel and divide by its standard deviation"),
        OptionSpec(
            "masks", .boolean, default: .boolean(false),
            "also return masks [N,1,28,28]: 1 where the pixel exceeds mask_threshold"),
        OptionSpec(
            "mask_threshold", .number, default: .number(0.5),
            "ink level (in [0, 1]) above which a pixel belongs to the object"),
        OptionSpec(
            "bias", .any,
            "a spurious feature: {kind = \"artifact\" or \"color\", correlation = 0.9, fraction = 0.5, target = 0, size = 4, corner = \"bottom_right\", test = \"independent\" or \"reversed\", seed = 0}; adds groups (and artifact_masks)"
        ),
    ]

    /// Fashion-MNIST's class names, by label (Xiao et al.'s table).
    static let fashionClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    static func build(
        _ config: Config, name: String, classNames: [String] = ClassNames.digits,
        load: (String, String?) throws -> ImageClassificationSet
    ) throws -> TensorDataset {
        let split = try config.choice("split", ["train", "test"])
        // The bias spec is checked before any file is read.
        let bias = config.has("bias") ? try BiasInjection(config.value("bias"), owner: config.owner) : nil
        let set = try load(split == "train" ? "train" : "t10k", DataLocation.root)
        var images = set.images
        var labels = set.labels
        if let limit = try config.optionalInteger("limit") {
            guard limit > 0 else { throw ConfigurationError(config.owner, "limit must be positive, got \(limit)") }
            if limit < set.count {
                images = try images.sliced(axis: 0, end: limit)
                labels = try labels.sliced(axis: 0, end: limit)
            }
        }
        var tensors: [(name: String, tensor: Tensor)] = []
        if try config.boolean("masks") {
            let threshold = try config.number("mask_threshold")
            guard threshold >= 0, threshold < 1 else {
                throw ConfigurationError(config.owner, "mask_threshold must be in [0, 1), got \(threshold)")
            }
            tensors.append(("masks", try images.greater(Tensor(threshold))))
        }
        if let bias {
            let groups = bias.groups(labels: labels.toIntegers(), training: split == "train")
            let (biased, masks) = try bias.apply(to: images, groups: groups)
            images = biased
            tensors.append(("groups", try Tensor(shape: [groups.count], integers: groups)))
            if let masks { tensors.append(("artifact_masks", masks)) }
        }
        if try config.boolean("normalize") {
            let training = split == "train" ? set.images : try load("train", DataLocation.root).images
            let mean = try training.mean().item()
            let deviation = try (training - mean).square().mean().item().squareRoot()
            images = try (images - mean) / deviation
        }
        return TensorDataset(
            name: name, tensors: [("images", images), ("labels", labels)] + tensors,
            metadata: ClassNames.metadata(classNames))
    }
}

extension ImageDatasets: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .dataset, "fashion_mnist", "Fashion-MNIST images [N,1,28,28] and labels (official split)",
            reference: "Xiao et al., 2017",
            options: ImageDatasets.options,
            build: {
                try ImageDatasets.build(
                    $0, name: "fashion_mnist", classNames: ImageDatasets.fashionClassNames,
                    load: DataLocation.fashionMNIST)
            }),
        ComponentEntry(
            .dataset, "mnist", "MNIST images [N,1,28,28] and labels (official split)", reference: "LeCun et al., 1998",
            options: ImageDatasets.options,
            build: { try ImageDatasets.build($0, name: "mnist", load: DataLocation.mnist) }),
    ]
}
