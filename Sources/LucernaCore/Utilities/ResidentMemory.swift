import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The resident memory of this process as the kernel counts it: what `lucerna bench` and run reports show
/// beside time, and what a machine's memory limit is measured against.
public enum ResidentMemory {
    /// Bytes resident now (Linux's `VmRSS`), or nil where the system does not say.
    public static func currentBytes() -> Int? { statusField("VmRSS:") }

    /// The most bytes resident at once since the process started or since the last successful
    /// ``resetPeak()``: Linux's `VmHWM` ("high water mark"), elsewhere `getrusage`'s `ru_maxrss`.
    public static func peakBytes() -> Int? {
        if let bytes = statusField("VmHWM:") { return bytes }
        var usage = rusage()
        #if canImport(Glibc)
            let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
            let who = RUSAGE_SELF
        #endif
        guard getrusage(who, &usage) == 0 else { return nil }
        #if canImport(Darwin)
            return Int(usage.ru_maxrss)  // bytes on Darwin
        #else
            return Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
        #endif
    }

    /// Starts a new peak at the current resident size (Linux 4.0 and later: `5` written to
    /// `/proc/self/clear_refs`), so that a later ``peakBytes()`` covers only what followed. Returns false where
    /// the system cannot (the peak then still counts from the process's start).
    @discardableResult
    public static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do {
            try handle.write(contentsOf: Data("5".utf8))
            return true
        } catch {
            return false
        }
    }

    /// `bytes` in mebibytes.
    public static func mebibytes(_ bytes: Int) -> Double { Double(bytes) / 1_048_576 }

    /// `bytes` in mebibytes with one decimal, for reports.
    public static func megabytes(_ bytes: Int) -> String { String(format: "%.1f", mebibytes(bytes)) }

    /// A `kB` field of `/proc/self/status`, in bytes.
    static func statusField(_ name: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: "/proc/self/status") else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name) {
            let fields = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let value = fields.first.flatMap({ Int($0) }) else { return nil }
            return fields.count > 1 && fields[1] == "kB" ? value * 1024 : value
        }
        return nil
    }
}
