import Foundation
import LucernaComponents
import LucernaCore
import LucernaTrain

/// `lucerna report RUN_DIR ...`: one row per run folder, one column per metric — mean ± std from the run's
/// `summary.json` (every run writes one; a multi-seed run aggregates its seeds), else the latest value of
/// each field in `metrics.jsonl` — for baseline-vs-method and ablation tables, in Markdown or HTML.
public enum RunComparison {
    /// One metric of one run.
    public struct Cell {
        public let mean: Double
        public let standardDeviation: Double?
        public let seeds: Int

        var text: String {
            guard let standardDeviation, seeds > 1 else { return String(format: "%.4f", mean) }
            return String(format: "%.4f ± %.4f", mean, standardDeviation)
        }
    }

    /// A run's metrics by name.
    static func metrics(of folder: String) throws -> [String: Cell] {
        let metricsPath = "\(folder)/metrics.jsonl"
        if let summary = try SeedSummary.load(from: folder) {
            return summary.values.mapValues { list in
                Cell(
                    mean: SampleStatistics.mean(list), standardDeviation: SampleStatistics.standardDeviation(list),
                    seeds: list.count)
            }
        }
        guard FileManager.default.fileExists(atPath: metricsPath) else {
            throw RunError("report", "\(folder) has neither summary.json nor metrics.jsonl (is it a run folder?)")
        }
        let records = RunReport.records(metricsPath)
        guard !records.isEmpty else { throw RunError("report", "\(metricsPath) has no readable record") }
        var result: [String: Cell] = [:]
        for record in records {
            for (name, value) in record where name != "time" {
                if let number = value.numberValue {
                    result[name] = Cell(mean: number, standardDeviation: nil, seeds: 1)
                }
            }
        }
        return result
    }

    /// The rows and the columns to show: `selected` metrics (exact names or prefixes ending in `*`), else
    /// the test metrics when the runs have any (`test_*`, `<trainer>.test_*`), else every metric.
    /// Rows are named by `labels` when given (one per folder), else by the folders' names.
    public static func table(_ folders: [String], labels: [String]? = nil, selected: [String] = []) throws -> (
        rows: [(String, [String: Cell])], columns: [String]
    ) {
        let names = labels ?? folders.map { URL(fileURLWithPath: $0).lastPathComponent }
        let rows = try zip(names, folders).map { ($0, try metrics(of: $1)) }
        let all = Set(rows.flatMap { $0.1.keys }).sorted()
        let columns: [String]
        if !selected.isEmpty {
            columns = all.filter { name in
                selected.contains { $0.hasSuffix("*") ? name.hasPrefix(String($0.dropLast())) : name == $0 }
            }
            guard !columns.isEmpty else {
                throw RunError(
                    "report",
                    "no metric matches \(selected.joined(separator: ", ")); the runs have \(all.joined(separator: ", "))"
                )
            }
        } else {
            let tests = all.filter { $0.hasPrefix("test_") || $0.contains(".test_") }
            columns = tests.isEmpty ? all : tests
        }
        return (rows, columns)
    }

    /// The Markdown comparison table of `folders`.
    public static func markdown(_ folders: [String], selected: [String] = []) throws -> String {
        let (rows, names) = try table(folders, selected: selected)
        return markdown(rows: rows, columns: names)
    }

    /// A Markdown table of rows (a name and its cells) and columns, the first column headed `first`.
    static func markdown(rows: [(String, [String: Cell])], columns names: [String], first: String = "run") -> String {
        var lines = [
            "| \(first) | " + names.joined(separator: " | ") + " |",
            "|---|" + String(repeating: "---|", count: names.count),
        ]
        for (run, values) in rows {
            lines.append("| \(run) | " + names.map { values[$0]?.text ?? "–" }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A self-contained HTML page: the table and one bar chart per metric across runs (± std whiskers).
    public static func html(_ folders: [String], selected: [String] = []) throws -> String {
        let (rows, names) = try table(folders, selected: selected)
        return html(rows: rows, columns: names, folders: folders, title: "Run comparison")
    }

    /// The page of `html(_:selected:)` for given rows and columns; `preamble` (HTML) goes under the title.
    static func html(
        rows: [(String, [String: Cell])], columns names: [String], folders: [String], title: String,
        first: String = "run", preamble: String = ""
    ) -> String {
        let escape = SVGChart.escape
        var body =
            "<h1>\(escape(title))</h1>\n\(preamble)<section id=\"comparison\"><h2>Metrics (mean ± std over seeds)</h2><table><tr><th>\(escape(first))</th>"
        body += names.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
        for (run, values) in rows {
            body +=
                "<tr><td>\(escape(run))</td>"
                + names.map { "<td class=\"number\">\(escape(values[$0]?.text ?? "–"))</td>" }.joined() + "</tr>"
        }
        body += "</table></section>\n<section id=\"charts\"><h2>Charts</h2><div class=\"charts\">"
        for name in names {
            body += SVGChart.bars(
                title: name, groups: rows.map(\.0), measures: [name],
                values: rows.map { [$0.1[name]?.mean] }, errors: rows.map { [$0.1[name]?.standardDeviation] })
        }
        body += "</div></section>\n<section id=\"runs\"><h2>Run folders</h2><ul>"
        body += folders.map { "<li>\(escape($0))</li>" }.joined() + "</ul></section>"
        return RunReport.page(title: title, body: body)
    }
}
