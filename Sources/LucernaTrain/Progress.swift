import Foundation

/// A one-line progress bar with throughput and ETA on standard error; silent when standard error is
/// not a terminal (logs stay clean), in which case only ``finish(_:)`` prints.
public final class Progress {
    let label: String
    let total: Int
    let unit: String
    let start = Date()
    var lastDraw = Date.distantPast
    let interactive: Bool

    public init(_ label: String, total: Int, unit: String = "samples") {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        interactive = isatty(FileHandle.standardError.fileDescriptor) != 0
    }

    /// Elapsed seconds since creation.
    public var elapsed: Double { Date().timeIntervalSince(start) }

    /// Reports `done` of `total` units, with an optional trailing note (e.g. the running loss).
    public func update(_ done: Int, note: String = "") {
        guard interactive, Date().timeIntervalSince(lastDraw) > 0.1 || done >= total else { return }
        lastDraw = Date()
        let fraction = min(Double(done) / Double(total), 1)
        let width = 24
        let filled = Int(fraction * Double(width))
        let rate = Double(done) / max(elapsed, 1e-9)
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(
            format: "\r%@ %@ %3.0f%% %.0f %@/s ETA %@ %@", label, bar, fraction * 100, rate, unit,
            Progress.format(seconds: remaining), note)
        FileHandle.standardError.write(
            line.padding(toLength: 110, withPad: " ", startingAt: 0).data(using: .utf8) ?? Data())
    }

    /// Clears the bar.
    public func finish() {
        if interactive {
            FileHandle.standardError.write("\r\(String(repeating: " ", count: 110))\r".data(using: .utf8) ?? Data())
        }
    }

    /// `m:ss` or `h:mm:ss`.
    public static func format(seconds: Double) -> String {
        let total = Int(seconds.isFinite ? seconds.rounded() : 0)
        return total >= 3600
            ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }
}
