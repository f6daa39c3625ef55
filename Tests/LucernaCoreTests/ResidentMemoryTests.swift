import XCTest

@testable import LucernaCore

#if canImport(Glibc)
    import Glibc
#endif

/// The resident-memory readings `lucerna bench` and run reports print: touched memory shows in the current
/// size and the peak, and a reset starts the peak again from the current size.
final class ResidentMemoryTests: XCTestCase {
    func testTouchedMemoryShowsInThePeakAndAResetForgetsIt() throws {
        #if !os(Linux)
            throw XCTSkip("reads /proc/self/status")
        #else
            let size = 96 << 20
            let before = try XCTUnwrap(ResidentMemory.currentBytes())
            XCTAssertGreaterThan(before, 0)
            // Fresh pages from the kernel: malloc may serve a block this large from freed heap memory that is
            // still resident (it did in a full test run, and the reading did not move).
            let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let mapping, mapping != MAP_FAILED else { throw XCTSkip("mmap failed") }
            let buffer = mapping.assumingMemoryBound(to: UInt8.self)
            for offset in stride(from: 0, to: size, by: 4096) { buffer[offset] = 1 }  // touch every page
            let touched = try XCTUnwrap(ResidentMemory.currentBytes())
            XCTAssertGreaterThanOrEqual(touched - before, size * 9 / 10, "touched pages are resident")
            // The kernel batches its per-thread page counts, so the readings may lag each other by a few pages.
            let slack = 2 << 20
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(ResidentMemory.peakBytes()), touched - slack)
            munmap(mapping, size)
            let freed = try XCTUnwrap(ResidentMemory.currentBytes())
            XCTAssertLessThan(freed, touched - size / 2)
            XCTAssertGreaterThanOrEqual(
                try XCTUnwrap(ResidentMemory.peakBytes()), touched - slack, "the peak remembers")
            guard ResidentMemory.resetPeak() else { throw XCTSkip("this kernel cannot reset the peak") }
            XCTAssertLessThan(try XCTUnwrap(ResidentMemory.peakBytes()), touched - size / 2, "the reset forgot it")
        #endif
    }

    func testStatusFieldsAreReadInBytes() throws {
        #if os(Linux)
            let rss = try XCTUnwrap(ResidentMemory.statusField("VmRSS:"))
            XCTAssertEqual(rss % 1024, 0, "kB fields are converted to bytes")
            XCTAssertNil(ResidentMemory.statusField("NoSuchField:"))
        #endif
        XCTAssertEqual(ResidentMemory.megabytes(3 << 20), "3.0")
    }
}
