import Foundation
import LucernaComponents
import LucernaCore

/// `lucerna report RUN_DIR ...`: one row per run folder, one column per metric — mean ± std from a
/// multi-seed run's `summary.json`, else the last record of `metrics.jsonl` — for baseline-vs-method and
/// ablation tables.
public enum RunComparison {
    /// A run's metrics as display text by name.
    static func metrics(of folder: String) throws -> [String: String] {
        let summaryPath = "\(folder)/summary.json", metricsPath = "\(folder)/metrics.jsonl"
        if let data = FileManager.default.contents(atPath: summaryPath) {
            guard let summary = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let metrics = summary["metrics"] as? [String: Any] else {
                throw TensorError("report", "\(summaryPath) is not a Lucerna summary (no metrics)")
            }
            var result: [String: String] = [:]
            for (name, value) in metrics {
                guard let fields = value as? [String: Any], let mean = fields["mean"] as? Double, let deviation = fields["std"] as? Double else { continue }
                result[name] = String(format: "%.4f ± %.4f", mean, deviation)
            }
            return result
        }
        guard let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else {
            throw TensorError("report", "\(folder) has neither summary.json nor metrics.jsonl (is it a run folder?)")
        }
        guard let last = text.split(separator: "\n").last, let record = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            throw TensorError("report", "\(metricsPath) has no readable record")
        }
        var result: [String: String] = [:]
        for (name, value) in record where name != "time" {
            if type(of: value) == Bool.self {
                result[name] = "\(value)"
            } else if let number = value as? Double {
                result[name] = String(format: "%.4f", number)
            } else if let number = value as? Int {
                result[name] = String(format: "%.4f", Double(number))
            } else {
                result[name] = "\(value)"
            }
        }
        return result
    }

    /// The Markdown comparison table of `folders` (columns: every metric any run has, sorted).
    public static func markdown(_ folders: [String]) throws -> String {
        let rows = try folders.map { ($0, try metrics(of: $0)) }
        let names = Set(rows.flatMap { $0.1.keys }).sorted()
        var lines = ["| run | " + names.joined(separator: " | ") + " |", "|---|" + String(repeating: "---|", count: names.count)]
        for (folder, values) in rows {
            lines.append("| \(URL(fileURLWithPath: folder).lastPathComponent) | " + names.map { values[$0] ?? "–" }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
