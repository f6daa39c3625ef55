import Foundation
import LucernaCore

/// The Free Spoken Digit Dataset as log-mel spectrograms: recordings `{digit}_{speaker}_{index}.wav`
/// (8 kHz mono 16-bit PCM), each turned into `[mels, frames]` features padded (with the log of silence)
/// or cropped to a fixed number of frames. Decoded sets are cached in memory per folder and settings.
///
/// Reference: Jackson et al., Free Spoken Digit Dataset, https://github.com/Jakobovski/free-spoken-digit-dataset.
public struct SpokenDigitSet: @unchecked Sendable {
    /// `[N, 1, mels, frames]` log-mel features.
    public let spectrograms: Tensor
    /// `[N]` int64 digits.
    public let labels: Tensor
    /// `[N]` int64 positions in ``SpokenDigits/speakers``.
    public let speakers: Tensor
    /// `[N]` int64 recording index (0–49 per digit and speaker).
    public let recordings: Tensor
    public var count: Int { labels.count }
}

public enum SpokenDigits {
    public static let speakers = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]

    /// Feature settings (torchaudio names in the Lua options: n_fft, hop, mels, frames).
    public struct Settings: Hashable, Sendable {
        public var sampleRate = 8000, fftSize = 256, hop = 128, mels = 40, frames = 32
        public init(sampleRate: Int = 8000, fftSize: Int = 256, hop: Int = 128, mels: Int = 40, frames: Int = 32) {
            self.sampleRate = sampleRate
            self.fftSize = fftSize
            self.hop = hop
            self.mels = mels
            self.frames = frames
        }
    }

    nonisolated(unsafe) static var cache: [String: SpokenDigitSet] = [:]

    /// The parsed name of a recording, or nil when the file name does not follow the pattern.
    public static func parse(_ name: String) -> (digit: Int, speaker: Int, index: Int)? {
        guard name.hasSuffix(".wav") else { return nil }
        let parts = name.dropLast(4).split(separator: "_")
        guard parts.count == 3, let digit = Int(parts[0]), (0...9).contains(digit),
            let speaker = speakers.firstIndex(of: String(parts[1])), let index = Int(parts[2]), index >= 0
        else { return nil }
        return (digit, speaker, index)
    }

    /// Every recording of `folder/recordings`, sorted by (digit, speaker, index).
    public static func load(folder: String, settings: Settings = Settings()) throws -> SpokenDigitSet {
        let key = "\(folder)|\(settings)"
        if let cached = cache[key] { return cached }
        let directory = "\(folder)/recordings"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw DataError(path: directory, message: "not found")
        }
        let parsed = try names.filter { $0.hasSuffix(".wav") }.map {
            name -> (String, (digit: Int, speaker: Int, index: Int)) in
            guard let fields = parse(name) else {
                throw DataError(
                    path: "\(directory)/\(name)",
                    message: "unexpected file name (expected digit_speaker_index.wav with a known speaker)")
            }
            return (name, fields)
        }.sorted { ($0.1.digit, $0.1.speaker, $0.1.index) < ($1.1.digit, $1.1.speaker, $1.1.index) }
        guard !parsed.isEmpty else { throw DataError(path: directory, message: "no .wav recordings") }
        let transform = try MelSpectrogram(
            sampleRate: settings.sampleRate, fftSize: settings.fftSize, hop: settings.hop, mels: settings.mels)
        let frames = settings.frames
        let mels = settings.mels
        let silence = Float(log(1e-6))
        var features = [Float](repeating: silence, count: parsed.count * mels * frames)
        for (position, (name, _)) in parsed.enumerated() {
            var clip = try WAV.read("\(directory)/\(name)")
            if clip.sampleRate != settings.sampleRate { clip = try clip.resampled(to: settings.sampleRate) }
            let spectrogram = transform.logMel(clip.samples)
            let base = position * mels * frames
            for band in 0..<mels {
                let row = spectrogram[band]
                for frame in 0..<min(frames, row.count) { features[base + band * frames + frame] = row[frame] }
            }
        }
        let set = SpokenDigitSet(
            spectrograms: try Tensor(shape: [parsed.count, 1, mels, frames], scalars: features),
            labels: try Tensor(shape: [parsed.count], integers: parsed.map(\.1.digit)),
            speakers: try Tensor(shape: [parsed.count], integers: parsed.map(\.1.speaker)),
            recordings: try Tensor(shape: [parsed.count], integers: parsed.map(\.1.index)))
        cache[key] = set
        return set
    }

    /// The FSDD folder from the data roots, or an error saying where it looked.
    public static func locate(explicit: String? = nil) throws -> String {
        let folders = DataLocation.candidates(for: "fsdd", explicit: explicit)
        for folder in folders where FileManager.default.fileExists(atPath: "\(folder)/recordings") { return folder }
        throw DataError(
            path: "fsdd",
            message:
                "not found; looked in \(folders.joined(separator: ", ")); set LUCERNA_DATA or --data, or run scripts/fetch-data.sh"
        )
    }
}
