import Foundation
import LucernaComponents

/// `report.html` of a run folder: one self-contained, well-formed XHTML page with the overview, the
/// mean ± std table over seeds, SVG curves of every logged metric per seed, confusion-matrix heatmaps,
/// per-subgroup bars and the PNG image grids the recipe saved (embedded as data URIs).
public enum RunReport {
    /// The records of a `metrics.jsonl` (unreadable lines are skipped).
    public static func records(_ path: String) -> [[String: ConfigValue]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            if case .table(let fields)? = try? ConfigValue(parsingJSON: String(line)) { return fields }
            return nil
        }
    }

    /// The fields of the JSON object in the file at `path`, or nil when it is missing or not an object.
    public static func json(_ path: String) -> [String: ConfigValue]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            case .table(let fields)? = try? ConfigValue(parsingJSON: text)
        else { return nil }
        return fields
    }

    /// The seed folders of a multi-seed run (`seed-N/`, by N), or the folder itself.
    public static func seedFolders(_ folder: String) -> [(label: String, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let seeds = names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("seed-"), let seed = Int(name.dropFirst(5)) else { return nil }
            return (seed, name)
        }.sorted { $0.0 < $1.0 }
        if seeds.isEmpty { return [("run", folder)] }
        return seeds.map { ("seed \($0.0)", "\(folder)/\($0.1)") }
    }

    static let skippedCurveKeys: Set<String> = [
        "epoch", "time", "epoch_seconds", "samples_per_second", "trainer", "phase", "step", "seed",
    ]

    /// Writes `report.html` into `folder`.
    public static func write(
        folder: String, title: String, overview: [(String, String)], notes: [String] = [], error: String? = nil
    ) throws {
        let page = html(folder: folder, title: title, overview: overview, notes: notes, error: error)
        try page.write(toFile: "\(folder)/report.html", atomically: true, encoding: .utf8)
    }

    /// The headline of a run: its test metrics, best epoch and wall time, rounded for reading (mean ± std
    /// over seeds in a multi-seed run); rows are `(name, mean, std, seeds)`. Metrics whose values repeat
    /// another's (a confusion matrix's value is the accuracy) are left out.
    public static func headline(folder: String) -> [(name: String, mean: Double, deviation: Double, seeds: Int)] {
        // The seeds' values from summary.json; a run still being written has none yet, and its own records
        // give the last value of each field (named as summary.json names them).
        var all: [String: [Double]] = [:]
        if let summary = json("\(folder)/summary.json"), case .table(let metrics)? = summary["metrics"] {
            for (name, value) in metrics {
                guard case .table(let fields) = value, case .list(let items)? = fields["values"] else { continue }
                all[name] = items.compactMap(\.numberValue)
            }
        } else {
            for record in records("\(folder)/metrics.jsonl") {
                var prefix = ""
                if case .string(let trainer)? = record["trainer"], trainer != "train" { prefix = "\(trainer)." }
                for (key, value) in record { if let number = value.numberValue { all[prefix + key] = [number] } }
            }
        }
        let values = all.filter { name, _ in
            let metric = name.split(separator: ".").last.map(String.init) ?? name
            return metric.hasPrefix("test_") || metric == "best_epoch" || metric == "epochs_run"
        }
        let repeated = repeatingMetrics(seedFolders(folder))
        let kept = values.keys.sorted().filter { !repeats($0, repeated) }
        func rank(_ name: String) -> (Int, String) { (isTestMetric(name) ? 0 : 1, name) }
        var rows = kept.sorted { rank($0) < rank($1) }.map {
            name -> (name: String, mean: Double, deviation: Double, seeds: Int) in
            let list = values[name] ?? []
            return (name, SampleStatistics.mean(list), SampleStatistics.standardDeviation(list), list.count)
        }
        let times = seedFolders(folder).compactMap {
            records("\($0.path)/metrics.jsonl").compactMap { $0["time"]?.numberValue }.max()
        }
        if !times.isEmpty {
            rows.append(
                ("wall time (s)", SampleStatistics.mean(times), SampleStatistics.standardDeviation(times), times.count))
        }
        return rows
    }

    static func isTestMetric(_ name: String) -> Bool { (name.split(separator: ".").last ?? "").hasPrefix("test_") }

    /// A value rounded for reading: counts and epochs as integers, seconds to a tenth, the rest to 4 decimals.
    public static func readable(_ value: Double, name: String) -> String {
        guard value.isFinite else { return format(value) }
        if name.hasPrefix("wall time") { return String(format: "%.1f", value) }
        if value.rounded() == value, abs(value) < 1e9 { return String(Int(value)) }
        return String(format: abs(value) >= 100 ? "%.1f" : "%.4f", value)
    }

    /// The headline as a Markdown table (for `report.md`), or nil when the run logged no test metrics.
    public static func headlineMarkdown(folder: String) -> String? {
        let rows = headline(folder: folder)
        guard !rows.isEmpty else { return nil }
        let seeds = rows.map(\.seeds).max() ?? 1
        var lines = ["| result | \(seeds > 1 ? "mean ± std over \(seeds) seeds" : "value") |", "|---|---|"]
        for row in rows {
            lines.append(
                "| \(row.name) | \(readable(row.mean, name: row.name))\(row.seeds > 1 ? " ± " + readable(row.deviation, name: row.name) : "") |"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The results table at the top of the page.
    static func results(folder: String) -> String {
        let rows = headline(folder: folder)
        guard !rows.isEmpty else { return "" }
        let seeds = rows.map(\.seeds).max() ?? 1
        var html =
            "<section id=\"results\"><h2>Results\(seeds > 1 ? " (mean ± std over \(seeds) seeds)" : "")</h2><table>"
        for row in rows {
            let value =
                readable(row.mean, name: row.name)
                + (row.seeds > 1 ? " ± " + readable(row.deviation, name: row.name) : "")
            html += "<tr><th>\(SVGChart.escape(row.name))</th><td class=\"number\">\(value)</td></tr>"
        }
        return html
            + "</table><p>Full precision: <code>summary.json</code>, <code>metrics.jsonl</code>.</p></section>\n"
    }

    /// The page for `folder`.
    public static func html(
        folder: String, title: String, overview: [(String, String)], notes: [String] = [], error: String? = nil
    ) -> String {
        let escape = SVGChart.escape
        var body = "<h1>\(escape(title))</h1>\n" + results(folder: folder)
        body += "<section id=\"overview\"><h2>Overview</h2><table>"
        for (key, value) in overview { body += "<tr><th>\(escape(key))</th><td>\(escape(value))</td></tr>" }
        body += "</table></section>\n"
        if let error { body += "<section id=\"error\"><h2>Error</h2><pre>\(escape(error))</pre></section>\n" }
        if let summary = json("\(folder)/summary.json"), case .table(let metrics)? = summary["metrics"] {
            body += summaryTable(metrics, seeds: summary["seeds"])
        }
        let seeds = seedFolders(folder)
        body += curves(seeds)
        body += evaluations(seeds)
        body += images(seeds)
        if !notes.isEmpty {
            body +=
                "<section id=\"notes\"><h2>Notes</h2><ul>" + notes.map { "<li>\(escape($0))</li>" }.joined()
                + "</ul></section>\n"
        }
        return page(title: title, body: body)
    }

    /// A complete XHTML page around `body`.
    public static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/><title>\(SVGChart.escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
        table { border-collapse: collapse; margin: 0.5em 0; } th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
        td.number { text-align: right; font-variant-numeric: tabular-nums; }
        .charts { display: flex; flex-wrap: wrap; gap: 12px; } .chart { background: #fff; border: 1px solid #eee; }
        .chart-title { font-size: 13px; font-weight: 600; } .tick, .legend, .cell-label { font-size: 10px; } .axis-label { font-size: 11px; }
        figure { display: inline-block; margin: 0.5em; } figcaption { font-size: 12px; text-align: center; }
        img.grid { image-rendering: pixelated; border: 1px solid #ddd; }
        pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
        </style></head>
        <body>
        \(body)
        </body></html>

        """
    }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        return String(format: abs(value) >= 100 ? "%.2f" : "%.4f", value)
    }

    static func summaryTable(_ metrics: [String: ConfigValue], seeds: ConfigValue?) -> String {
        var seedList: [Int] = []
        if case .list(let items)? = seeds { seedList = items.compactMap(\.numberValue).map { Int($0) } }
        var html =
            "<section id=\"summary\"><h2>All metrics (mean ± std over \(seedList.count) seed\(seedList.count == 1 ? "" : "s"))</h2><table><tr><th>metric</th><th>mean ± std</th>"
        html += seedList.map { "<th>seed \($0)</th>" }.joined() + "</tr>"
        for name in metrics.keys.sorted() {
            guard case .table(let fields)? = metrics[name], let mean = fields["mean"]?.numberValue,
                let deviation = fields["std"]?.numberValue
            else { continue }
            var values: [Double] = []
            if case .list(let items)? = fields["values"] { values = items.compactMap(\.numberValue) }
            html +=
                "<tr><td>\(SVGChart.escape(name))</td><td class=\"number\">\(format(mean)) ± \(format(deviation))</td>"
            html += values.map { "<td class=\"number\">\(format($0))</td>" }.joined() + "</tr>"
        }
        return html + "</table></section>\n"
    }

    /// One chart per (trainer, metric), a line per seed, against the epoch, the step (GAN training and its
    /// `gan_metrics` records) or the record's position.
    static func curves(_ seeds: [(label: String, path: String)]) -> String {
        var series: [String: [String: [(Double, Double)]]] = [:]  // chart → seed → points
        var order: [String] = []
        var byEpoch: Set<String> = []
        var byStep: Set<String> = []
        for (label, path) in seeds {
            var positions: [String: Double] = [:]
            for record in records("\(path)/metrics.jsonl")
            where record["phase"] == nil || isGANMetrics(record["phase"]) {
                var trainer = ""
                if case .string(let name)? = record["trainer"] { trainer = name }
                positions[trainer, default: 0] += 1
                let x = record["epoch"]?.numberValue ?? record["step"]?.numberValue ?? positions[trainer] ?? 0
                for (key, value) in record where !skippedCurveKeys.contains(key) {
                    guard let y = value.numberValue else { continue }
                    let chart = trainer.isEmpty || trainer == "train" ? key : "\(trainer): \(key)"
                    if series[chart] == nil {
                        order.append(chart)
                        if record["epoch"] != nil {
                            byEpoch.insert(chart)
                        } else if record["step"] != nil {
                            byStep.insert(chart)
                        }
                    }
                    series[chart, default: [:]][label, default: []].append((x, y))
                }
            }
        }
        guard !order.isEmpty else { return "" }
        // A metric whose value is another metric's (a confusion matrix's is the accuracy) gets no curve.
        let repeated = repeatingMetrics(seeds)
        order = order.filter { !repeats($0, repeated) }
        func rank(_ chart: String) -> Int {
            chart.contains("loss") ? 0 : chart.contains("val_") ? 1 : chart.hasSuffix("lr") ? 3 : 2
        }
        let sorted = order.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(
            \.element)
        var html = "<section id=\"curves\"><h2>Curves</h2><div class=\"charts\">"
        for chart in sorted {
            let lines = seeds.compactMap { seed in series[chart]?[seed.label].map { (name: seed.label, points: $0) } }
            let xLabel = byEpoch.contains(chart) ? "epoch" : byStep.contains(chart) ? "step" : "record"
            html += SVGChart.lines(title: chart, xLabel: xLabel, series: lines)
        }
        return html + "</div></section>\n"
    }

    /// Whether a record's phase is `gan_metrics` (metrics during GAN training, drawn as curves over steps).
    static func isGANMetrics(_ phase: ConfigValue?) -> Bool {
        if case .string("gan_metrics")? = phase { true } else { false }
    }

    /// The metrics whose value is another metric's: those whose report is a matrix (`confusion_matrix`'s
    /// value is the accuracy), by the name the run gave them, from the seeds' `evaluation.json`.
    static func repeatingMetrics(_ seeds: [(label: String, path: String)]) -> Set<String> {
        var names: Set<String> = []
        for (_, path) in seeds {
            for case .table(let entry) in (json("\(path)/evaluation.json") ?? [:]).values {
                guard case .table(let reports)? = entry["reports"] else { continue }
                for (metric, report) in reports {
                    if case .table(let fields) = report, fields["matrix"] != nil { names.insert(metric) }
                }
            }
        }
        return names
    }

    /// Whether a record or chart name (`val_confusion`, `revised: test_confusion`, `audit_confusion`) is one
    /// of `repeated`'s metrics.
    static func repeats(_ name: String, _ repeated: Set<String>) -> Bool {
        let field = name.split(whereSeparator: { $0 == "." || $0 == " " }).last.map(String.init) ?? name
        return repeated.contains { field == $0 || field.hasSuffix("_" + $0) }
    }

    /// Confusion matrices (summed over seeds), per-subgroup bars (mean ± std over seeds) and the test values.
    static func evaluations(_ seeds: [(label: String, path: String)]) -> String {
        var matrices: [String: [[Double]]] = [:]
        var groupStats: [String: [String: [String: [Double]]]] = [:]  // chart → group → measure → per-seed values
        var measureOrder: [String: [String]] = [:]
        var charts: [String] = []
        var classNames: [String: [String]] = [:]  // chart → the evaluated data set's class names
        var perClass: [String: [[Double]]] = [:]  // chart → per seed, one value per class
        for (_, path) in seeds {
            guard let evaluation = json("\(path)/evaluation.json") else { continue }
            for trainer in evaluation.keys.sorted() {
                guard case .table(let entry)? = evaluation[trainer], case .table(let reports)? = entry["reports"] else {
                    continue
                }
                let names = ClassNames.names(in: entry)
                for metric in reports.keys.sorted() {
                    guard case .table(let report)? = reports[metric] else { continue }
                    let chart = trainer == "train" ? metric : "\(trainer): \(metric)"
                    if let names { classNames[chart] = names }
                    if case .list(let values)? = report["per_class"] {
                        if perClass[chart] == nil { charts.append("classes:" + chart) }
                        perClass[chart, default: []].append(values.compactMap(\.numberValue))
                    }
                    if case .list(let rows)? = report["matrix"] {
                        let matrix = rows.map { row -> [Double] in
                            guard case .list(let cells) = row else { return [] }
                            return cells.compactMap(\.numberValue)
                        }
                        if let existing = matrices[chart], existing.count == matrix.count {
                            matrices[chart] = zip(existing, matrix).map { zip($0, $1).map { $0 + $1 } }
                        } else if matrices[chart] == nil {
                            matrices[chart] = matrix
                            charts.append("matrix:" + chart)
                        }
                    }
                    if case .list(let groups)? = report["groups"] {
                        if groupStats[chart] == nil { charts.append("groups:" + chart) }
                        for case .table(let fields) in groups {
                            var name = fields["group"]?.numberValue.map { "group \(Int($0))" } ?? "?"
                            if case .string(let text)? = fields["group"] { name = text }
                            for key in fields.keys.sorted() where key != "group" && key != "count" {
                                guard let value = fields[key]?.numberValue else { continue }
                                if !(measureOrder[chart] ?? []).contains(key) {
                                    measureOrder[chart, default: []].append(key)
                                }
                                groupStats[chart, default: [:]][name, default: [:]][key, default: []].append(value)
                            }
                        }
                    }
                }
            }
        }
        guard !charts.isEmpty else { return "" }
        var html = "<section id=\"evaluation\"><h2>Test evaluation</h2><div class=\"charts\">"
        // Subgroup metrics of one evaluation share their per-group table (Fairlearn's MetricFrame): draw it
        // once, titled with every metric that reported it.
        var drawn: [String: Int] = [:]  // signature → position in `bars`
        var bars: [(names: [String], chart: String)] = []
        for chart in charts where chart.hasPrefix("groups:") {
            let name = String(chart.dropFirst(7))
            let owner = name.contains(":") ? name.split(separator: ":").first.map(String.init) ?? "" : ""
            let signature =
                owner + "|"
                + (groupStats[name] ?? [:]).keys.sorted().map { group in
                    "\(group)="
                        + (measureOrder[name] ?? []).map { "\(groupStats[name]?[group]?[$0] ?? [])" }.joined(
                            separator: ",")
                }.joined(separator: ";")
            if let position = drawn[signature] {
                bars[position].names.append(name)
            } else {
                drawn[signature] = bars.count
                bars.append(([name], chart))
            }
        }
        let barTitles = Dictionary(bars.map { ($0.chart, $0.names) }, uniquingKeysWith: { a, _ in a })
        var tables = ""
        for chart in charts where !chart.hasPrefix("groups:") || barTitles[chart] != nil {
            if chart.hasPrefix("matrix:") {
                let name = String(chart.dropFirst(7))
                html += SVGChart.heatmap(
                    title: "\(name) \(seeds.count > 1 ? " (summed over seeds)" : "")", matrix: matrices[name] ?? [],
                    labels: classNames[name])
            } else if chart.hasPrefix("classes:") {
                tables += perClassTable(
                    String(chart.dropFirst(8)), values: perClass[String(chart.dropFirst(8))] ?? [],
                    names: classNames[String(chart.dropFirst(8))])
            } else {
                let name = String(chart.dropFirst(7))
                let stats = groupStats[name] ?? [:]
                let groups = stats.keys.sorted { (Int($0.dropFirst(6)) ?? 0, $0) < (Int($1.dropFirst(6)) ?? 0, $1) }
                let measures = measureOrder[name] ?? []
                let mean = groups.map { group in measures.map { stats[group]?[$0].map(SampleStatistics.mean) } }
                let deviation = groups.map { group in
                    measures.map { stats[group]?[$0].map(SampleStatistics.standardDeviation) }
                }
                // "independent: demographic_parity_difference, worst_group_accuracy per subgroup".
                let names = barTitles[chart] ?? [name]
                let owner = name.contains(":") ? (name.split(separator: ":").first.map { "\($0): " } ?? "") : ""
                let metricNames = names.map {
                    $0.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? $0
                }
                let title =
                    owner + metricNames.joined(separator: ", ") + " per subgroup"
                    + (seeds.count > 1 ? " (mean ± std over seeds)" : "")
                html += SVGChart.bars(
                    title: title, groups: groups,
                    measures: measures, values: mean, errors: seeds.count > 1 ? deviation : nil)
            }
        }
        return html + "</div>" + tables + "</section>\n"
    }

    /// A metric's value per class (mean over seeds), labelled with the class names.
    static func perClassTable(_ name: String, values: [[Double]], names: [String]?) -> String {
        let classes = values.map(\.count).max() ?? 0
        guard classes > 0 else { return "" }
        var html =
            "<table class=\"per-class\"><caption>\(SVGChart.escape(name)) per class\(values.count > 1 ? " (mean over seeds)" : "")</caption><tr>"
        html += (0..<classes).map { index in
            let label = names.flatMap { $0.indices.contains(index) ? $0[index] : nil } ?? String(index)
            return "<th>\(SVGChart.escape(label))</th>"
        }.joined()
        html += "</tr><tr>"
        html += (0..<classes).map { index in
            let column = values.compactMap { $0.indices.contains(index) ? $0[index] : nil }
            return "<td class=\"number\">\(String(format: "%.4f", SampleStatistics.mean(column)))</td>"
        }.joined()
        return html + "</tr></table>\n"
    }

    /// PNG grids under `images/` of the first seed folder that has any, embedded.
    static func images(_ seeds: [(label: String, path: String)]) -> String {
        for (label, path) in seeds {
            let folder = "\(path)/images"
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
                $0.hasSuffix(".png")
            }.sorted()
            guard !names.isEmpty else { continue }
            var html = "<section id=\"images\"><h2>Images\(seeds.count > 1 ? " (\(SVGChart.escape(label)))" : "")</h2>"
            for name in names {
                guard let data = FileManager.default.contents(atPath: "\(folder)/\(name)") else { continue }
                let stem = String(name.dropLast(4))
                let note =
                    (try? String(contentsOfFile: "\(folder)/\(stem).txt", encoding: .utf8)).map { ": \($0)" } ?? ""
                let caption = SVGChart.escape(stem + note)
                // Shown at three times the natural size (at most 1060 px wide), pixels kept sharp.
                let bytes = [UInt8](data.prefix(24))
                let naturalWidth = bytes.count == 24 ? bytes[16..<20].reduce(0) { $0 << 8 | Int($1) } : 0
                let size = naturalWidth > 0 ? " width=\"\(min(3 * naturalWidth, 1060))\"" : ""
                html +=
                    "<figure><img class=\"grid\"\(size) alt=\"\(caption)\" src=\"data:image/png;base64,\(data.base64EncodedString())\"/><figcaption>\(caption)</figcaption></figure>"
            }
            return html + "</section>\n"
        }
        return ""
    }
}
