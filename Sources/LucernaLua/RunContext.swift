import Foundation
import LucernaComponents
import LucernaCore

/// One `--set key=value` override of a recipe's config (dotted path; the value is parsed by the type
/// of the value it replaces).
public struct ConfigOverride: Sendable {
    public let path: [String]
    public let text: String

    public init(parsing argument: String) throws {
        guard let equals = argument.firstIndex(of: "=") else {
            throw TensorError("--set", "expected key=value (e.g. --set epochs=3 or --set optimizer.lr=1e-3), got '\(argument)'")
        }
        let key = String(argument[..<equals]), value = String(argument[argument.index(after: equals)...])
        let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty }) else { throw TensorError("--set", "bad key '\(key)' in '\(argument)'") }
        self.path = path
        self.text = value
    }

    public var key: String { path.joined(separator: ".") }
}

/// A run's folder and records: `config.json` (the resolved config), `metrics.jsonl` (one JSON object per
/// `run.log`), `checkpoints/*.safetensors` and `report.md`.
public final class RunContext {
    public let directory: String
    public let recipe: String
    public let seed: Int
    public let threads: Int
    public let overrides: [ConfigOverride]
    public private(set) var resolvedConfig: ConfigValue?
    public private(set) var lastMetrics: [String: ConfigValue] = [:]
    public private(set) var metricsCount = 0
    public private(set) var checkpoints: [String] = []
    /// Whether a `--set` override failed (a usage error: exit code 2).
    public private(set) var overrideFailed = false
    let started = Date()
    private var reportLines: [String] = []

    /// Creates the folder (and `checkpoints/`).
    public init(directory: String, recipe: String, seed: Int, threads: Int, overrides: [ConfigOverride] = []) throws {
        self.directory = directory
        self.recipe = recipe
        self.seed = seed
        self.threads = threads
        self.overrides = overrides
        do {
            try FileManager.default.createDirectory(atPath: "\(directory)/checkpoints", withIntermediateDirectories: true)
        } catch {
            throw TensorError("run", "cannot create the run folder \(directory): \(error.localizedDescription)")
        }
    }

    /// `runs/<recipe name>-<UTC timestamp>`, with a numeric suffix if it exists.
    public static func defaultDirectory(for recipe: String, root: String = "runs") -> String {
        let stem = URL(fileURLWithPath: recipe).deletingPathExtension().lastPathComponent
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let base = "\(root)/\(stem)-\(formatter.string(from: Date()))"
        var candidate = base, suffix = 2
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(base)-\(suffix)"
            suffix += 1
        }
        return candidate
    }

    /// Applies the overrides to `defaults` (every key must exist; values are parsed by the type they
    /// replace), records and writes the resolved config.
    public func resolve(_ defaults: [String: ConfigValue], parseTable: (String, String) throws -> ConfigValue) throws -> [String: ConfigValue] {
        var config = defaults
        do {
            for override in overrides { config = try apply(override, to: config, depth: 0, parseTable: parseTable) }
        } catch {
            overrideFailed = true
            throw error
        }
        resolvedConfig = .table(config)
        try write("config.json", ConfigValue.table(config).json + "\n")
        return config
    }

    private func apply(_ override: ConfigOverride, to table: [String: ConfigValue], depth: Int,
                       parseTable: (String, String) throws -> ConfigValue) throws -> [String: ConfigValue] {
        let key = override.path[depth]
        guard let current = table[key] else {
            let known = table.keys.sorted()
            throw TensorError("--set \(override.key)", "the config has no key '\(key)'\(suggestion(for: key, in: known)); keys: \(known.joined(separator: ", "))")
        }
        var result = table
        if depth + 1 < override.path.count {
            guard case .table(let inner) = current else {
                throw TensorError("--set \(override.key)", "'\(override.path[...depth].joined(separator: "."))' is a \(current.kindName), not a table")
            }
            result[key] = .table(try apply(override, to: inner, depth: depth + 1, parseTable: parseTable))
            return result
        }
        let text = override.text.trimmingCharacters(in: .whitespaces)
        func bad(_ expected: String) -> TensorError {
            TensorError("--set \(override.key)", "expected \(expected) (the type of the recipe's value \(current)), got '\(override.text)'")
        }
        switch current {
        case .number:
            guard let number = Double(text), number.isFinite else { throw bad("a number") }
            result[key] = .number(number)
        case .boolean:
            guard text == "true" || text == "false" else { throw bad("true or false") }
            result[key] = .boolean(text == "true")
        case .string: result[key] = .string(override.text)
        case .list, .table: result[key] = try parseTable(text, override.key)
        case .null, .tensor, .object: throw bad("a value of a settable type")
        }
        return result
    }

    /// Appends one JSON object to `metrics.jsonl` (or another JSON-lines file of the run folder).
    public func log(_ fields: [String: ConfigValue], file: String = "metrics.jsonl") throws {
        var record = fields
        record["time"] = .number((Date().timeIntervalSince(started) * 1000).rounded() / 1000)
        try append(file, ConfigValue.table(record).json + "\n")
        guard file == "metrics.jsonl" else { return }
        lastMetrics = fields
        metricsCount += 1
    }

    /// Records a checkpoint written under `checkpoints/`.
    func recordCheckpoint(_ path: String) { if !checkpoints.contains(path) { checkpoints.append(path) } }

    /// Adds a line to the report.
    public func note(_ line: String) { reportLines.append(line) }

    /// Writes `report.md`: what ran, how long, the final metrics, checkpoints and the outcome.
    public func writeReport(error: String?) {
        let seconds = Date().timeIntervalSince(started)
        var lines = ["# Run report", "",
                     "- recipe: `\(recipe)`", "- seed: \(seed)", "- threads: \(threads)",
                     "- overrides: \(overrides.isEmpty ? "none" : overrides.map { "`\($0.key)=\($0.text)`" }.joined(separator: ", "))",
                     "- duration: \(String(format: "%.1f", seconds)) s",
                     "- outcome: \(error == nil ? "completed" : "failed")", ""]
        if let error { lines += ["## Error", "", "```", error, "```", ""] }
        if resolvedConfig != nil { lines += ["Resolved config: `config.json`.", ""] }
        if !lastMetrics.isEmpty {
            lines += ["## Last metrics (\(metricsCount) records in `metrics.jsonl`)", "", "| name | value |", "|---|---|"]
            lines += lastMetrics.keys.sorted().map { "| \($0) | \(lastMetrics[$0]?.description ?? "") |" }
            lines.append("")
        }
        if !checkpoints.isEmpty { lines += ["## Checkpoints", ""] + checkpoints.map { "- `\($0)`" } + [""] }
        if !reportLines.isEmpty { lines += ["## Notes", ""] + reportLines + [""] }
        try? write("report.md", lines.joined(separator: "\n"))
    }

    func write(_ name: String, _ text: String) throws {
        do { try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8) } catch {
            throw TensorError("run", "cannot write \(directory)/\(name): \(error.localizedDescription)")
        }
    }

    private func append(_ name: String, _ text: String) throws {
        let path = "\(directory)/\(name)"
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw TensorError("run", "cannot open \(path)") }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
    }
}
