import LucernaCore
import LucernaData

/// IRM's Colored MNIST, built as the reference code builds it: MNIST's first 50,000 training images
/// shuffled and split into two training environments (even and odd positions), its last 10,000 the test
/// environment; images subsampled 2× to 14×14; the binary label is digit < 5, flipped with probability 0.25;
/// the colour is the label flipped with probability 0.2 and 0.1 in the training environments and 0.9 in the
/// test one; the image goes in channel 1 for colour 1 and channel 0 for colour 0 (the other zeroed), in
/// [0, 1]. Tensors: `images [N, 2, 14, 14]` (or `[N, 1, 14, 14]` summed over colours with `grayscale`, the
/// oracle), `labels` (int64 0/1), `environments` (0 and 1 for training, 2 for the test) and `groups` (the
/// colour). The random draws use Lucerna's generator from `seed`, so the samples are distributed as the
/// reference's, not bit-identical to its NumPy stream.
///
/// Reference: Arjovsky, Bottou, Gulrajani & Lopez-Paz, "Invariant Risk Minimization", 2019;
/// facebookresearch/InvariantRiskMinimization `colored_mnist/main.py` (ERM 17.1 %, IRM 66.9 ± 2.5 %,
/// grayscale oracle 73.0 % test accuracy).
enum ColoredMNIST {
    static let options = [
        OptionSpec("split", .string, default: .string("train"), "train (environments 0 and 1) or test (environment 2)"),
        OptionSpec("seed", .integer, default: .number(0), "seed of the shuffle, label noise and colours"),
        OptionSpec("label_noise", .number, default: .number(0.25), "probability a binary label is flipped"),
        OptionSpec(
            "color_flips", .any, default: .list([.number(0.2), .number(0.1), .number(0.9)]),
            "probability the colour disagrees with the label in training environments 0 and 1 and the test environment"),
        OptionSpec(
            "grayscale", .boolean, default: .boolean(false), "one channel (the colours summed): the oracle's input"),
        OptionSpec("limit", .integer, "keep only the first limit samples (after building the environments)"),
    ]

    static func build(_ config: Config) throws -> TensorDataset {
        let split = try config.choice("split", ["train", "test"])
        let seed = try config.integer("seed")
        let noise = try config.number("label_noise")
        let flips: [Double] =
            if case .list(let items) = config.value("color_flips"), items.allSatisfy({ $0.numberValue != nil }) {
                items.compactMap(\.numberValue)
            } else { [] }
        guard flips.count == 3, flips.allSatisfy({ $0 >= 0 && $0 <= 1 }), noise >= 0, noise <= 1 else {
            throw ConfigurationError(
                config.owner, "color_flips must be three probabilities {train0, train1, test} and label_noise in [0, 1]"
            )
        }
        let limit = try config.optionalInteger("limit")
        if let limit, limit < 1 { throw ConfigurationError(config.owner, "limit must be positive, got \(limit)") }
        let grayscale = try config.boolean("grayscale")
        let mnist = try DataLocation.mnist(split: "train", explicit: DataLocation.root)
        guard mnist.count >= 60_000 else {
            throw ConfigurationError(config.owner, "needs MNIST's 60,000 training images, found \(mnist.count)")
        }
        let generator = RandomGenerator(seed: UInt64(truncatingIfNeeded: seed))
        // The reference shuffles the first 50,000 once; the environments are its even and odd positions.
        let shuffled = generator.permutation(50_000)
        var rows: [(index: Int, environment: Int)] = []
        if split == "train" {
            rows = shuffled.enumerated().map { ($0.element, $0.offset % 2 == 0 ? 0 : 1) }
            rows = rows.filter { $0.environment == 0 } + rows.filter { $0.environment == 1 }
        } else {
            rows = (50_000..<60_000).map { ($0, 2) }
        }
        if let limit, limit < rows.count { rows = Array(rows.prefix(limit)) }
        let pixels = mnist.images.toFloats()
        let digits = mnist.labels.toIntegers()
        // Draws from one stream per split, after the shuffle: labels' noise, then colours.
        let draws = RandomGenerator(seed: UInt64(truncatingIfNeeded: seed) &+ (split == "train" ? 1 : 2))
        let channels = grayscale ? 1 : 2
        var images = [Float](repeating: 0, count: rows.count * channels * 196)
        var labels: [Int] = []
        var colors: [Int] = []
        for (position, row) in rows.enumerated() {
            var label = digits[row.index] < 5 ? 1 : 0
            if draws.nextUniform() < noise { label = 1 - label }
            var color = label
            if draws.nextUniform() < flips[row.environment] { color = 1 - color }
            labels.append(label)
            colors.append(color)
            let channel = grayscale ? 0 : color
            for y in 0..<14 {
                for x in 0..<14 {
                    images[((position * channels + channel) * 14 + y) * 14 + x] =
                        pixels[row.index * 784 + (2 * y) * 28 + 2 * x]
                }
            }
        }
        return TensorDataset(
            name: "colored_mnist",
            tensors: [
                ("images", try Tensor(shape: [rows.count, channels, 14, 14], scalars: images)),
                ("labels", try Tensor(shape: [rows.count], integers: labels)),
                ("environments", try Tensor(shape: [rows.count], integers: rows.map(\.environment))),
                ("groups", try Tensor(shape: [rows.count], integers: colors)),
            ], metadata: ClassNames.metadata(["digit ≥ 5", "digit < 5"]))
    }
}

extension ColoredMNIST: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .dataset, "colored_mnist",
            "IRM's Colored MNIST: 2×14×14 images, noisy binary labels, colour spuriously tied to the label per environment",
            reference: "Arjovsky et al., \"Invariant Risk Minimization\", 2019 (colored_mnist/main.py)",
            options: ColoredMNIST.options, build: ColoredMNIST.build)
    ]
}
