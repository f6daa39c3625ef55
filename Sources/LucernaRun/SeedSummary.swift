import Foundation
import LucernaComponents
import LucernaCore
import LucernaTrain

/// The aggregate of one recipe run once per seed: for every numeric field of each run's last
/// `run.log` record, the mean, the sample standard deviation (n − 1; 0 for one seed) and the per-seed
/// values, as a paper reports "mean ± std over seeds".
public struct SeedSummary {
    public let seeds: [Int]
    /// Metric name → values in seed order (fields missing from a run are left out of that metric).
    public let values: [String: [Double]]

    /// The aggregate of per-seed records (each seed's metric name → value).
    public init(records: [(seed: Int, metrics: [String: Double])]) throws {
        seeds = records.map(\.seed)
        var collected: [String: [Double]] = [:]
        for record in records {
            for (name, number) in record.metrics { collected[name, default: []].append(number) }
        }
        guard !collected.isEmpty else {
            throw RunError("--seeds", "the runs logged no numeric metrics (use run.log{...})")
        }
        values = collected
    }

    private init(seeds: [Int], values: [String: [Double]]) {
        self.seeds = seeds
        self.values = values
    }

    /// The summary in `folder/summary.json` (what ``json`` wrote), or nil when the folder has none; a file that
    /// is not such a summary is an error naming it.
    public static func load(from folder: String) throws -> SeedSummary? {
        let path = "\(folder)/summary.json"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        func fail(_ message: String) -> RunError { RunError("summary", "\(path): \(message)") }
        let document: ConfigValue
        do { document = try ConfigValue(parsingJSON: String(decoding: data, as: UTF8.self)) } catch {
            throw fail("\(error)")
        }
        guard case .table(let fields) = document, case .list(let seedList)? = fields["seeds"],
            case .table(let metrics)? = fields["metrics"]
        else {
            throw fail("not a Lucerna summary (expected {\"seeds\": [...], \"metrics\": {...}})")
        }
        let seeds = seedList.compactMap { $0.numberValue }.filter { $0.rounded() == $0 && abs($0) < 1e15 }.map {
            Int($0)
        }
        guard seeds.count == seedList.count else { throw fail("seeds must be integers") }
        var values: [String: [Double]] = [:]
        for (name, entry) in metrics {
            guard case .table(let statistics) = entry, case .list(let list)? = statistics["values"], !list.isEmpty,
                list.count <= seeds.count
            else {
                throw fail("metric \(name) has no per-seed values")
            }
            let numbers = list.compactMap { $0.numberValue }
            guard numbers.count == list.count else { throw fail("metric \(name) has a value that is not a number") }
            values[name] = numbers
        }
        return SeedSummary(seeds: seeds, values: values)
    }

    /// The seed and metrics of a finished one-seed run (its folder's summary), or nil when the folder has none
    /// (the run has not finished).
    public static func finishedRun(in folder: String) throws -> (seed: Int, metrics: [String: Double])? {
        guard let summary = try load(from: folder) else { return nil }
        guard summary.seeds.count == 1 else {
            throw RunError(
                "summary",
                "\(folder)/summary.json aggregates \(summary.seeds.count) seeds; expected the summary of one seed")
        }
        return (seed: summary.seeds[0], metrics: summary.values.compactMapValues(\.first))
    }

    /// `summary.json`.
    public var json: String {
        let metrics = values.mapValues { list -> ConfigValue in
            .table([
                "mean": .number(SampleStatistics.mean(list)), "std": .number(SampleStatistics.standardDeviation(list)),
                "values": .list(list.map { .number($0) }),
            ])
        }
        return ConfigValue.table([
            "seeds": .list(seeds.map { .number(Double($0)) }), "metrics": .table(metrics),
            "std_note": .string("sample standard deviation (n - 1)"),
        ]).json + "\n"
    }

    /// A Markdown table: metric, mean ± std, per-seed values.
    public var table: String {
        var lines = [
            "| metric | mean ± std (\(seeds.count) seeds) | " + seeds.map { "seed \($0)" }.joined(separator: " | ")
                + " |",
            "|---|---|" + String(repeating: "---|", count: seeds.count),
        ]
        for name in values.keys.sorted() {
            let list = values[name] ?? []
            func format(_ value: Double) -> String { String(format: abs(value) >= 100 ? "%.2f" : "%.4f", value) }
            lines.append(
                "| \(name) | \(format(SampleStatistics.mean(list))) ± \(format(SampleStatistics.standardDeviation(list))) | "
                    + list.map(format).joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// Writes `summary.json` and `report.md` into `folder`.
    public func write(to folder: String, recipe: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try json.write(toFile: "\(folder)/summary.json", atomically: true, encoding: .utf8)
        let report = [
            "# Results over seeds", "", "- recipe: `\(recipe)`",
            "- seeds: \(seeds.map(String.init).joined(separator: ", "))",
            "- per-seed run folders: " + seeds.map { "`seed-\($0)/`" }.joined(separator: ", "), "",
            "Last logged value of each metric per seed; standard deviation with n − 1.", "", table, "",
        ]
        try report.joined(separator: "\n").write(toFile: "\(folder)/report.md", atomically: true, encoding: .utf8)
        try RunReport.write(
            folder: folder, title: "Results over seeds: \(URL(fileURLWithPath: recipe).lastPathComponent)",
            overview: [
                ("recipe", recipe), ("seeds", seeds.map(String.init).joined(separator: ", ")),
                ("per-seed folders", seeds.map { "seed-\($0)/" }.joined(separator: ", ")),
            ])
    }
}

extension RunContext {
    /// The run's seed and the latest value of each of its numeric metrics, as ``SeedSummary`` aggregates them.
    public var seedRecord: (seed: Int, metrics: [String: Double]) {
        (
            seed: seed,
            metrics: lastMetrics.compactMapValues { value -> Double? in
                if case .number(let number) = value { number } else { nil }
            }
        )
    }
}
