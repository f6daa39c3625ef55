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
        pointer = BufferCache.shared.take(byteCount: max(byteCount, 1))
        if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
    }

    deinit {
        TensorStorage.liveBytes &-= byteCount
        BufferCache.shared.give(pointer, byteCount: max(byteCount, 1))
    }
}

/// Reuses freed tensor buffers by exact size, like PyTorch's caching allocator on CPU: every training
/// step allocates the same activation sizes, and handing them back avoids the page faults of fresh
/// large allocations. Bounded by ``limit`` bytes; thread-safe.
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
    private var cachedBytes = 0
    private var reused = 0, fresh = 0
    private let lock = NSLock()

    /// Large buffers handed out from the cache and freshly allocated so far.
    var counts: (reused: Int, fresh: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (reused, fresh)
    }

    func take(byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= minimumSize {
            lock.lock()
            if let buffer = free[byteCount]?.popLast() {
                cachedBytes -= byteCount
                reused += 1
                lock.unlock()
                return buffer
            }
            fresh += 1
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    func give(_ buffer: UnsafeMutableRawPointer, byteCount: Int) {
        if byteCount >= minimumSize {
            lock.lock()
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
}
