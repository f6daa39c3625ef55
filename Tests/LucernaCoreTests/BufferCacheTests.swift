import XCTest

@testable import LucernaCore

/// The buffer cache settles on a steady loop with every request served, and when the sizes change it releases
/// the old ones rather than let live plus cached bytes rise above their peak.
final class BufferCacheTests: XCTestCase {
    /// Tracks live bytes the way `TensorStorage` does, around one cache.
    final class Client {
        let cache: BufferCache
        var live = 0
        var peak = 0

        init() { cache = BufferCache() }

        func take(_ bytes: Int) -> (UnsafeMutableRawPointer, Int) {
            live += bytes
            let buffer = cache.take(byteCount: bytes, liveBytes: live)
            peak = max(peak, live + cache.holding.bytes)
            return (buffer, bytes)
        }

        func give(_ taken: [(UnsafeMutableRawPointer, Int)]) {
            for (buffer, bytes) in taken.reversed() {
                live -= bytes
                cache.give(buffer, byteCount: bytes, liveBytes: live)
            }
        }
    }

    /// Each step takes and returns its activations, then takes a new gradient while the last step's is still
    /// alive (as `.grad` is replaced): the gradients of the first steps raise the footprint and release sizes
    /// the loop still uses, whose next requests then let the footprint grow; from the fourth step on every
    /// request is served.
    func testASteadyLoopSettlesWithEveryRequestServed() {
        let client = Client()
        let sizes = [1 << 20, 3 << 18, 1 << 20, 1 << 16]
        var gradient: (UnsafeMutableRawPointer, Int)?
        var freshAfterThreeSteps = 0
        for step in 0..<20 {
            if step == 3 { freshAfterThreeSteps = client.cache.counts.fresh }
            let activations = sizes.map { client.take($0) }
            client.give(activations)
            let newGradient = client.take(1 << 19)
            if let gradient { client.give([gradient]) }
            gradient = newGradient
        }
        // The first two steps' new gradients each raise the footprint and release the least recently requested
        // size (3 << 18), which the next step takes afresh, letting the footprint grow: five fresh buffers in
        // the first step, the gradient and 3 << 18 in the second, 3 << 18 in the third, then none.
        XCTAssertEqual(client.cache.holding.released, 2)
        XCTAssertEqual(client.cache.counts.fresh, sizes.count + 4)
        XCTAssertEqual(client.cache.counts.fresh, freshAfterThreeSteps, "no allocation after the third step")
        if let gradient { client.give([gradient]) }
    }

    func testOldSizesAreReleasedInsteadOfRaisingThePeak() {
        let client = Client()
        // Phase one: eight 1 MiB buffers live at once, then all cached.
        let first = (0..<8).map { _ in client.take(1 << 20) }
        client.give(first)
        XCTAssertEqual(client.cache.holding.bytes, 8 << 20)
        // Phase two: 2 MiB buffers. The cached 1 MiB buffers go instead of raising the peak (14 MiB without
        // releases).
        let second = (0..<3).map { _ in client.take(2 << 20) }
        XCTAssertEqual(client.peak, 8 << 20)
        XCTAssertEqual(client.cache.holding.released, 8)
        XCTAssertEqual(client.cache.holding.bytes, 0)
        client.give(second)
        _ = client.take(2 << 20)
        XCTAssertEqual(client.cache.counts.reused, 1, "the new size is kept for reuse")
    }

    /// A size whose only buffer is out (served from the cache, so its list is empty) has nothing to release:
    /// passing over it must not count as a release that would later exempt its next request from releasing.
    func testASizeWithEveryBufferOutIsNotReleased() {
        let client = Client()
        let large = client.take(2 << 20)
        client.give([large])
        let kept = client.take(2 << 20)  // served from the cache: its size's list is now empty
        XCTAssertEqual(client.cache.counts.reused, 1)
        client.give((0..<4).map { _ in client.take(3 << 18) })  // peak 2 MiB live + 3 MiB cached
        // A new size raises the footprint: the 2 MiB size is the least recently requested but has nothing
        // cached, so the four 3 << 18 buffers go.
        let others = (0..<3).map { _ in client.take(1 << 20) }
        XCTAssertEqual(client.cache.holding.released, 4)
        client.give(others)
        // Another 2 MiB buffer with 3 MiB cached would pass the 5 MiB peak: the cached 1 MiB buffers go.
        let second = client.take(2 << 20)
        XCTAssertEqual(client.cache.holding.released, 7)
        XCTAssertEqual(client.cache.holding.bytes, 0)
        client.give([second, kept])
    }
}
