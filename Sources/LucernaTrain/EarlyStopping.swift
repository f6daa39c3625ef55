import LucernaCore

/// Stops training when a validation metric has not improved for `patience` epochs (as Keras'
/// `EarlyStopping` and Lightning's callback): an epoch improves when its value beats the best so far by
/// more than `minimumDelta` in the direction of `mode`.
public struct EarlyStopping: Sendable {
    public enum Mode: String, Sendable {
        case minimize = "min"
        case maximize = "max"
    }

    /// The record key watched, e.g. `val_f1` or `val_loss`.
    public let metric: String
    public let patience: Int
    public let mode: Mode
    public let minimumDelta: Double

    public init(metric: String, patience: Int, mode: Mode, minimumDelta: Double = 0) throws {
        guard patience >= 1 else { throw TensorError("early_stopping", "patience must be at least 1, got \(patience)") }
        guard minimumDelta >= 0, minimumDelta.isFinite else {
            throw TensorError("early_stopping", "min_delta must be finite and non-negative, got \(minimumDelta)")
        }
        self.metric = metric
        self.patience = patience
        self.mode = mode
        self.minimumDelta = minimumDelta
    }

    /// The mode a metric name implies when none is given: `min` for losses and errors, else `max`.
    public static func defaultMode(for metric: String) -> Mode {
        let lowered = metric.lowercased()
        return ["loss", "error", "ece", "difference"].contains { lowered.contains($0) } ? .minimize : .maximize
    }

    /// Whether `value` improves on `best` (any finite value improves on no best).
    public func improves(_ value: Double, on best: Double?) -> Bool {
        guard value.isFinite else { return false }
        guard let best else { return true }
        return mode == .maximize ? value > best + minimumDelta : value < best - minimumDelta
    }
}
