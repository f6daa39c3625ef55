import Foundation
import XCTest

@testable import LucernaData

final class IDXTests: XCTestCase {
    func makeIDX(shape: [Int], values: [UInt8]) -> Data {
        var data = Data([0, 0, 0x08, UInt8(shape.count)])
        for size in shape { data.append(contentsOf: withUnsafeBytes(of: UInt32(size).bigEndian, Array.init)) }
        data.append(contentsOf: values)
        return data
    }

    func gzip(_ data: Data) throws -> Data {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("file")
        try data.write(to: path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-n", path.path]
        try process.run()
        process.waitUntilExit()
        return try Data(contentsOf: folder.appendingPathComponent("file.gz"))
    }

    func testDecodesPlainAndGzippedIDX() throws {
        let plain = makeIDX(shape: [2, 2, 3], values: Array(0..<12))
        let decoded = try IDX.decode(plain, path: "x")
        XCTAssertEqual(decoded.shape, [2, 2, 3])
        XCTAssertEqual(decoded.bytes, Array(0..<12))
        let compressed = try gzip(plain)
        XCTAssertTrue(Gzip.isCompressed(compressed))
        XCTAssertEqual(try Gzip.decompress(compressed, path: "x.gz"), plain)
    }

    func testBadFilesGiveErrorsNamingTheFile() throws {
        let good = makeIDX(shape: [3], values: [1, 2, 3])
        let cases: [(Data, String)] = [
            (Data([0, 0]), "no IDX header"),
            (Data([1, 2, 8, 1, 0, 0, 0, 1, 5]), "bad magic"),
            (Data([0, 0, 0x0D, 1, 0, 0, 0, 1, 5]), "not unsigned byte"),
            (good.prefix(good.count - 1), "truncated"),
            (good + Data([9]), "trailing bytes"),
            (Data([0, 0, 8, 4] + Array(repeating: UInt8(0xFF), count: 16)), "impossibly large"),
        ]
        for (data, expected) in cases {
            XCTAssertThrowsError(try IDX.decode(data, path: "broken.idx")) { error in
                XCTAssert("\(error)".contains(expected) && "\(error)".contains("broken.idx"), "\(error)")
            }
        }
        let compressed = try gzip(good)
        XCTAssertThrowsError(try Gzip.decompress(compressed.prefix(compressed.count - 6), path: "cut.gz")) { error in
            XCTAssert("\(error)".contains("cut.gz"), "\(error)")
        }
        var garbage = compressed
        garbage[12] ^= 0xFF
        XCTAssertThrowsError(try Gzip.decompress(garbage, path: "garbage.gz"))
    }

    /// A small `.gz` that inflates far past what its IDX header promises (a zip bomb) is an error after at
    /// most one chunk more than the promise, whatever it would inflate to; with no promise, the reader's cap holds.
    func testInflationStopsAtWhatTheHeaderPromises() throws {
        let header = makeIDX(shape: [10, 28, 28], values: [])
        let bomb = try gzip(header + Data(count: 64 << 20))
        XCTAssertLessThan(bomb.count, 1 << 20)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bomb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("images.idx3-ubyte.gz").path
        try bomb.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try IDX.read(path)) { error in
            XCTAssert("\(error)".contains("inflates to more than the 7856 bytes its header promises"), "\(error)")
        }
        XCTAssertThrowsError(try Gzip.decompress(bomb, path: "bomb.gz", maximumBytes: 4 << 20)) { error in
            XCTAssert("\(error)".contains("inflates to more than 4194304 bytes"), "\(error)")
        }
        let huge = try gzip(makeIDX(shape: [4_000_000, 1000, 1000], values: []))
        XCTAssertThrowsError(try Gzip.decompress(huge, path: "huge.gz", promisedSize: IDX.promisedSize)) { error in
            XCTAssert("\(error)".contains("more than the"), "\(error)")
        }
    }

    func testFashionMNISTFromTheDebianPackage() throws {
        let folder = "/usr/share/datasets/fashion-mnist"
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: "\(folder)/t10k-labels-idx1-ubyte.gz"),
            "dataset-fashion-mnist is not installed")
        let test = try ImageClassificationSet.loadIDX(folder: folder, prefix: "t10k")
        XCTAssertEqual(test.images.shape, [10_000, 1, 28, 28])
        var counts = [Int](repeating: 0, count: 10)
        for label in test.labels.toIntegers() { counts[label] += 1 }
        XCTAssertEqual(counts, Array(repeating: 1000, count: 10))
        let pixels = test.images.toFloats()
        XCTAssertEqual(pixels.min(), 0)
        XCTAssertEqual(pixels.max(), 1)
    }
}
