import CBLAS
import CKernels
import Foundation

/// The engine's own thread count (for elementwise, reduction and im2col kernels) and OpenBLAS's.
public enum Parallel {
    nonisolated(unsafe) static var threads: Int = Parallel.initialThreadCount()

    /// The number of threads kernels use.
    public static var threadCount: Int { threads }

    /// Sets the thread count (at least 1) the engine splits kernels and GEMMs over. OpenBLAS itself is
    /// kept single-threaded: the engine partitions GEMMs across its own threads, so the two thread pools
    /// never compete for the cores (OpenBLAS's idle threads otherwise spin in `sched_yield`).
    public static func setThreadCount(_ count: Int) {
        threads = max(1, count)
        openblas_set_num_threads(1)
    }

    /// `LUCERNA_THREADS` if set, else the number of active processors.
    static func initialThreadCount() -> Int {
        openblas_set_num_threads(1)
        if let text = ProcessInfo.processInfo.environment["LUCERNA_THREADS"], let value = Int(text), value > 0 {
            return value
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// How many chunks ``forEachChunk(_:costPerItem:_:)`` splits `count` items into.
    static func chunkCount(_ count: Int, costPerItem: Int = 1) -> Int {
        let workers = min(threads, count)
        return (workers <= 1 || count * costPerItem < 32_768) ? 1 : workers
    }

    /// The index of the chunk `range` within the split of `count` items into `chunks`.
    static func chunkIndex(of range: Range<Int>, count: Int, chunks: Int) -> Int {
        guard chunks > 1 else { return 0 }
        let size = (count + chunks - 1) / chunks
        return range.lowerBound / size
    }

    /// Runs `body(range)` over `0..<count` split into contiguous chunks, in parallel when the total work
    /// (`count * costPerItem` element operations) is large enough to pay for the threads.
    @inline(__always)
    public static func forEachChunk(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = chunkCount(count, costPerItem: costPerItem)
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let chunk = (count + workers - 1) / workers
        withoutActuallyEscaping(body) { body in
            // The kernels' closures capture raw buffers that each chunk touches disjointly. Chunk k runs on
            // the pool's k-th thread every time (chunk 0 on this one), so a thread finds in its cache what it
            // wrote in the region before.
            var job = ChunkJob(body: body, count: count, chunk: chunk)
            withUnsafeMutablePointer(to: &job) { pointer in
                lucerna_pool_run(
                    workers,
                    { context, worker in
                        guard let job = context?.assumingMemoryBound(to: ChunkJob.self).pointee else { return }
                        let start = worker * job.chunk
                        let end = min(job.count, start + job.chunk)
                        if start < end { job.body(start..<end) }
                    }, pointer)
            }
        }
    }

    /// Runs `body(worker, range)` over `0..<count` in pieces of about a quarter of an even share each, handed to
    /// whichever thread is free (OpenMP's dynamic schedule), in parallel when the work is large enough (as
    /// ``forEachChunk(_:costPerItem:_:)``). `worker` (0 ..< ``chunkCount(_:costPerItem:)``, the threads it uses)
    /// names the thread running the piece, for per-thread scratch. Which thread runs a piece varies from run to run, so each
    /// item's result must not depend on it; a thread slowed by other work on its core then takes fewer pieces
    /// instead of holding the others up.
    @inline(__always)
    static func forEachPiece(_ count: Int, costPerItem: Int = 1, _ body: (_ worker: Int, Range<Int>) -> Void) {
        let workers = chunkCount(count, costPerItem: costPerItem)
        if workers <= 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        let grain = pieceSize(count, workers: workers)
        withoutActuallyEscaping(body) { body in
            var job = PieceJob(body: body)
            withUnsafeMutablePointer(to: &job) { pointer in
                lucerna_pool_run_dynamic(
                    workers, count, grain,
                    { context, worker, start, end in
                        guard let job = context?.assumingMemoryBound(to: PieceJob.self).pointee else { return }
                        job.body(worker, start..<end)
                    }, pointer)
            }
        }
    }

    /// The items in each piece of ``forEachPiece(_:costPerItem:_:)`` over `count` items on `workers` threads (the
    /// last piece may be shorter): piece p is `p * size ..< min(count, (p + 1) * size)` whichever thread runs it.
    static func pieceSize(_ count: Int, workers: Int) -> Int {
        workers <= 1 ? max(count, 1) : max(1, count / (4 * workers))
    }

    /// ``forEachChunk(_:costPerItem:_:)`` for bodies that report something (a NaN seen, say): whether any
    /// chunk's `body` returned true.
    static func anyChunk(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Bool) -> Bool {
        let chunks = chunkCount(count, costPerItem: costPerItem)
        let flags = UnsafeMutablePointer<Bool>.allocate(capacity: chunks)  // one per chunk
        flags.initialize(repeating: false, count: chunks)
        defer { flags.deallocate() }
        forEachChunk(count, costPerItem: costPerItem) { range in
            flags[chunkIndex(of: range, count: count, chunks: chunks)] = body(range)
        }
        return (0..<chunks).contains { flags[$0] }
    }
}

/// One region of ``Parallel/forEachChunk(_:costPerItem:_:)``: its body and split.
private struct ChunkJob {
    let body: (Range<Int>) -> Void
    let count: Int, chunk: Int
}

/// One region of ``Parallel/forEachPiece(_:costPerItem:_:)``: its body.
private struct PieceJob {
    let body: (Int, Range<Int>) -> Void
}

/// Carries a value across a concurrency boundary the caller knows to be safe.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
