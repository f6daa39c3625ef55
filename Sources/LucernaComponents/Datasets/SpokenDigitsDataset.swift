import LucernaCore
import LucernaData

/// The Free Spoken Digit Dataset as log-mel spectrograms with the official split (recording index 0–4
/// is the test set) or a speaker-disjoint one (`test_speaker`).
enum SpokenDigitsDataset {
    static let featureOptions = [
        OptionSpec("n_fft", .integer, default: .number(256), "FFT size (samples at 8 kHz)"),
        OptionSpec("hop", .integer, default: .number(128), "samples between frames"),
        OptionSpec("mels", .integer, default: .number(40), "mel bands"),
        OptionSpec(
            "frames", .integer, default: .number(32),
            "frames kept: shorter clips are padded with silence, longer ones cropped"),
    ]
    static let options =
        [
            OptionSpec("split", .string, default: .string("train"), "train, test or all"),
            OptionSpec("test_speaker", .string, "hold out this speaker as the test set instead of the official split"),
            OptionSpec("limit", .integer, "keep only the first limit samples"),
        ] + featureOptions

    static func settings(_ config: Config) throws -> SpokenDigits.Settings {
        try SpokenDigits.Settings(
            fftSize: config.positiveInteger("n_fft"), hop: config.positiveInteger("hop"),
            mels: config.positiveInteger("mels"), frames: config.positiveInteger("frames"))
    }

    /// Positions of `set` in `split` ("train", "test" or "all"), officially or holding out `testSpeaker`.
    static func positions(_ set: SpokenDigitSet, split: String, testSpeaker: String?, owner: String) throws -> [Int] {
        if split == "all" { return Array(0..<set.count) }
        let isTest: [Bool]
        if let testSpeaker {
            guard let speaker = SpokenDigits.speakers.firstIndex(of: testSpeaker) else {
                throw TensorError(
                    owner,
                    "test_speaker must be one of \(SpokenDigits.speakers.joined(separator: ", ")), got \(testSpeaker)\(suggestion(for: testSpeaker, in: SpokenDigits.speakers))"
                )
            }
            isTest = set.speakers.toIntegers().map { $0 == speaker }
        } else {
            isTest = set.recordings.toIntegers().map { $0 < 5 }
        }
        return isTest.indices.filter { isTest[$0] == (split == "test") }
    }

    static func build(_ config: Config) throws -> TensorDataset {
        let set = try SpokenDigits.load(
            folder: SpokenDigits.locate(explicit: DataLocation.root), settings: settings(config))
        var chosen = try positions(
            set, split: config.choice("split", ["train", "test", "all"]),
            testSpeaker: config.has("test_speaker") ? config.string("test_speaker") : nil, owner: config.owner)
        if let limit = try config.optionalInteger("limit") {
            guard limit > 0 else { throw ConfigurationError(config.owner, "limit must be positive, got \(limit)") }
            chosen = Array(chosen.prefix(limit))
        }
        return TensorDataset(
            name: "spoken_digits",
            tensors: [
                ("spectrograms", try set.spectrograms.indexSelect(axis: 0, indices: chosen)),
                ("labels", try set.labels.indexSelect(axis: 0, indices: chosen)),
                ("speakers", try set.speakers.indexSelect(axis: 0, indices: chosen)),
                ("recordings", try set.recordings.indexSelect(axis: 0, indices: chosen)),
            ],
            metadata: ClassNames.metadata(ClassNames.digits).merging([
                "speaker_names": .list(SpokenDigits.speakers.map { .string($0) })
            ]) { first, _ in first })
    }
}

extension SpokenDigitsDataset: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .dataset, "spoken_digits",
            "Free Spoken Digit Dataset as log-mel spectrograms [N,1,mels,frames], labels, speakers",
            reference: "Jackson et al., Free Spoken Digit Dataset (FSDD), 2018", options: SpokenDigitsDataset.options,
            build: SpokenDigitsDataset.build)
    ]
}
