import LucernaCore
import LucernaData

/// Multimodal MNIST: each MNIST image paired with a Free Spoken Digit recording of the same digit, drawn
/// by a seeded hash of the image's position from the recordings of the matching split (official FSDD
/// split: train images get training recordings). Optional degradations, all seeded: Gaussian pixel
/// noise, a square occlusion, Gaussian noise on the log-mel features. The pairing and degradations are
/// options, so the run's component record reproduces them.
enum MultimodalMNIST {
    static let options =
        [
            OptionSpec(
                "split", .string, default: .string("train"),
                "train or test (MNIST's official split; FSDD's for the audio)"),
            OptionSpec("limit", .integer, "keep only the first limit samples"),
            OptionSpec("seed", .integer, default: .number(0), "seed of the pairing and of the degradations"),
            OptionSpec(
                "image_noise", .number, default: .number(0),
                "standard deviation of Gaussian pixel noise (clamped to [0, 1])"),
            OptionSpec(
                "occlusion", .integer, default: .number(0), "side in pixels of a zeroed square at a seeded position"),
            OptionSpec(
                "audio_noise", .number, default: .number(0),
                "standard deviation of Gaussian noise added to the log-mel features"),
            OptionSpec("bias", .any, "a spurious feature on the images, as for mnist (adds groups and artifact_masks)"),
        ] + SpokenDigitsDataset.featureOptions

    /// SplitMix64 of `seed` and `index`: the pairing hash.
    static func mix(_ seed: UInt64, _ index: UInt64) -> UInt64 {
        var z = seed &+ 0x9e37_79b9_7f4a_7c15 &* (index &+ 1)
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    static func build(_ config: Config) throws -> TensorDataset {
        let split = try config.choice("split", ["train", "test"])
        let bias = config.has("bias") ? try BiasInjection(config.value("bias"), owner: config.owner) : nil
        let images = try DataLocation.mnist(split: split == "train" ? "train" : "t10k", explicit: DataLocation.root)
        let audio = try SpokenDigits.load(
            folder: SpokenDigits.locate(explicit: DataLocation.root),
            settings: SpokenDigitsDataset.settings(config))
        let count = min(images.count, try config.optionalInteger("limit") ?? images.count)
        guard count > 0 else { throw ConfigurationError(config.owner, "limit must be positive") }
        let seed = UInt64(truncatingIfNeeded: try config.integer("seed"))
        // 1. Recordings of the matching split, by digit.
        let pool = try SpokenDigitsDataset.positions(audio, split: split, testSpeaker: nil, owner: config.owner)
        let audioLabels = audio.labels.toIntegers()
        var byDigit = [[Int]](repeating: [], count: 10)
        for position in pool { byDigit[audioLabels[position]].append(position) }
        // 2. The seeded pairing.
        let labels = Array(images.labels.toIntegers().prefix(count))
        let paired = try labels.enumerated().map { index, digit -> Int in
            let candidates = byDigit[digit]
            guard !candidates.isEmpty else {
                throw ConfigurationError(config.owner, "no \(split) recording of digit \(digit)")
            }
            return candidates[Int(mix(seed, UInt64(index)) % UInt64(candidates.count))]
        }
        var pixels = try images.images.sliced(axis: 0, end: count)
        var spectrograms = try audio.spectrograms.indexSelect(axis: 0, indices: paired)
        // 3. Degradations, from a generator seeded apart from the pairing.
        let generator = RandomGenerator(seed: mix(seed, 0xdead_beef))
        let noise = try config.number("image_noise")
        let side = try config.integer("occlusion")
        let audioNoise = try config.number("audio_noise")
        guard noise >= 0, audioNoise >= 0, side >= 0, side <= 28 else {
            throw ConfigurationError(
                config.owner, "image_noise and audio_noise must be non-negative and occlusion in 0...28")
        }
        if noise > 0 {
            pixels = try (pixels + Tensor.normal(pixels.shape, standardDeviation: noise, generator: generator)).clamp(
                min: 0, max: 1)
        }
        if side > 0 {
            var mask = [Float](repeating: 1, count: count * 28 * 28)
            for sample in 0..<count {
                let top = Int(generator.next() % UInt64(29 - side))
                let left = Int(generator.next() % UInt64(29 - side))
                for row in top..<(top + side) {
                    for column in left..<(left + side) { mask[sample * 784 + row * 28 + column] = 0 }
                }
            }
            pixels = try pixels * Tensor(shape: [count, 1, 28, 28], scalars: mask)
        }
        if audioNoise > 0 {
            spectrograms =
                try spectrograms
                + Tensor.normal(spectrograms.shape, standardDeviation: audioNoise, generator: generator)
        }
        var extra: [(name: String, tensor: Tensor)] = []
        if let bias {
            let groups = bias.groups(labels: labels, training: split == "train")
            let (biased, masks) = try bias.apply(to: pixels, groups: groups)
            pixels = biased
            extra.append(("groups", try Tensor(shape: [groups.count], integers: groups)))
            if let masks { extra.append(("artifact_masks", masks)) }
        }
        return TensorDataset(
            name: "multimodal_mnist",
            tensors: extra + [
                ("images", pixels), ("spectrograms", spectrograms),
                ("labels", try images.labels.sliced(axis: 0, end: count)),
                ("audio_ids", try Tensor(shape: [count], integers: paired)),
                ("speakers", try audio.speakers.indexSelect(axis: 0, indices: paired)),
            ], metadata: ClassNames.metadata(ClassNames.digits))
    }
}

extension MultimodalMNIST: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .dataset, "multimodal_mnist",
            "MNIST images paired with a spoken recording of the same digit (seeded pairing)",
            reference:
                "LeCun et al., 1998 (MNIST); Jackson et al., FSDD; the multimodal digit setting of Vielzeuf et al., \"CentralNet: a Multilayer Approach for Multimodal Fusion\", 2018",
            options: MultimodalMNIST.options, build: MultimodalMNIST.build)
    ]
}
