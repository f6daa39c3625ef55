import Foundation
import LucernaCore
import LucernaTestSupport
import XCTest

@testable import LucernaData

/// CSV, HTML entities, WAV and spectrograms: well-formed input decodes exactly, every kind of bad file is
/// an error naming the file and the problem.
final class ReaderTests: XCTestCase {
    func csv(_ text: String) throws -> CSVTable { try CSVTable(data: Data(text.utf8), path: "t.csv") }

    func testCSVFollowsRFC4180() throws {
        let table = try csv(
            "id,text,n\r\n1,\"a, b\",2\n2,\"she said \"\"hi\"\"\",3\n3,\"line one\nline two\",4\n4,,5\n")
        XCTAssertEqual(table.header, ["id", "text", "n"])
        XCTAssertEqual(table.records.map { $0[1] }, ["a, b", "she said \"hi\"", "line one\nline two", ""])
        XCTAssertEqual(try csv("a,b\n1,2").records, [["1", "2"]], "no final newline")
        XCTAssertEqual(try csv("a\n\"\"\n").records, [[""]], "an empty quoted field")
        XCTAssertEqual(try csv("name\nAgustín\n서윤\n").records.map { $0[0] }, ["Agustín", "서윤"])
        XCTAssertEqual(try table.column("text", path: "t.csv"), 1)
        XCTAssertThrowsError(try table.column("txt", path: "t.csv")) {
            XCTAssert("\($0)".contains("no column 'txt'; columns: id, text, n"))
        }
    }

    func testBadCSVFilesAreErrorsWithTheirLine() {
        let cases: [(String, String)] = [
            ("", "empty CSV file"),
            ("a,b\n1,\"open\n2,3\n", "record 2 (line 2): a quoted field is never closed"),
            ("a,b\n1,\"x\"y\n", "record 2 (line 2): text after a closing quote"),
            ("a,b\n1,2\n3\n", "record 2 (line 3) has 1 fields, the header has 2"),
            ("a,b\n1,2,3\n", "record 1 (line 2) has 3 fields"),
            ("a,b\n\"x\ny\",1\n1,2,3\n", "record 2 (line 4) has 3 fields"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try csv(text), text) { error in
                XCTAssert("\(error)".hasPrefix("t.csv: ") && "\(error)".contains(expected), "\(text) -> \(error)")
            }
        }
        XCTAssertThrowsError(try CSVTable(data: Data([0x61, 0x0A, 0xFF, 0xFE, 0x0A]), path: "t.csv")) { error in
            XCTAssert("\(error)".contains("not valid UTF-8"), "\(error)")
        }
    }

    func testHTMLEntitiesDecode() {
        XCTAssertEqual(
            HTMLEntities.decode("a &amp; b &lt;3 &#128514; &#x1F602; &quot;q&quot; &#39;"), "a & b <3 😂 😂 \"q\" '")
        XCTAssertEqual(
            HTMLEntities.decode("AT&T &unknown; & &#xZZ; &#99999999;"), "AT&T &unknown; & &#xZZ; &#99999999;")
    }

    /// A canonical WAV file: `fmt ` then optional extra chunks then `data`.
    func wav(
        rate: Int = 8000, bits: Int = 16, channels: Int = 1, format: Int = 1, samples: [Int], extra: Data = Data(),
        dataSize: Int? = nil, riffSize: Int? = nil
    ) -> Data {
        func u32(_ value: Int) -> Data {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian) { Data($0) }
        }
        func u16(_ value: Int) -> Data {
            withUnsafeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian) { Data($0) }
        }
        var body = Data()
        for sample in samples { body.append(bits == 16 ? u16(sample) : Data([UInt8(truncatingIfNeeded: sample)])) }
        var chunks =
            Data("fmt ".utf8) + u32(16) + u16(format) + u16(channels) + u32(rate) + u32(rate * bits / 8) + u16(bits / 8)
            + u16(bits)
        chunks += extra
        chunks += Data("data".utf8) + u32(dataSize ?? body.count) + body
        return Data("RIFF".utf8) + u32(riffSize ?? (4 + chunks.count)) + Data("WAVE".utf8) + chunks
    }

    func testWAVDecodesPCM() throws {
        let clip = try WAV.decode(wav(samples: [0, 16384, -16384 & 0xFFFF, 32767]), path: "a.wav")
        XCTAssertEqual(clip.sampleRate, 8000)
        XCTAssertEqual(clip.samples, [0, 0.5, -0.5, 32767 / 32768])
        let eight = try WAV.decode(wav(bits: 8, samples: [128, 255, 0]), path: "b.wav")
        XCTAssertEqual(eight.samples, [0, 127 / 128, -1])
        let list = Data("LIST".utf8) + withUnsafeBytes(of: UInt32(3).littleEndian) { Data($0) } + Data([1, 2, 3, 0])
        XCTAssertEqual(
            try WAV.decode(wav(samples: [100], extra: list), path: "c.wav").samples.count, 1,
            "unknown chunks are skipped")
    }

    func testBadWAVFilesAreErrors() {
        let good = wav(samples: [1, 2, 3, 4])
        let cases: [(Data, String)] = [
            (Data("RIFF".utf8), "too short for a WAV header"),
            (Data("RIFX0000WAVEfmt ".utf8), "not a RIFF/WAVE file"),
            (good.prefix(good.count - 3), "truncated"),
            (wav(samples: [1, 2], dataSize: 400, riffSize: 40), "chunk 'data' at byte 36 claims 400 bytes"),
            (wav(channels: 2, samples: [1, 2]), "2 channels; only mono"),
            (wav(format: 3, samples: [1, 2]), "format tag 3 is not PCM"),
            (wav(bits: 24, samples: [1, 2, 3]), "24-bit samples"),
            (wav(samples: []), "no samples"),
            (Data("RIFF".utf8) + Data([4, 0, 0, 0]) + Data("WAVE".utf8), "no fmt chunk"),
            (wav(rate: 1, samples: [1, 2]), "sample rate 1 Hz is outside 1000-768000 Hz"),
            (wav(rate: 4_294_967_295, samples: [1, 2]), "sample rate 4294967295 Hz is outside"),
        ]
        for (data, expected) in cases {
            XCTAssertThrowsError(try WAV.decode(data, path: "bad.wav"), expected) { error in
                XCTAssert("\(error)".hasPrefix("bad.wav: ") && "\(error)".contains(expected), "\(expected) -> \(error)")
            }
        }
    }

    func testResamplingRefusesRatesOutsideTheAudioRange() {
        for (source, target) in [(1, 8000), (8000, 1), (8000, 4_294_967_295), (8000, 0)] {
            XCTAssertThrowsError(try AudioClip(samples: [0, 1], sampleRate: source).resampled(to: target)) { error in
                XCTAssert("\(error)".contains("Hz is outside"), "\(error)")
            }
        }
    }

    /// A CSV file with its header and no records is not an empty data set to train on: the corpus reader stops.
    func testAHeaderOnlyCorpusIsAnError() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("header-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "count,hate_speech,offensive_language,neither,class,tweet\n".write(
            to: folder.appendingPathComponent("davidson_labeled_data.csv"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ToxicText.davidson(folder: folder.path)) { error in
            XCTAssert("\(error)".contains("has a header but no records"), "\(error)")
        }
    }

    func testResamplingKeepsATone() throws {
        // A 200 Hz tone at 16 kHz, resampled to 8 kHz, is the same tone at 8 kHz.
        let source = (0..<1600).map { Float(sin(2 * Double.pi * 200 * Double($0) / 16000)) }
        let clip = try AudioClip(samples: source, sampleRate: 16000).resampled(to: 8000)
        XCTAssertEqual(clip.samples.count, 800)
        let expected = (0..<800).map { Float(sin(2 * Double.pi * 200 * Double($0) / 8000)) }
        let worst =
            zip(clip.samples.dropFirst(40).dropLast(40), expected.dropFirst(40).dropLast(40)).map { abs($0 - $1) }.max()
            ?? 1
        XCTAssertLessThan(worst, 0.02)
    }

    func testFFTMatchesTheDirectTransform() {
        for size in [8, 64, 12] {
            let signal = (0..<size).map { sin(Double($0) * 0.7) + 0.3 * cos(Double($0) * 2.1) }
            var real = signal
            var imaginary = [Double](repeating: 0, count: size)
            FFT.transform(&real, &imaginary)
            for k in 0..<size {
                let expectedReal = signal.enumerated().reduce(0) {
                    $0 + $1.element * cos(-2 * Double.pi * Double(k * $1.offset) / Double(size))
                }
                let expectedImaginary = signal.enumerated().reduce(0) {
                    $0 + $1.element * sin(-2 * Double.pi * Double(k * $1.offset) / Double(size))
                }
                XCTAssertEqual(real[k], expectedReal, accuracy: 1e-9)
                XCTAssertEqual(imaginary[k], expectedImaginary, accuracy: 1e-9)
            }
        }
    }

    /// Log-mel features against torch.stft and torchaudio's HTK filter bank (make_components_golden.py).
    func testLogMelMatchesTorch() throws {
        let fixture = try Fixture("components.safetensors")
        let signal = try fixture["mel.signal"].toFloats()
        let expected = try fixture["mel.log_mel"]
        let features = try MelSpectrogram(sampleRate: 8000, fftSize: 256, hop: 128, mels: 40).logMel(signal)
        XCTAssertEqual([features.count, features.first?.count ?? 0], expected.shape)
        let worst = zip(features.flatMap { $0 }.map(Double.init), expected.toDoubles()).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(worst, 2e-3, "largest log-mel difference")
    }
}
