import CBLAS
import Dispatch
import Foundation

/// The engine's own thread count (for elementwise, reduction and im2col kernels) and OpenBLAS's.
public enum Parallel {
    nonisolated(unsafe) static var threads: Int = Parallel.initialThreadCount()

    /// The number of threads kernels use.
    public static var threadCount: Int { threads }

    /// Sets the engine's and OpenBLAS's thread count (at least 1).
    public static func setThreadCount(_ count: Int) {
        threads = max(1, count)
        openblas_set_num_threads(Int32(threads))
    }

    /// `LUCERNA_THREADS` if set, else the number of active processors.
    static func initialThreadCount() -> Int {
        if let text = ProcessInfo.processInfo.environment["LUCERNA_THREADS"], let value = Int(text), value > 0 {
            openblas_set_num_threads(Int32(value))
            return value
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Runs `body(range)` over `0..<count` split into contiguous chunks, in parallel when the total work
    /// (`count * costPerItem` element operations) is large enough to pay for the threads.
    @inline(__always)
    static func forEachChunk(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, count)
        if workers <= 1 || count * costPerItem < 32_768 {
            if count > 0 { body(0..<count) }
            return
        }
        let chunk = (count + workers - 1) / workers
        withoutActuallyEscaping(body) { body in
            // The kernels' closures capture raw buffers that each chunk touches disjointly.
            let task = UncheckedSendable(value: body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let start = worker * chunk
                let end = min(count, start + chunk)
                if start < end { task.value(start..<end) }
            }
        }
    }
}

/// Carries a value across a concurrency boundary the caller knows to be safe.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
