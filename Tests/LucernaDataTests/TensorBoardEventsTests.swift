import Foundation
import LucernaData
import LucernaTestSupport
import XCTest

/// `TensorBoardEvents` against the `tensorboard` package's own writer (Tests/Fixtures/tensorboard.tfevents,
/// from scripts/golden/make_tensorboard_golden.py): the same events give the same bytes.
final class TensorBoardEventsTests: XCTestCase {
    func testCRC32CMatchesTheCastagnoliCheckValue() {
        // The standard check value of CRC-32C (RFC 3720, B.4) and the all-zero vector of the same appendix.
        XCTAssertEqual(TensorBoardEvents.crc32c(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(TensorBoardEvents.crc32c([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(TensorBoardEvents.crc32c([UInt8]()), 0)
    }

    func testEventsAreByteForByteTheTensorBoardWritersOwn() throws {
        let fixture = try [UInt8](Data(contentsOf: Fixture.folder.appendingPathComponent("tensorboard.tfevents")))
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + (0..<24).map(UInt8.init)
        let events = [
            TensorBoardEvents.versionEvent(wallTime: 1_700_000_000.25),
            TensorBoardEvents.scalarEvent(
                wallTime: 1_700_000_001.5, step: 3,
                scalars: [(tag: "auditor/train_loss", value: 0.5), (tag: "auditor/val_accuracy", value: 0.875)]),
            TensorBoardEvents.scalarEvent(
                wallTime: 1_700_000_002.0, step: 0, scalars: [(tag: "evaluation/test_accuracy", value: 0)]),
            TensorBoardEvents.scalarEvent(
                wallTime: 1_700_000_003.75, step: 12_345_678_901, scalars: [(tag: "gan/critic_loss", value: -1.25e-3)]),
            TensorBoardEvents.imageEvent(
                wallTime: 1_700_000_004.0, step: 100, tag: "gan/samples", png: png, height: 2, width: 3, colorspace: 1),
        ]
        XCTAssertEqual(events.flatMap(TensorBoardEvents.record), fixture)
        // And read back: framing checked, fields decoded.
        let read = try TensorBoardReader.events(fixture)
        XCTAssertEqual(read.count, 5)
        XCTAssertEqual(read[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(read[1].scalars, ["auditor/train_loss": 0.5, "auditor/val_accuracy": 0.875])
        XCTAssertEqual(read[3].step, 12_345_678_901)
        XCTAssertEqual(read[4].images["gan/samples"], [2, 3, 1])
        XCTAssertEqual(read[4].imageBytes["gan/samples"], png)
    }

    func testACorruptRecordIsCaughtByItsChecksum() throws {
        var bytes = TensorBoardEvents.record(TensorBoardEvents.versionEvent(wallTime: 1))
        bytes[14] ^= 1
        XCTAssertThrowsError(try TensorBoardReader.events(bytes))
    }

    func testPNGHeaderGivesSizeAndChannels() throws {
        let grey = try PNG.encode(pixels: [UInt8](repeating: 7, count: 6), width: 3, height: 2, channels: 1)
        XCTAssertEqual(PNG.header(grey)?.width, 3)
        XCTAssertEqual(PNG.header(grey)?.height, 2)
        XCTAssertEqual(PNG.header(grey)?.channels, 1)
        let colour = try PNG.encode(pixels: [UInt8](repeating: 7, count: 12), width: 2, height: 2, channels: 3)
        XCTAssertEqual(PNG.header(colour)?.channels, 3)
        XCTAssertNil(PNG.header(Data("not a png".utf8)))
        XCTAssertNil(PNG.header(grey.prefix(20)))
    }
}
