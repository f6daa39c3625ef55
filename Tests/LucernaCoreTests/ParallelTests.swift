import Foundation
import XCTest

@testable import LucernaCore

/// The engine's worker pool (`Sources/CKernels/pool.c`) through ``Parallel/forEachChunk(_:costPerItem:_:)``.
final class ParallelTests: XCTestCase {
    private func withThreads(_ count: Int, _ body: () throws -> Void) rethrows {
        let previous = Parallel.threadCount
        defer { Parallel.setThreadCount(previous) }
        Parallel.setThreadCount(count)
        try body()
    }

    /// Marks for each index how often a region visited it, and which thread ran each chunk.
    private final class Visits: @unchecked Sendable {
        let counts: UnsafeMutablePointer<Int32>
        let threads: UnsafeMutablePointer<pthread_t>
        let count: Int, chunks: Int
        init(count: Int, chunks: Int) {
            self.count = count
            self.chunks = chunks
            counts = .allocate(capacity: count)
            counts.initialize(repeating: 0, count: count)
            threads = .allocate(capacity: chunks)
            threads.initialize(repeating: pthread_self(), count: chunks)
        }
        deinit {
            counts.deallocate()
            threads.deallocate()
        }
        func visit(_ range: Range<Int>) {
            for index in range { counts[index] += 1 }
            threads[Parallel.chunkIndex(of: range, count: count, chunks: chunks)] = pthread_self()
        }
    }

    func testEveryIndexRunsOnceAndEachChunkOnTheSameThreadEveryTime() {
        withThreads(4) {
            let count = 100_003
            let chunks = Parallel.chunkCount(count)
            XCTAssertEqual(chunks, 4)
            var firstThreads: [pthread_t] = []
            for round in 0..<50 {
                let visits = Visits(count: count, chunks: chunks)
                Parallel.forEachChunk(count) { visits.visit($0) }
                XCTAssertTrue((0..<count).allSatisfy { visits.counts[$0] == 1 }, "round \(round)")
                let threads = (0..<chunks).map { visits.threads[$0] }
                XCTAssertTrue(pthread_equal(threads[0], pthread_self()) != 0, "chunk 0 runs on the calling thread")
                XCTAssertEqual(Set(threads.map { UInt($0) }).count, chunks, "each chunk on its own thread")
                if round == 0 {
                    firstThreads = threads
                } else {
                    XCTAssertEqual(threads.map { UInt($0) }, firstThreads.map { UInt($0) }, "round \(round)")
                }
                // A pause long enough for the pool threads to stop spinning and sleep, now and then.
                if round % 10 == 9 { usleep(5000) }
            }
        }
    }

    /// The dynamic schedule: every index once, in pieces no larger than a quarter of an even share, each piece's
    /// worker index in range and that worker on one thread at a time (its scratch is its own); a worker whose
    /// thread is held up takes fewer pieces than an even split would give it.
    func testPiecesCoverEveryIndexOnceAndGoToWhicheverThreadIsFree() {
        withThreads(3) {
            let count = 10_007
            let workers = Parallel.chunkCount(count, costPerItem: 16)
            XCTAssertEqual(workers, 3)
            let visits = Visits(count: count, chunks: 1)
            let lock = NSLock()
            var pieces: [(worker: Int, range: Range<Int>, thread: UInt)] = []
            Parallel.forEachPiece(count, costPerItem: 16) { worker, range in
                for index in range { visits.counts[index] += 1 }
                usleep(worker == 1 ? 20_000 : 1_000)  // worker 1's thread held up
                lock.lock()
                pieces.append((worker, range, UInt(pthread_self())))
                lock.unlock()
            }
            XCTAssertTrue((0..<count).allSatisfy { visits.counts[$0] == 1 })
            XCTAssertTrue(pieces.allSatisfy { (0..<workers).contains($0.worker) })
            XCTAssertTrue(pieces.allSatisfy { $0.range.count <= count / (4 * workers) })
            for worker in 0..<workers {
                XCTAssertLessThanOrEqual(Set(pieces.filter { $0.worker == worker }.map(\.thread)).count, 1)
            }
            XCTAssertLessThan(pieces.filter { $0.worker == 1 }.map(\.range.count).reduce(0, +), count / workers)
            XCTAssertTrue(pieces.filter { $0.worker == 0 }.allSatisfy { $0.thread == UInt(pthread_self()) })
        }
        withThreads(1) {
            var seen: [Range<Int>] = []
            Parallel.forEachPiece(100) { worker, range in
                XCTAssertEqual(worker, 0)
                seen.append(range)
            }
            XCTAssertEqual(seen, [0..<100], "one thread: one piece")
        }
    }

    func testFewerChunksThanPoolThreadsAndARegionInsideARegion() {
        withThreads(4) { Parallel.forEachChunk(100_000) { _ in } }  // the pool has three threads now
        withThreads(2) {
            let count = 80_000
            let outer = Visits(count: count, chunks: 2)
            let inner = Visits(count: count, chunks: 2)
            Parallel.forEachChunk(count) { range in
                outer.visit(range)
                // A region started from inside a body runs its chunks on that body's thread, in order.
                if range.lowerBound == 0 { Parallel.forEachChunk(count) { inner.visit($0) } }
            }
            XCTAssertTrue((0..<count).allSatisfy { outer.counts[$0] == 1 && inner.counts[$0] == 1 })
            XCTAssertTrue(pthread_equal(inner.threads[0], inner.threads[1]) != 0)
        }
    }

    /// A forked child has no pool threads: its first region starts its own instead of waiting for the parent's.
    func testAForkedChildRunsRegions() {
        withThreads(2) {
            let count = 50_000
            Parallel.forEachChunk(count) { _ in }  // the parent's pool thread exists now
            let child = fork()
            if child == 0 {
                alarm(20)  // a child that waits for the parent's threads is killed, and the test fails
                let visits = Visits(count: count, chunks: 2)
                Parallel.forEachChunk(count) { visits.visit($0) }
                let distinct = pthread_equal(visits.threads[0], visits.threads[1]) == 0
                _exit((0..<count).allSatisfy { visits.counts[$0] == 1 } && distinct ? 0 : 1)
            }
            XCTAssertGreaterThan(child, 0)
            var status: Int32 = 0
            XCTAssertEqual(waitpid(child, &status, 0), child)
            XCTAssertEqual(status, 0, "the child exits 0 after a region on two threads (status \(status))")
        }
    }

    func testRegionsFromTwoThreadsAtOnceBothComplete() {
        withThreads(2) {
            let count = 50_000
            let group = DispatchGroup()
            let failures = Visits(count: 2, chunks: 1)  // counts[k]: failed rounds of caller k
            for caller in 0..<2 {
                group.enter()
                Thread.detachNewThread {
                    for _ in 0..<200 {
                        let visits = Visits(count: count, chunks: 2)
                        Parallel.forEachChunk(count) { visits.visit($0) }
                        if !(0..<count).allSatisfy({ visits.counts[$0] == 1 }) { failures.counts[caller] += 1 }
                    }
                    group.leave()
                }
            }
            XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
            XCTAssertEqual(failures.counts[0] + failures.counts[1], 0)
        }
    }
}
