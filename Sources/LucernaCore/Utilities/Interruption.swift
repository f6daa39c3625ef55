import Foundation

/// A request that running work stop at its next check, with the reason to report: a sandbox's time limit
/// set from a watchdog thread, or any limit a scripting host enforces. Operations that allocate from
/// user-given sizes check it (see ``Tensor/elementCount(of:dtype:operation:)``), and so does every
/// training step, so a long run of engine work without any script instruction still stops.
public enum Interruption {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var pending: String?
    /// Read without the lock on the hot path; the lock orders the reason's text.
    nonisolated(unsafe) private static var isRequested = false

    /// Asks running work to stop with `reason` (the first reason stands until ``clear()``).
    public static func request(_ reason: String) {
        lock.lock()
        defer { lock.unlock() }
        if pending == nil { pending = reason }
        isRequested = true
    }

    /// Withdraws the request (when the work it was for has ended).
    public static func clear() {
        lock.lock()
        defer { lock.unlock() }
        pending = nil
        isRequested = false
    }

    /// The pending reason, if any.
    public static var reason: String? {
        guard isRequested else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return pending
    }

    /// Throws the pending request as an error of `operation`.
    @inline(__always)
    public static func check(_ operation: String) throws {
        if isRequested, let reason { throw TensorError(operation, reason) }
    }
}
