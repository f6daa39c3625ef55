import LucernaCore
import LucernaData

/// Ross et al.'s Decoy MNIST: every image gets a 4×4 patch in a corner chosen by two fair coins (top or
/// bottom, left or right); its grey level is 255 − 25·digit in training (a perfect shortcut to the label)
/// and 255 − 25·d for a random digit d at test (no information). Tensors: `images [N, 1, 28, 28]` in [0, 1],
/// `labels`, `artifact_masks [N, 1, 28, 28]` (1 on the patch) and `groups` (the patch's corner, 0–3:
/// top-left, top-right, bottom-left, bottom-right). Draws come from Lucerna's generator (`seed`).
///
/// Reference: Ross, Hughes & Doshi-Velez, "Right for the Right Reasons", IJCAI 2017 (dtak/rrr
/// `decoy_mnist.py`; an MLP: 51.6 % test plain, 96.1 % with RRR).
enum DecoyMNIST {
    static let options = [
        OptionSpec("split", .string, default: .string("train"), "train (decoy = digit) or test (decoy random)"),
        OptionSpec("seed", .integer, default: .number(0), "seed of the corners and the test decoys"),
        OptionSpec("limit", .integer, "keep only the first limit samples"),
    ]

    static func build(_ config: Config) throws -> TensorDataset {
        let split = try config.choice("split", ["train", "test"])
        let seed = UInt64(truncatingIfNeeded: try config.integer("seed"))
        let limit = try config.optionalInteger("limit")
        if let limit, limit < 1 { throw ConfigurationError(config.owner, "limit must be positive, got \(limit)") }
        let set = try DataLocation.mnist(split: split == "train" ? "train" : "t10k", explicit: DataLocation.root)
        let count = min(set.count, limit ?? set.count)
        var pixels = Array(set.images.toFloats().prefix(count * 784))
        let digits = Array(set.labels.toIntegers().prefix(count))
        var masks = [Float](repeating: 0, count: count * 784)
        var corners: [Int] = []
        let generator = RandomGenerator(seed: seed &+ (split == "train" ? 0 : 1))
        for sample in 0..<count {
            let bottom = generator.nextUniform() >= 0.5
            let right = generator.nextUniform() >= 0.5
            let decoy = split == "train" ? digits[sample] : generator.nextInt(below: 10)
            let level = Float(255 - 25 * decoy) / 255
            for row in bottom ? 24..<28 : 0..<4 {
                for column in right ? 24..<28 : 0..<4 {
                    pixels[sample * 784 + row * 28 + column] = level
                    masks[sample * 784 + row * 28 + column] = 1
                }
            }
            corners.append((bottom ? 2 : 0) + (right ? 1 : 0))
        }
        return TensorDataset(
            name: "decoy_mnist",
            tensors: [
                ("images", try Tensor(shape: [count, 1, 28, 28], scalars: pixels)),
                ("labels", try Tensor(shape: [count], integers: digits)),
                ("artifact_masks", try Tensor(shape: [count, 1, 28, 28], scalars: masks)),
                ("groups", try Tensor(shape: [count], integers: corners)),
            ], metadata: ClassNames.metadata(ClassNames.digits))
    }
}

extension DecoyMNIST: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .dataset, "decoy_mnist",
            "Ross et al.'s Decoy MNIST: a corner patch whose grey level encodes the digit in training, random at test",
            reference: "Ross, Hughes & Doshi-Velez, \"Right for the Right Reasons\", IJCAI 2017 (dtak/rrr)",
            options: DecoyMNIST.options, build: DecoyMNIST.build)
    ]
}
