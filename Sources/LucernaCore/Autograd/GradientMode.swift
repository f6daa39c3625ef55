/// Whether operations are being recorded for autodiff.
///
/// The engine is driven from one thread at a time (kernels parallelise internally), so the flag is a
/// process-wide value, as in Torch7.
public enum GradientMode {
    nonisolated(unsafe) static var recording = true

    /// Whether operations are currently recorded.
    public static var isEnabled: Bool { recording }

    /// Runs `body` with recording switched on or off, restoring the previous state afterwards.
    public static func with<Result>(enabled: Bool, _ body: () throws -> Result) rethrows -> Result {
        let previous = recording
        recording = enabled
        defer { recording = previous }
        return try body()
    }
}

/// Runs `body` without recording operations for autodiff (like `torch.no_grad()`).
public func noGrad<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientMode.with(enabled: false, body)
}
