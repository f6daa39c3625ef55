import Foundation
import XCTest

@testable import LucernaCore

final class SafetensorsTests: XCTestCase {
    var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "Fixtures")
    }

    func testReadsAFileWrittenByPythonSafetensors() throws {
        let (tensors, metadata) = try Safetensors.read(
            fixtures.appendingPathComponent("python_written.safetensors").path)
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) })
        XCTAssertEqual(metadata["source"], "lucerna-golden")
        XCTAssertEqual(byName["f32"]?.shape, [2, 3])
        XCTAssertEqual(byName["f32"]?.toFloats(), [0, 0.25, 0.5, 0.75, 1, 1.25])
        XCTAssertEqual(byName["f64"]?.dtype, .float64)
        XCTAssertEqual(byName["f64"]?.toDoubles(), [1.5, -2.25])
        XCTAssertEqual(byName["i64"]?.toIntegers(), [7, -3, 1 << 40])
        XCTAssertEqual(byName["scalar"]?.shape, [])
    }

    func testRoundTripsAndWritesAtomically() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lucerna-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("state.safetensors").path
        let tensors = [
            ("weight", try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])),
            ("labels", try Tensor(shape: [3], integers: [0, 5, 9])),
            ("double", try Tensor(shape: [1], doubles: [0.125])),
        ]
        try Safetensors.write(tensors, to: path, metadata: ["epoch": "3"])
        try Safetensors.write(tensors, to: path)  // overwriting replaces the file
        let read = try Safetensors.read(path)
        XCTAssertEqual(read.tensors.map(\.name), ["weight", "labels", "double"])
        XCTAssertEqual(read.tensors[0].tensor.toFloats(), [1, 2, 3, 4])
        XCTAssertEqual(read.tensors[1].tensor.toIntegers(), [0, 5, 9])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["state.safetensors"])
    }

    func testCorruptFilesGiveClearErrors() throws {
        let good = try Safetensors.encode([("x", try Tensor(shape: [4], scalars: [1, 2, 3, 4]))])
        let cases: [(Data, String)] = [
            (Data([1, 2, 3]), "shorter than"),
            (good.prefix(good.count - 3), "truncated"),
            (Data([255, 255, 255, 255, 0, 0, 0, 0]) + Data(count: 8), "header length"),
            (Data([4, 0, 0, 0, 0, 0, 0, 0]) + Data("nope".utf8), "not a JSON object"),
        ]
        for (data, expected) in cases {
            XCTAssertThrowsError(try Safetensors.decode(data, path: "bad.safetensors")) { error in
                XCTAssert("\(error)".contains(expected) && "\(error)".contains("bad.safetensors"), "\(error)")
            }
        }
        XCTAssertThrowsError(try Safetensors.read("/nonexistent/file.safetensors"))
    }

    /// A file from a header and buffer (the header padded to 8 bytes, as the reference writer does).
    func file(_ header: String, buffer: Int) -> Data {
        var text = Data(header.utf8)
        while text.count % 8 != 0 { text.append(UInt8(ascii: " ")) }
        var data = withUnsafeBytes(of: UInt64(text.count).littleEndian) { Data($0) }
        data.append(text)
        data.append(Data(count: buffer))
        return data
    }

    /// Files the reference implementation (the safetensors crate) rejects are rejected here too: fractional,
    /// negative or boolean numbers, gaps, overlaps, trailing bytes, and a header that is not an object.
    func testOutOfSpecFilesAreRejectedAsTheReferenceDoes() throws {
        let valid =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        XCTAssertEqual(try Safetensors.decode(file(valid, buffer: 12)).tensors.map(\.name), ["a", "b"])
        let cases: [(String, Int, String)] = [
            (valid, 16, "trailing bytes"),
            (
                #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#,
                16, "a gap"
            ),
            (
                #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                12, "overlapping"
            ),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "starts at byte 4"),
            (#"{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, 8, "must be non-negative integers"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8]}}"#, 8, "must be non-negative integers"),
            (#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, 4, "must be non-negative integers"),
            (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, 8, "must be non-negative integers"),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "do not hold"),
            (#" {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8, "not a JSON object"),
            (#"["a"]"#, 0, "not a JSON object"),
        ]
        for (header, buffer, expected) in cases {
            XCTAssertThrowsError(try Safetensors.decode(file(header, buffer: buffer), path: "spec.safetensors"), header)
            {
                error in
                XCTAssert("\(error)".contains(expected), "\(header)\n-> \(error)")
            }
        }
    }
}
