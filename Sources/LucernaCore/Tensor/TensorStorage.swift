import Foundation

/// Contiguous, 64-byte aligned memory holding a tensor's elements. Reshaped tensors share it.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the elements.
    public let pointer: UnsafeMutableRawPointer
    /// Size of the buffer in bytes.
    public let byteCount: Int

    /// Bytes of tensor storage allocated since the process started (wrapping). A scripting host compares
    /// readings to decide when to run its garbage collector. The engine is driven from one thread at a time.
    nonisolated(unsafe) public private(set) static var allocatedBytes = 0

    /// Tensor storages allocated since the process started (wrapping): `lucerna bench` reports them per step.
    nonisolated(unsafe) public private(set) static var allocationCount = 0

    /// Of the storages of at least 64 KiB (the ones the buffer cache serves): how many reused a cached buffer
    /// and how many took fresh memory, since the process started.
    public static var cacheCounts: (reused: Int, fresh: Int) { BufferCache.shared.counts }

    /// Bytes of tensor storage alive now (for memory caps).
    nonisolated(unsafe) public private(set) static var liveBytes = 0

    /// Asked before a tensor whose size comes from user input (a shape, a broadcast, a matrix product) is
    /// allocated, with its byte count and the operation; throws to refuse it. A sandboxed scripting host
    /// sets it to hold a memory cap before the memory is taken rather than after.
    nonisolated(unsafe) public static var admission: ((_ byteCount: Int, _ operation: String) throws -> Void)?

    /// Allocates `byteCount` bytes, zero-filled when `zeroed` is true.
    init(byteCount: Int, zeroed: Bool) {
        TensorStorage.allocatedBytes &+= byteCount
        TensorStorage.allocationCount &+= 1
        TensorStorage.liveBytes &+= byteCount
        self.byteCount = byteCount
        pointer = BufferCache.shared.take(byteCount: max(byteCount, 1), liveBytes: TensorStorage.liveBytes)
        if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
    }

    deinit {
        TensorStorage.liveBytes &-= byteCount
        BufferCache.shared.give(pointer, byteCount: max(byteCount, 1), liveBytes: TensorStorage.liveBytes)
    }
}

/// Reuses freed tensor buffers by exact size, like PyTorch's caching allocator: every training step allocates
/// the same activation sizes, and handing them back avoids the page faults of fresh large allocations. Bounded
/// by ``limit`` bytes; thread-safe. A request the cache cannot serve, which would raise the process's footprint
/// (live tensor bytes plus cached bytes) above its earlier peak, first releases the cached buffers of the least
/// recently requested sizes, so that memory kept for one phase of a run (the training step's sizes) goes back
/// once another phase (explanations over large batches) needs other sizes, instead of adding up to the whole
/// limit to the peak. A released buffer whose size is requested again was still in use (a loop that needs one
/// more buffer than its first iteration did): as many requests of that size as buffers were released let the
/// footprint grow instead of releasing more, so a steady loop settles after a few iterations with every
/// request served.
final class BufferCache: @unchecked Sendable {
    static let shared = BufferCache()

    /// Most bytes kept for reuse: 1 GiB, or `LUCERNA_BUFFER_CACHE_MB` mebibytes (0 turns the cache off).
    let limit: Int = {
        guard let text = ProcessInfo.processInfo.environment["LUCERNA_BUFFER_CACHE_MB"], let megabytes = Int(text),
            megabytes >= 0
        else { return 1 << 30 }
        return megabytes << 20
    }()
    /// Buffers smaller than this go straight to malloc (which is fast for them).
    let minimumSize = 1 << 16
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    /// When each cached size was last requested (a counter of requests).
    private var lastRequested: [Int: Int] = [:]
    /// Buffers of each size released to keep the footprint and not requested again since.
    private var releasedBuffers: [Int: Int] = [:]
    private var requests = 0
    private var cachedBytes = 0
    /// The highest live plus cached bytes seen at a request or a return.
    private var peakFootprint = 0
    private var reused = 0, fresh = 0, released = 0
    private let lock = NSLock()

    /// Large buffers handed out from the cache and freshly allocated so far.
    var counts: (reused: Int, fresh: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (reused, fresh)
    }

    /// Bytes held for reuse now, and cached buffers released to make room for other sizes so far.
    var holding: (bytes: Int, released: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (cachedBytes, released)
    }

    /// A buffer of `byteCount` bytes; `liveBytes` counts the live tensor bytes, this request's included.
    func take(byteCount: Int, liveBytes: Int) -> UnsafeMutableRawPointer {
        var evicted: [UnsafeMutableRawPointer] = []
        if byteCount >= minimumSize {
            lock.lock()
            requests += 1
            lastRequested[byteCount] = requests
            if let buffer = free[byteCount]?.popLast() {
                cachedBytes -= byteCount
                reused += 1
                lock.unlock()
                return buffer
            }
            fresh += 1
            if let count = releasedBuffers[byteCount] {
                releasedBuffers[byteCount] = count > 1 ? count - 1 : nil
            } else {
                evicted = evict(toFootprint: peakFootprint, liveBytes: liveBytes)
            }
            peakFootprint = max(peakFootprint, liveBytes + cachedBytes)
            lock.unlock()
        }
        for buffer in evicted { buffer.deallocate() }
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    /// Takes back a buffer of `byteCount` bytes; `liveBytes` counts the live tensor bytes, this one's excluded.
    func give(_ buffer: UnsafeMutableRawPointer, byteCount: Int, liveBytes: Int) {
        if byteCount >= minimumSize {
            lock.lock()
            peakFootprint = max(peakFootprint, liveBytes + byteCount + cachedBytes)
            if cachedBytes + byteCount <= limit {
                free[byteCount, default: []].append(buffer)
                cachedBytes += byteCount
                lock.unlock()
                return
            }
            lock.unlock()
        }
        buffer.deallocate()
    }

    /// A cache that goes away (a test's own; the shared one lives as long as the process) frees its buffers.
    deinit {
        for buffer in free.values.joined() { buffer.deallocate() }
    }

    /// Takes cached buffers out of the cache, every buffer of the least recently requested size at a time,
    /// until live plus cached bytes are at most `footprint` (or nothing is cached), for the caller to
    /// deallocate after unlocking. Called with the lock held.
    private func evict(toFootprint footprint: Int, liveBytes: Int) -> [UnsafeMutableRawPointer] {
        var evicted: [UnsafeMutableRawPointer] = []
        guard liveBytes + cachedBytes > footprint else { return evicted }
        // Sizes whose every buffer is out (an empty list) have nothing to release.
        let oldestFirst = free.filter { !$0.value.isEmpty }.keys.map { (size: $0, requested: lastRequested[$0] ?? 0) }
            .sorted { ($0.requested, $0.size) < ($1.requested, $1.size) }
        for (size, _) in oldestFirst {
            guard liveBytes + cachedBytes > footprint else { break }
            let buffers = free[size] ?? []
            evicted += buffers
            cachedBytes -= size * buffers.count
            releasedBuffers[size, default: 0] += buffers.count
            free[size] = nil
        }
        released += evicted.count
        return evicted
    }
}
