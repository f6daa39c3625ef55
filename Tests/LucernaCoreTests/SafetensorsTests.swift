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
}
