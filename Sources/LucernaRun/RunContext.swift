import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaTrain

/// One `--set key=value` override of a recipe's config (dotted path; the value is parsed by the type
/// of the value it replaces).
public struct ConfigOverride: Sendable {
    public let path: [String]
    public let text: String

    public init(parsing argument: String) throws {
        guard let equals = argument.firstIndex(of: "=") else {
            throw ConfigurationError(
                "--set", "expected key=value (e.g. --set epochs=3 or --set optimizer.lr=1e-3), got '\(argument)'")
        }
        let key = String(argument[..<equals])
        let value = String(argument[argument.index(after: equals)...])
        let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigurationError("--set", "bad key '\(key)' in '\(argument)'")
        }
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
    /// Whether this run continues an interrupted one (`lucerna run --resume`): `train{}` loads its last
    /// checkpoint instead of starting over.
    public let resuming: Bool
    /// Whether `lucerna.config{seeds = {...}}` may turn this run into one run per seed (a plain
    /// `lucerna run` without --seed or --seeds).
    public var expandsSeeds = false
    /// The seeds the recipe asked for, when it did so and ``expandsSeeds`` allowed it.
    public private(set) var requestedSeeds: [Int]?
    /// Set by `lucerna sweep RECIPE` without `--grid`: the recipe runs only until its `lucerna.sweep{...}`,
    /// whose grid and seeds are kept in ``sweepPlan``; `lucerna.config{...}` before it is an error.
    public var plansSweep = false
    /// The grid and seeds of the recipe's `lucerna.sweep{...}` (when ``plansSweep``).
    public private(set) var sweepPlan: (grid: [Sweep.Axis], seeds: [Int]?)?

    /// Records the recipe's sweep and stops the recipe (it runs only to declare its sweep).
    public func planSweep(grid: [Sweep.Axis], seeds: [Int]?) throws {
        sweepPlan = (grid, seeds)
        throw ConfigurationError("lucerna.sweep", "the sweep is planned; the recipe stops here")
    }

    /// Names of the `train{}` calls so far (each needs its own checkpoint files).
    public var trainerNames: Set<String> = []
    /// When resuming: the epochs each `train{}` (by name) had finished according to the interrupted run's
    /// `metrics.jsonl`, so a resume whose checkpoint is missing fails instead of silently starting over.
    public private(set) var epochsBeforeResume: [String: Int] = [:]
    let started = Date()
    /// Whether the process's peak resident memory was reset when this run began (``ResidentMemory/resetPeak()``),
    /// so that the report's peak is this run's alone rather than the process's since it started.
    public var peakMemoryIsThisRun = false
    private var reportLines: [String] = []
    /// `tb/`'s event file, created by the first record or image.
    private var tensorBoard: TensorBoardLog?

    private func tensorBoardLog() throws -> TensorBoardLog {
        if let tensorBoard { return tensorBoard }
        let created = try TensorBoardLog(folder: directory)
        tensorBoard = created
        return created
    }

    /// Creates the folder (and `checkpoints/`).
    /// When `resuming`, the JSON-lines records are cleared: the recipe runs again from the top and
    /// `train{}` re-logs its history from the checkpoint, so the files end as an uninterrupted run's.
    public init(
        directory: String, recipe: String, seed: Int, threads: Int, overrides: [ConfigOverride] = [],
        resuming: Bool = false
    ) throws {
        self.directory = directory
        self.recipe = recipe
        self.seed = seed
        self.threads = threads
        self.overrides = overrides
        self.resuming = resuming
        do {
            try FileManager.default.createDirectory(
                atPath: "\(directory)/checkpoints", withIntermediateDirectories: true)
        } catch {
            throw RunError("run", "cannot create the run folder \(directory): \(error.localizedDescription)")
        }
        // A summary left by an earlier run in this folder does not describe this one (it is written again at the end).
        try? FileManager.default.removeItem(atPath: "\(directory)/summary.json")
        if resuming {
            epochsBeforeResume = Self.finishedEpochs(in: "\(directory)/metrics.jsonl")
            for name in ["metrics.jsonl", "components.jsonl", "splits.jsonl", "tb"] {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
            }
        }
    }

    /// The files and folders of a run folder that Lucerna writes and a resumed run trusts (the invocation,
    /// the recipe's copy, checkpoints, summaries and records); a sandboxed recipe may read them, not write them.
    public static let recordNames = [
        "run.json", "recipe.lua", ".lock", "checkpoints", "summary.json", "config.json", "metrics.jsonl",
        "components.jsonl", "splits.jsonl", "report.md", "report.html", "images", "output.log", "tb",
    ]

    /// The highest `epoch` logged per `trainer` in a metrics file (unreadable lines are skipped).
    static func finishedEpochs(in path: String) -> [String: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var epochs: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let trainer = object["trainer"] as? String, let epoch = (object["epoch"] as? NSNumber)?.intValue
            else { continue }
            epochs[trainer] = max(epochs[trainer] ?? 0, epoch)
        }
        return epochs
    }

    /// `runs/<recipe name>-<UTC timestamp>`, with a numeric suffix if it exists.
    public static func defaultDirectory(for recipe: String, root: String = "runs") -> String {
        let stem = URL(fileURLWithPath: recipe).deletingPathExtension().lastPathComponent
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let base = "\(root)/\(stem)-\(formatter.string(from: Date()))"
        var candidate = base
        var suffix = 2
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(base)-\(suffix)"
            suffix += 1
        }
        return candidate
    }

    /// Applies the overrides to `defaults` (every key must exist; values are parsed by the type they
    /// replace), records and writes the resolved config.
    public func resolve(_ defaults: [String: ConfigValue], parseTable: (String, String) throws -> ConfigValue) throws
        -> [String: ConfigValue]
    {
        guard !plansSweep else {
            throw ConfigurationError(
                "lucerna.config",
                "`lucerna sweep RECIPE` without --grid reads the recipe's lucerna.sweep{grid = {...}}, which must come before lucerna.config{...}"
            )
        }
        var config = defaults
        do {
            for override in overrides { config = try apply(override, to: config, depth: 0, parseTable: parseTable) }
        } catch {
            overrideFailed = true
            throw error
        }
        resolvedConfig = .table(config)
        try write("config.json", ConfigValue.table(config).json + "\n")
        if expandsSeeds, case .list(let items)? = config["seeds"] {
            let seeds = items.compactMap { $0.numberValue }.filter { $0.rounded() == $0 && abs($0) < 1e15 }.map {
                Int($0)
            }
            guard seeds.count == items.count, !seeds.isEmpty, Set(seeds).count == seeds.count else {
                throw ConfigurationError(
                    "lucerna.config",
                    "seeds must be a list of distinct integers such as {1, 2, 3}, got \(config["seeds"]?.description ?? "nil")"
                )
            }
            requestedSeeds = seeds
            throw ConfigurationError(
                "lucerna.config", "the recipe asks for seeds \(seeds); the run restarts once per seed")
        }
        return config
    }

    private func apply(
        _ override: ConfigOverride, to table: [String: ConfigValue], depth: Int,
        parseTable: (String, String) throws -> ConfigValue
    ) throws -> [String: ConfigValue] {
        let key = override.path[depth]
        guard let current = table[key] else {
            let known = table.keys.sorted()
            throw ConfigurationError(
                "--set \(override.key)",
                "the config has no key '\(key)'\(suggestion(for: key, in: known)); keys: \(known.joined(separator: ", "))"
            )
        }
        var result = table
        if depth + 1 < override.path.count {
            guard case .table(let inner) = current else {
                throw ConfigurationError(
                    "--set \(override.key)",
                    "'\(override.path[...depth].joined(separator: "."))' is a \(current.kindName), not a table")
            }
            result[key] = .table(try apply(override, to: inner, depth: depth + 1, parseTable: parseTable))
            return result
        }
        let text = override.text.trimmingCharacters(in: .whitespaces)
        func bad(_ expected: String) -> ConfigurationError {
            ConfigurationError(
                "--set \(override.key)",
                "expected \(expected) (the type of the recipe's value \(current)), got '\(override.text)'")
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

    /// Appends one JSON object to `metrics.jsonl` (or another JSON-lines file of the run folder); a
    /// `metrics.jsonl` record also goes to the TensorBoard events in `tb/`.
    public func log(_ fields: [String: ConfigValue], file: String = "metrics.jsonl") throws {
        var record = fields
        let now = Date()
        record["time"] = .number((now.timeIntervalSince(started) * 1000).rounded() / 1000)
        try append(file, ConfigValue.table(record).json + "\n")
        guard file == "metrics.jsonl" else { return }
        try tensorBoardLog().log(record, index: metricsCount, wallTime: now.timeIntervalSince1970)
        // The latest value of every field; a named trainer's fields are prefixed (`revised.test_accuracy`)
        // so two train{} calls in one recipe do not overwrite each other.
        var prefix = ""
        if case .string(let trainer)? = fields["trainer"], trainer != "train" { prefix = "\(trainer)." }
        for (key, value) in fields where key != "trainer" { lastMetrics[prefix + key] = value }
        metricsCount += 1
    }

    /// Test evaluations by trainer name (values and each metric's report), written to `evaluation.json`.
    public private(set) var evaluations: [String: ConfigValue] = [:]

    /// Records a trainer's test evaluation and rewrites `evaluation.json`.
    /// `classNames`, the evaluated data set's, label its confusion matrices and per-class tables in the report.
    public func recordEvaluation(
        trainer: String, values: [String: Double], reports: [String: [String: ConfigValue]], classNames: [String]? = nil
    ) throws {
        var entry: [String: ConfigValue] = [
            "values": .table(values.mapValues(ConfigValue.number)),
            "reports": .table(reports.mapValues(ConfigValue.table)),
        ]
        if let classNames { entry["class_names"] = .list(classNames.map(ConfigValue.string)) }
        evaluations[trainer] = .table(entry)
        try write("evaluation.json", ConfigValue.table(evaluations).json + "\n")
    }

    /// Records a checkpoint written under `checkpoints/`.
    public func recordCheckpoint(_ path: String) { if !checkpoints.contains(path) { checkpoints.append(path) } }

    /// Adds a line to the report.
    public func note(_ line: String) { reportLines.append(line) }

    /// Writes `report.md`: what ran, how long, the final metrics, checkpoints and the outcome.
    /// The peak resident memory for the report: mebibytes, and since when it counts.
    var peakMemory: String {
        guard let bytes = ResidentMemory.peakBytes() else { return "not available on this system" }
        return
            "\(ResidentMemory.megabytes(bytes)) MiB (\(peakMemoryIsThisRun ? "this run" : "since the process started"))"
    }

    public func writeReport(error: String?) {
        let seconds = Date().timeIntervalSince(started)
        var lines = [
            "# Run report", "",
            "- recipe: `\(recipe)`", "- seed: \(seed)", "- threads: \(threads)", "- OpenBLAS kernels: \(BLASCore.name)",
            "- overrides: \(overrides.isEmpty ? "none" : overrides.map { "`\($0.key)=\($0.text)`" }.joined(separator: ", "))",
            "- duration: \(String(format: "%.1f", seconds)) s",
            "- peak resident memory: \(peakMemory)",
            "- outcome: \(error == nil ? "completed" : "failed")", "",
        ]
        if let results = RunReport.headlineMarkdown(folder: directory) {
            lines.insert(contentsOf: ["## Results", "", results, "", "Full precision in `metrics.jsonl`.", ""], at: 2)
        }
        if let error { lines += ["## Error", "", "```", error, "```", ""] }
        if resolvedConfig != nil { lines += ["Resolved config: `config.json`.", ""] }
        if !lastMetrics.isEmpty {
            lines += [
                "## Last metrics (latest value of each field, rounded, over \(metricsCount) records in `metrics.jsonl`)",
                "", "| name | value |", "|---|---|",
            ]
            lines += lastMetrics.keys.sorted().map { key in
                let value = lastMetrics[key].map { value in
                    value.numberValue.map { RunReport.readable($0, name: key) } ?? value.description
                }
                return "| \(key) | \(value ?? "") |"
            }
            lines.append("")
        }
        if !checkpoints.isEmpty { lines += ["## Checkpoints", ""] + checkpoints.map { "- `\($0)`" } + [""] }
        if !reportLines.isEmpty { lines += ["## Notes", ""] + reportLines + [""] }
        try? write("report.md", lines.joined(separator: "\n"))
        let overview = [
            ("recipe", recipe), ("seed", "\(seed)"), ("threads", "\(threads)"),
            ("OpenBLAS kernels", BLASCore.name),
            (
                "overrides",
                overrides.isEmpty ? "none" : overrides.map { "\($0.key)=\($0.text)" }.joined(separator: ", ")
            ),
            ("duration", String(format: "%.1f s", seconds)), ("peak resident memory", peakMemory),
            ("outcome", error == nil ? "completed" : "failed"),
            ("checkpoints", checkpoints.isEmpty ? "none" : checkpoints.joined(separator: ", ")),
        ]
        try? RunReport.write(
            folder: directory, title: "Run report: \(URL(fileURLWithPath: recipe).lastPathComponent)",
            overview: overview, notes: reportLines, error: error)
    }

    /// Saves an image grid (`[N, H, W]` or `[N, C, H, W]`, C 1 or 3) as `images/<name>.png`, which
    /// `report.html` embeds; `series` is its TensorBoard tag and step (default: the name, step 0).
    public func saveImage(
        _ name: String, _ images: Tensor, columns: Int, range: (Double, Double)?,
        series: (tag: String, step: Int)? = nil
    ) throws -> String {
        try savePNG(
            name, try PNG.grid(images, columns: columns, range: range), caption: nil, operation: "run.image",
            series: series)
    }

    /// Writes `images/<name>.png` (and the caption beside it, shown by `report.html`) and the same PNG as an
    /// image summary in `tb/`, tagged `series` (default: the name, step 0).
    public func savePNG(
        _ name: String, _ data: Data, caption: String?, operation: String, series: (tag: String, step: Int)? = nil
    ) throws -> String {
        guard name.range(of: "^[A-Za-z0-9_.-]+$", options: .regularExpression) != nil, !name.hasPrefix(".") else {
            throw ConfigurationError(operation, "image name '\(name)' must use letters, digits, '_', '-' and '.'")
        }
        let folder = "\(directory)/images"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: "\(folder)/\(name).png"), options: .atomic)
            if let caption { try caption.write(toFile: "\(folder)/\(name).txt", atomically: true, encoding: .utf8) }
        } catch {
            throw RunError(operation, "cannot write \(folder)/\(name).png: \(error.localizedDescription)")
        }
        try tensorBoardLog().image(
            tag: series?.tag ?? name, step: series?.step ?? 0, png: data, wallTime: Date().timeIntervalSince1970)
        return "\(folder)/\(name).png"
    }

    public func write(_ name: String, _ text: String) throws {
        do { try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8) } catch {
            throw RunError("run", "cannot write \(directory)/\(name): \(error.localizedDescription)")
        }
    }

    private func append(_ name: String, _ text: String) throws {
        let path = "\(directory)/\(name)"
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw RunError("run", "cannot open \(path)") }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
    }
}
