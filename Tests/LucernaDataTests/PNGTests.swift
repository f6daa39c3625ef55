import CZlib
import Foundation
import LucernaCore
import XCTest

@testable import LucernaData

/// The PNG encoder: signature, chunk layout and CRC-32s, and scanlines that inflate back to the pixels.
final class PNGTests: XCTestCase {
    struct Chunk {
        let type: String
        let body: Data
        let crc: UInt32
    }

    func chunks(_ file: Data) throws -> [Chunk] {
        let bytes = [UInt8](file)
        XCTAssertEqual(Array(bytes[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var position = 8
        var result: [Chunk] = []
        func word(_ at: Int) -> UInt32 { bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        while position < bytes.count {
            let length = Int(word(position))
            let type = String(decoding: bytes[position + 4..<position + 8], as: UTF8.self)
            let body = Data(bytes[position + 8..<position + 8 + length])
            let crc = word(position + 8 + length)
            let expected = bytes[position + 4..<position + 8 + length].withUnsafeBufferPointer {
                crc32(0, $0.baseAddress, uInt($0.count))
            }
            XCTAssertEqual(UInt32(expected), crc, "CRC of \(type)")
            result.append(Chunk(type: type, body: body, crc: crc))
            position += 12 + length
        }
        XCTAssertEqual(position, bytes.count)
        return result
    }

    func inflate(_ data: Data, expected: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: expected)
        var length = uLongf(expected)
        let status = [UInt8](data).withUnsafeBufferPointer {
            uncompress(&output, &length, $0.baseAddress, uLong($0.count))
        }
        XCTAssertEqual(status, Z_OK)
        XCTAssertEqual(Int(length), expected)
        return output
    }

    func testGrayscaleImageRoundTrips() throws {
        let pixels: [UInt8] = [0, 64, 128, 255, 10, 20]
        let file = try PNG.encode(pixels: pixels, width: 3, height: 2, channels: 1)
        let parts = try chunks(file)
        XCTAssertEqual(parts.map(\.type), ["IHDR", "IDAT", "IEND"])
        XCTAssertEqual([UInt8](parts[0].body), [0, 0, 0, 3, 0, 0, 0, 2, 8, 0, 0, 0, 0])
        XCTAssertEqual(inflate(parts[1].body, expected: 8), [0, 0, 64, 128, 0, 255, 10, 20])
        XCTAssertEqual(parts[2].body.count, 0)
    }

    /// The overlay grid: a grey row, then each method's normalised map coloured and blended, a colour bar.
    func testExplanationGridBlendsColormappedMaps() throws {
        let images = try Tensor(shape: [2, 1, 2, 2], doubles: [0, 1, 0, 1, 0.5, 0.5, 0.5, 0.5])
        let maps = try Tensor(shape: [2, 2, 2], doubles: [0, 0, 0, 4, 1, 2, 3, 4])
        let file = try PNG.explanationGrid(
            images: images, maps: [("m", maps)], colormap: .inferno, alpha: 0.5, padding: 1)
        let parts = try chunks(file)
        // Width: 2 cells of 2 + 3 gaps + a 4-wide bar + 1 = 12; height: 2 rows of 2 + 3 gaps = 7.
        XCTAssertEqual([UInt8](parts[0].body.prefix(10)), [0, 0, 0, 12, 0, 0, 0, 7, 8, 2])
        let rows = inflate(parts[1].body, expected: 7 * (12 * 3 + 1))
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(rows[y * 37 + 1 + x * 3..<y * 37 + 1 + x * 3 + 3]) }
        XCTAssertEqual(pixel(2, 1), [255, 255, 255], "image 0, pixel (0, 1): grey 1")
        // Row 2, image 0, pixel (1, 1): map 4 → normalised 1 → inferno's top (252, 255, 164), blended 50 % with grey 255.
        XCTAssertEqual(pixel(2, 5), [254, 255, 210])
        // Pixel (0, 0): map 0 → inferno's bottom (0, 0, 4) with grey 0 → (0, 0, 2).
        XCTAssertEqual(pixel(1, 4), [0, 0, 2])
        XCTAssertEqual(
            Colormap.viridis.color(0.5).green, 145, accuracy: 1e-9, "viridis at 0.5 is matplotlib's (33, 145, 140)")
        XCTAssertThrowsError(try PNG.explanationGrid(images: images, maps: [("bad", try Tensor.zeros([2, 3, 3]))]))
    }

    func testGridScalesAndLaysOutImages() throws {
        // Three 2x2 RGB images in two columns with a 1-pixel gap: a 7x7 canvas.
        let values = (0..<36).map { Double($0) / 35 }
        let file = try PNG.grid(try Tensor(shape: [3, 3, 2, 2], doubles: values), columns: 2, padding: 1)
        let parts = try chunks(file)
        XCTAssertEqual([UInt8](parts[0].body.prefix(10)), [0, 0, 0, 7, 0, 0, 0, 7, 8, 2])
        let rows = inflate(parts[1].body, expected: 7 * (7 * 3 + 1))
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(rows[y * 22 + 1 + x * 3..<y * 22 + 1 + x * 3 + 3]) }
        XCTAssertEqual(pixel(0, 0), [255, 255, 255], "the gap is white")
        XCTAssertEqual(pixel(1, 1), [0, 29, 58], "image 0, pixel (0, 0): values 0, 4 and 8 of 35, scaled to 255")
        XCTAssertEqual(
            pixel(4, 1),
            [
                UInt8((12.0 / 35 * 255).rounded()), UInt8((16.0 / 35 * 255).rounded()),
                UInt8((20.0 / 35 * 255).rounded()),
            ])
        XCTAssertEqual(pixel(5, 5), [255, 255, 255], "the missing fourth image stays white")
        XCTAssertThrowsError(try PNG.grid(try Tensor.zeros([2, 2, 4, 4])), "two channels")
        XCTAssertThrowsError(try PNG.encode(pixels: [1, 2], width: 3, height: 1, channels: 1))
    }
}
