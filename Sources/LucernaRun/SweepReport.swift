import Foundation
import LucernaTrain

/// `lucerna report SWEEP_DIR`: one row per finished point of a sweep (its `key=value` pairs, then each metric's
/// mean ± std over the point's seeds), sorted by a metric when asked, and for every metric the points with its
/// highest and lowest mean; points not finished are counted, not shown.
public struct SweepReport {
    public let folder: String
    public let rows: [(String, [String: RunComparison.Cell])]
    public let columns: [String]
    public let folders: [String]
    public let unfinished: [String]

    /// Whether `folder` is a sweep folder (it has a `manifest.jsonl`).
    public static func isSweep(_ folder: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(folder)/manifest.jsonl")
    }

    /// `sort`: a metric to order the rows by (descending, or ascending with `ascending`).
    public init(folder: String, selected: [String] = [], sort: String? = nil, ascending: Bool = false) throws {
        let manifest = try Sweep.points(inManifest: "\(folder)/manifest.jsonl")
        let finished = manifest.points.filter { Sweep.state(of: "\(manifest.folder)/\($0.folder)") == .finished }
        guard !finished.isEmpty else {
            throw RunError("report", "no point of the sweep in \(folder) has finished yet (no DONE marker)")
        }
        unfinished = manifest.points.filter { !finished.contains($0) }.map(\.folder)
        self.folder = folder
        let paths = finished.map { "\(manifest.folder)/\($0.folder)" }
        var (rows, columns) = try RunComparison.table(
            paths, labels: finished.map { "\($0.folder): \($0.name)" }, selected: selected)
        var order = Array(rows.indices)
        if let sort {
            guard rows.contains(where: { $0.1[sort] != nil }) else {
                throw RunError(
                    "report",
                    "--sort \(sort): no finished point has that metric; they have \(columns.joined(separator: ", "))")
            }
            // Points without the metric go last; ties keep the manifest's order.
            order.sort { left, right in
                switch (rows[left].1[sort]?.mean, rows[right].1[sort]?.mean) {
                case (let a?, let b?): return a == b ? left < right : (ascending ? a < b : a > b)
                case (.some, nil): return true
                case (nil, .some): return false
                case (nil, nil): return left < right
                }
            }
            if !columns.contains(sort) { columns.insert(sort, at: 0) }
        }
        rows = order.map { rows[$0] }
        self.rows = rows
        self.columns = columns
        folders = order.map { paths[$0] }
    }

    /// For each metric, the point with the highest mean and the one with the lowest.
    public var extremes: [(metric: String, highest: String, highestValue: Double, lowest: String, lowestValue: Double)]
    {
        columns.compactMap { metric in
            let values = rows.compactMap { row in row.1[metric].map { (row.0, $0.mean) } }
            guard let high = values.max(by: { $0.1 < $1.1 }), let low = values.min(by: { $0.1 < $1.1 }) else {
                return nil
            }
            return (metric, high.0, high.1, low.0, low.1)
        }
    }

    var heading: String {
        "Sweep \(folder): \(rows.count) point\(rows.count == 1 ? "" : "s") finished"
            + (unfinished.isEmpty ? "" : ", \(unfinished.count) not (\(unfinished.joined(separator: ", ")))")
    }

    public var markdown: String {
        var text = "# \(heading)\n\nMean ± sample standard deviation over each point's seeds.\n\n"
        text += RunComparison.markdown(rows: rows, columns: columns, first: "point")
        text += "\n## Highest and lowest mean per metric\n\n| metric | highest | | lowest | |\n|---|---|---|---|---|\n"
        for entry in extremes {
            text +=
                "| \(entry.metric) | \(entry.highest) | \(String(format: "%.4f", entry.highestValue)) | \(entry.lowest) | \(String(format: "%.4f", entry.lowestValue)) |\n"
        }
        return text
    }

    public var html: String {
        let escape = SVGChart.escape
        var preamble = "<section id=\"extremes\"><h2>Highest and lowest mean per metric</h2><table>"
        preamble += "<tr><th>metric</th><th>highest</th><th></th><th>lowest</th><th></th></tr>"
        for entry in extremes {
            preamble +=
                "<tr><td>\(escape(entry.metric))</td><td>\(escape(entry.highest))</td><td class=\"number\">\(String(format: "%.4f", entry.highestValue))</td><td>\(escape(entry.lowest))</td><td class=\"number\">\(String(format: "%.4f", entry.lowestValue))</td></tr>"
        }
        preamble += "</table></section>\n"
        return RunComparison.html(
            rows: rows, columns: columns, folders: folders, title: heading, first: "point", preamble: preamble)
    }
}
