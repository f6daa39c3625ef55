import Foundation

/// A mono PCM recording: samples in [-1, 1] and the sample rate.
public struct AudioClip {
    public let samples: [Float]
    public let sampleRate: Int

    /// The sample rates audio readers and the resampler accept: 1 kHz to 768 kHz (a rate of 1 Hz or
    /// 4,294,967,295 Hz in a header is corruption, and resampling to or from it would take unbounded time).
    public static let sampleRates = 1_000...768_000

    public init(samples: [Float], sampleRate: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
    }

    /// The clip resampled to `rate` by linear interpolation after a windowed-sinc low-pass when
    /// downsampling (so frequencies above the new Nyquist limit do not alias).
    public func resampled(to rate: Int) throws -> AudioClip {
        for (name, value) in [("target", rate), ("source", sampleRate)] where !Self.sampleRates.contains(value) {
            throw DataError(
                path: "resample",
                message:
                    "\(name) rate \(value) Hz is outside \(Self.sampleRates.lowerBound)-\(Self.sampleRates.upperBound) Hz"
            )
        }
        guard rate != sampleRate, !samples.isEmpty else { return AudioClip(samples: samples, sampleRate: rate) }
        let ratio = Double(sampleRate) / Double(rate)
        var source = samples
        if ratio > 1 {
            // Low-pass at the new Nyquist frequency: a Hann-windowed sinc of 2·8+1 taps per output period.
            let cutoff = 0.5 / ratio
            let halfWidth = Int((8 * ratio).rounded(.up))
            let taps = (-halfWidth...halfWidth).map { offset -> Double in
                let x = Double(offset)
                let sinc = offset == 0 ? 2 * cutoff : sin(2 * Double.pi * cutoff * x) / (Double.pi * x)
                return sinc * (0.5 + 0.5 * cos(Double.pi * x / Double(halfWidth + 1)))
            }
            let gain = taps.reduce(0, +)
            source = samples.indices.map { index in
                var total = 0.0
                for (position, tap) in taps.enumerated() {
                    let sample = index + position - halfWidth
                    if sample >= 0 && sample < samples.count { total += tap * Double(samples[sample]) }
                }
                return Float(total / gain)
            }
        }
        let count = max(1, Int((Double(samples.count) / ratio).rounded()))
        let output = (0..<count).map { position -> Float in
            let location = Double(position) * ratio
            let lower = min(Int(location), source.count - 1)
            let upper = min(lower + 1, source.count - 1)
            let fraction = Float(location - Double(lower))
            return source[lower] * (1 - fraction) + source[upper] * fraction
        }
        return AudioClip(samples: output, sampleRate: rate)
    }
}

/// RIFF/WAVE reading: PCM (format tag 1), 8-bit unsigned or 16-bit signed little-endian, mono. Chunks
/// other than `fmt ` and `data` are skipped; sizes are checked against the file, so a truncated or
/// corrupt file is an error naming what is wrong, never a partial clip.
public enum WAV {
    public static func read(_ path: String) throws -> AudioClip {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(path: path, message: "not found or unreadable")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> AudioClip {
        let bytes = [UInt8](data)
        func fail(_ message: String) -> DataError { DataError(path: path, message: message) }
        func u32(_ offset: Int) -> Int {
            Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3])
                << 24
        }
        func u16(_ offset: Int) -> Int { Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 }
        func tag(_ offset: Int) -> String { String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self) }
        guard bytes.count >= 12 else { throw fail("too short for a WAV header (\(bytes.count) bytes)") }
        guard tag(0) == "RIFF", tag(8) == "WAVE" else { throw fail("not a RIFF/WAVE file (starts with \(tag(0)))") }
        let declared = u32(4) + 8
        guard declared <= bytes.count else {
            throw fail("RIFF size says \(declared) bytes, the file has \(bytes.count) (truncated)")
        }
        var offset = 12
        var format: (tag: Int, channels: Int, rate: Int, bits: Int)?
        while offset + 8 <= declared {
            let name = tag(offset)
            let size = u32(offset + 4)
            let body = offset + 8
            guard size >= 0, body + size <= bytes.count else {
                throw fail(
                    "chunk '\(name)' at byte \(offset) claims \(size) bytes, only \(bytes.count - body) remain (truncated or corrupt)"
                )
            }
            if name == "fmt " {
                guard size >= 16 else { throw fail("fmt chunk is \(size) bytes, needs 16") }
                format = (u16(body), u16(body + 2), u32(body + 4), u16(body + 14))
            } else if name == "data" {
                guard let format else { throw fail("data chunk before the fmt chunk") }
                guard format.tag == 1 else { throw fail("format tag \(format.tag) is not PCM (1)") }
                guard format.channels == 1 else { throw fail("\(format.channels) channels; only mono is supported") }
                guard AudioClip.sampleRates.contains(Int(format.rate)) else {
                    throw fail(
                        "sample rate \(format.rate) Hz is outside \(AudioClip.sampleRates.lowerBound)-\(AudioClip.sampleRates.upperBound) Hz"
                    )
                }
                let samples: [Float]
                switch format.bits {
                case 16:
                    guard size % 2 == 0 else { throw fail("16-bit data chunk has an odd size \(size)") }
                    samples = stride(from: body, to: body + size, by: 2).map {
                        Float(Int16(bitPattern: UInt16(u16($0)))) / 32768
                    }
                case 8:
                    samples = bytes[body..<(body + size)].map { (Float($0) - 128) / 128 }
                default:
                    throw fail("\(format.bits)-bit samples; only 8- and 16-bit PCM are supported")
                }
                guard !samples.isEmpty else { throw fail("no samples") }
                return AudioClip(samples: samples, sampleRate: format.rate)
            }
            offset = body + size + (size % 2)  // chunks are padded to even sizes
        }
        throw fail(format == nil ? "no fmt chunk" : "no data chunk")
    }
}
