import Foundation
import LucernaComponents
import LucernaCore
import LucernaTrain

/// `lucerna report --claims CLAIMS.lua RUNS_DIR`: a paper's claims beside this project's measurements. Each
/// claim names a run folder under `RUNS_DIR` (a multi-seed run with its `summary.json`) and a metric; the report
/// gives ours as mean ± std over the seeds with a 95 % Student-t interval, the paper's number, the target, and a
/// verdict with the sentence that explains it. A claim that one method outperforms others is judged by paired
/// comparisons over the seeds both runs share (the same seeds give the same splits): the mean difference and
/// its 95 % interval against each baseline.
///
/// The claims file returns `{title = ..., claims = {{...}, ...}}`; a claim's fields:
/// - `section`, `claim` (the paper's statement), `run` (folder under RUNS_DIR), `metric`;
/// - `paper`: the paper's number, or `{low, high}` for a range; absent for a claim about baselines;
/// - `over`: baseline run folders — an "outperforms" claim, judged on `metric` against each;
/// - `baseline_metric`: the baselines' metric when it is not `metric`, e.g. a run's own figure before a
///   treatment (`run = "r2r", metric = "accuracy_after", over = {"r2r"}, baseline_metric = "accuracy_before"`);
/// - `higher` (default true): whether larger is better; `target`: this project's own target for the metric;
/// - `comparable = false` with `why`: the paper's figure measures something else (the row says why);
/// - `unit = "%"`: shown ×100; `note`: a sentence added to the row;
/// - `longer = {setting = "...", records = {FOLDER, ...}}`: the same metric from committed records of a longer
///   setting than the one command runs (folders with a `summary.json`, relative to the working directory), given
///   beside the target as the best figure, with whether it meets the target. The verdict stays the command's.
///
/// Reference: Dror et al., "The Hitchhiker's Guide to Testing Statistical Significance in Natural Language
/// Processing", ACL 2018 (paired tests over the same seeds and splits); SciPy's `stats.t.interval`.
public struct ClaimReport {
    /// How a claim compares with ours.
    public enum Verdict: String {
        case holds = "holds"
        case doesNotHold = "does not hold"
        case notComparable = "not comparable"
        case undecided = "undecided"
        case notRun = "not run"
    }

    /// One of the paper's claims, as the claims file states it.
    public struct Claim {
        public let section: String
        public let text: String
        public let run: String
        public let metric: String
        /// The paper's figure: one number (low == high) or a range.
        public let paper: ClosedRange<Double>?
        public let baselines: [String]
        /// The baselines' metric when it is not `metric` (a before/after pair within one run).
        public let baselineMetric: String?
        public let higherIsBetter: Bool
        public let target: Double?
        public let comparable: Bool
        public let why: String?
        public let note: String?
        public let percent: Bool
        public let longer: Longer?

        /// Whether `value` reaches `target` in the claim's direction (nil without a target).
        func meetsTarget(_ value: Double) -> Bool? {
            target.map { higherIsBetter ? value >= $0 : value <= $0 }
        }
    }

    /// A longer setting's committed records of a claim's metric (`longer` in the claims file).
    public struct Longer {
        /// What the setting is (e.g. "9,000 steps, docs/results.md").
        public let setting: String
        /// Folders with a `summary.json` (one seed's or several seeds').
        public let records: [String]
    }

    /// Ours for one run and metric: the per-seed values in seed order.
    public struct Measurement {
        public let seeds: [Int]
        public let values: [Double]
        public var mean: Double { SampleStatistics.mean(values) }
        public var standardDeviation: Double { SampleStatistics.standardDeviation(values) }
        public var interval: (lower: Double, upper: Double)? { SampleStatistics.confidenceInterval(values) }
    }

    /// The comparison with one baseline over the seeds both runs have: ours − theirs (negated when lower is
    /// better, so positive favours ours).
    public struct Paired {
        public let baseline: String
        public let seeds: [Int]
        public let differences: [Double]
        public var mean: Double { SampleStatistics.mean(differences) }
        public var interval: (lower: Double, upper: Double)? { SampleStatistics.confidenceInterval(differences) }
    }

    /// A claim with what was measured and the verdict.
    public struct Row {
        public let claim: Claim
        public let ours: Measurement?
        public let paired: [Paired]
        public let verdict: Verdict
        public let reason: String
        /// Whether ours meets the claim's target (nil without a target or a measurement).
        public let targetMet: Bool?
        /// The longer setting's values of the metric, or why there are none (nil without `longer`).
        public var longer: Result<Measurement, Failure>? = nil
    }

    public let title: String
    public let runsFolder: String
    public let rows: [Row]

    /// Reads the claims (the value a claims file returns) and judges each against the runs under `runsFolder`.
    public init(claims document: ConfigValue, runsFolder: String) throws {
        guard case .table(let fields) = document else {
            throw RunError("claims", "the claims file must return a table {title = ..., claims = {...}}")
        }
        if case .string(let title)? = fields["title"] { self.title = title } else { self.title = "Claims" }
        guard case .list(let entries)? = fields["claims"], !entries.isEmpty else {
            throw RunError("claims", "the claims file's table needs a non-empty list `claims`")
        }
        self.runsFolder = runsFolder
        rows = try entries.enumerated().map { index, entry in
            let claim = try Self.claim(entry, position: index + 1)
            var row = try Self.judge(claim, runsFolder: runsFolder)
            row.longer = claim.longer.map { Self.longerMeasurement($0, metric: claim.metric) }
            return row
        }
    }

    // MARK: Reading

    static func claim(_ entry: ConfigValue, position: Int) throws -> Claim {
        let label = "claims[\(position)]"
        guard case .table(let fields) = entry else { throw RunError("claims", "\(label) must be a table") }
        let known: Set = [
            "section", "claim", "run", "metric", "paper", "over", "baseline_metric", "higher", "target", "comparable",
            "why", "note", "unit", "longer",
        ]
        if let unknown = fields.keys.filter({ !known.contains($0) }).sorted().first {
            throw RunError(
                "claims", "\(label): unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        func text(_ name: String, required: Bool = true) throws -> String? {
            switch fields[name] {
            case .string(let value)? where !value.isEmpty: return value
            case nil, .null?:
                if required { throw RunError("claims", "\(label): `\(name)` is required (a string)") }
                return nil
            case let other?: throw RunError("claims", "\(label).\(name) must be a string, not a \(other.kindName)")
            }
        }
        func number(_ value: ConfigValue, _ name: String) throws -> Double {
            guard let number = value.numberValue, number.isFinite else {
                throw RunError("claims", "\(label).\(name) must be a finite number, not \(value)")
            }
            return number
        }
        var paper: ClosedRange<Double>?
        switch fields["paper"] {
        case nil, .null?: paper = nil
        case .list(let bounds)?:
            guard bounds.count == 2 else { throw RunError("claims", "\(label).paper: a range is {low, high}") }
            let (low, high) = (try number(bounds[0], "paper[1]"), try number(bounds[1], "paper[2]"))
            guard low <= high else { throw RunError("claims", "\(label).paper: low \(low) above high \(high)") }
            paper = low...high
        case let value?:
            let figure = try number(value, "paper")
            paper = figure...figure
        }
        var baselines: [String] = []
        switch fields["over"] {
        case nil, .null?: break
        case .list(let items)?:
            baselines = try items.map {
                guard case .string(let name) = $0, !name.isEmpty else {
                    throw RunError("claims", "\(label).over must list run folders (strings)")
                }
                return name
            }
        case let other?: throw RunError("claims", "\(label).over must be a list of run folders, not \(other)")
        }
        func flag(_ name: String, default value: Bool) throws -> Bool {
            switch fields[name] {
            case nil, .null?: return value
            case .boolean(let flag)?: return flag
            case let other?: throw RunError("claims", "\(label).\(name) must be true or false, not \(other)")
            }
        }
        let baselineMetric = try text("baseline_metric", required: false)
        if baselineMetric != nil && baselines.isEmpty {
            throw RunError("claims", "\(label): `baseline_metric` needs the baselines it is read from (`over`)")
        }
        let comparable = try flag("comparable", default: true)
        let why = try text("why", required: false)
        if !comparable && why == nil {
            throw RunError("claims", "\(label): `comparable = false` needs `why` (what the paper's figure measures)")
        }
        let unit = try text("unit", required: false)
        guard unit == nil || unit == "%" else { throw RunError("claims", "\(label).unit must be \"%\" or absent") }
        guard paper != nil || !baselines.isEmpty || !comparable else {
            throw RunError("claims", "\(label): give the paper's figure (`paper`) or the baselines it beats (`over`)")
        }
        func longer() throws -> Longer? {
            switch fields["longer"] {
            case nil, .null?: return nil
            case .table(let entry)?:
                guard case .string(let setting)? = entry["setting"], !setting.isEmpty,
                    case .list(let items)? = entry["records"], !items.isEmpty,
                    Set(entry.keys).isSubset(of: ["setting", "records"])
                else {
                    throw RunError("claims", "\(label).longer must be {setting = \"...\", records = {FOLDER, ...}}")
                }
                let records = try items.map {
                    guard case .string(let folder) = $0, !folder.isEmpty else {
                        throw RunError("claims", "\(label).longer.records must list folders (strings)")
                    }
                    return folder
                }
                return Longer(setting: setting, records: records)
            case let other?:
                throw RunError("claims", "\(label).longer must be a table, not a \(other.kindName)")
            }
        }
        func target() throws -> Double? {
            switch fields["target"] {
            case nil, .null?: return nil
            case let value?: return try number(value, "target")
            }
        }
        return Claim(
            section: try text("section") ?? "", text: try text("claim") ?? "", run: try text("run") ?? "",
            metric: try text("metric") ?? "", paper: paper, baselines: baselines, baselineMetric: baselineMetric,
            higherIsBetter: try flag("higher", default: true),
            target: try target(),
            comparable: comparable, why: why, note: try text("note", required: false), percent: unit == "%",
            longer: try longer())
    }

    /// The metric's values in the longer setting's record folders, seeds in the order listed, or the reason there
    /// are none (a folder without the metric for every one of its seeds, or whose summary cannot be read).
    static func longerMeasurement(_ longer: Longer, metric: String) -> Result<Measurement, Failure> {
        var (seeds, values) = ([Int](), [Double]())
        for folder in longer.records {
            let result: Result<Measurement, Failure>
            do { result = try measurement(folder: folder, metric: metric) } catch {
                return .failure(Failure("\(error)"))
            }
            switch result {
            case .failure(let failure): return .failure(failure)
            case .success(let found) where found.seeds.isEmpty:
                return .failure(Failure("\(folder) has no \(metric) for each of its seeds"))
            case .success(let found):
                seeds += found.seeds
                values += found.values
            }
        }
        return .success(Measurement(seeds: seeds, values: values))
    }

    /// The metric's per-seed values in `runsFolder/run`, or the reason there are none.
    static func measurement(run: String, metric: String, runsFolder: String) throws -> Result<Measurement, Failure> {
        try measurement(folder: "\(runsFolder)/\(run)", metric: metric)
    }

    /// The metric's per-seed values in `folder`'s summary, or the reason there are none.
    static func measurement(folder: String, metric: String) throws -> Result<Measurement, Failure> {
        guard let summary = try SeedSummary.load(from: folder) else {
            return .failure(Failure("no summary.json in \(folder): the run has not finished"))
        }
        guard let values = summary.values[metric] else {
            // Names that contain it, or share its first half (a typo or a trainer's prefix).
            let stem = metric.prefix(max(3, metric.count / 2))
            let near = summary.values.keys.filter { $0.contains(metric) || metric.contains($0) || $0.contains(stem) }
                .sorted()
            return .failure(
                Failure(
                    "\(folder) has no metric \(metric)"
                        + (near.isEmpty ? "" : " (similar: \(near.prefix(3).joined(separator: ", ")))")))
        }
        // A metric some seeds did not log cannot be assigned to seeds; only complete ones pair.
        let seeds = values.count == summary.seeds.count ? summary.seeds : []
        return .success(Measurement(seeds: seeds, values: values))
    }

    public struct Failure: Error {
        public let message: String
        init(_ message: String) { self.message = message }
    }

    // MARK: Judging

    static func judge(_ claim: Claim, runsFolder: String) throws -> Row {
        let ours: Measurement
        switch try measurement(run: claim.run, metric: claim.metric, runsFolder: runsFolder) {
        case .failure(let failure):
            return Row(claim: claim, ours: nil, paired: [], verdict: .notRun, reason: failure.message, targetMet: nil)
        case .success(let measurement): ours = measurement
        }
        let better: (Double, Double) -> Bool = claim.higherIsBetter ? { $0 >= $1 } : { $0 <= $1 }
        let targetMet = claim.meetsTarget(ours.mean)
        let show = { (value: Double) in format(value, percent: claim.percent) }
        if !claim.comparable {
            return Row(
                claim: claim, ours: ours, paired: [], verdict: .notComparable, reason: claim.why ?? "",
                targetMet: targetMet)
        }
        if !claim.baselines.isEmpty {
            var paired: [Paired] = []
            var missing: [String] = []
            for run in claim.baselines {
                let baseline = claim.baselineMetric.map { "\(run)'s \($0)" } ?? run
                let theirs: Measurement
                switch try measurement(run: run, metric: claim.baselineMetric ?? claim.metric, runsFolder: runsFolder) {
                case .failure(let failure):
                    missing.append(failure.message)
                    continue
                case .success(let measurement): theirs = measurement
                }
                let common = ours.seeds.filter { theirs.seeds.contains($0) }
                let differences = common.compactMap { seed -> Double? in
                    guard let mine = ours.seeds.firstIndex(of: seed), let other = theirs.seeds.firstIndex(of: seed)
                    else { return nil }
                    let difference = ours.values[mine] - theirs.values[other]
                    return claim.higherIsBetter ? difference : -difference
                }
                paired.append(Paired(baseline: baseline, seeds: common, differences: differences))
            }
            if !missing.isEmpty {
                return Row(
                    claim: claim, ours: ours, paired: paired, verdict: .notRun,
                    reason: "baseline not measured: \(missing.joined(separator: "; "))",
                    targetMet: targetMet)
            }
            let word = claim.higherIsBetter ? "above" : "below"
            if let short = paired.first(where: { $0.differences.count < 2 }) {
                let losing = paired.filter { !$0.differences.isEmpty && $0.mean <= 0 }.map(\.baseline)
                if !losing.isEmpty {
                    return Row(
                        claim: claim, ours: ours, paired: paired, verdict: .doesNotHold,
                        reason: "not \(word) \(losing.joined(separator: ", ")) on the paired seeds",
                        targetMet: targetMet)
                }
                return Row(
                    claim: claim, ours: ours, paired: paired, verdict: .undecided,
                    reason:
                        "\(short.differences.count) paired seed\(short.differences.count == 1 ? "" : "s") with \(short.baseline): no interval",
                    targetMet: targetMet)
            }
            let unclear = paired.filter { ($0.interval?.lower ?? 0) <= 0 }
            if unclear.isEmpty {
                let weakest = paired.min { ($0.interval?.lower ?? 0) < ($1.interval?.lower ?? 0) }
                return Row(
                    claim: claim, ours: ours, paired: paired, verdict: .holds,
                    reason:
                        "\(word) every baseline: each paired difference's 95 % interval excludes 0 (closest: \(weakest?.baseline ?? ""), \(signed(weakest?.mean ?? 0, percent: claim.percent)))",
                    targetMet: targetMet)
            }
            let names = unclear.map {
                "\($0.baseline) (\(signed($0.mean, percent: claim.percent)), interval \(range($0.interval, percent: claim.percent)))"
            }
            return Row(
                claim: claim, ours: ours, paired: paired, verdict: .doesNotHold,
                reason: "not clearly \(word) \(names.joined(separator: "; "))", targetMet: targetMet)
        }
        guard let paper = claim.paper else {
            return Row(
                claim: claim, ours: ours, paired: [], verdict: .notComparable, reason: "no paper figure",
                targetMet: targetMet)
        }
        let bound = claim.higherIsBetter ? paper.lowerBound : paper.upperBound
        let paperText =
            paper.lowerBound == paper.upperBound
            ? "the paper's \(show(bound))" : "the paper's range \(show(paper.lowerBound))–\(show(paper.upperBound))"
        let oursText = "ours \(show(ours.mean))"
        var reason: String
        let verdict: Verdict
        if better(ours.mean, bound) {
            verdict = .holds
            reason = "\(oursText) is \(claim.higherIsBetter ? "at or above" : "at or below") \(paperText)"
            if let interval = ours.interval, !better(claim.higherIsBetter ? interval.lower : interval.upper, bound) {
                reason += ", though its 95 % interval reaches past it"
            }
        } else {
            verdict = .doesNotHold
            reason = "\(oursText) is \(claim.higherIsBetter ? "below" : "above") \(paperText)"
        }
        if ours.values.count < 2 { reason += " (one seed)" }
        return Row(claim: claim, ours: ours, paired: [], verdict: verdict, reason: reason, targetMet: targetMet)
    }

    // MARK: Formatting

    static func format(_ value: Double, percent: Bool) -> String {
        percent ? String(format: "%.2f %%", value * 100) : String(format: "%.4f", value)
    }

    static func signed(_ value: Double, percent: Bool) -> String {
        (value >= 0 ? "+" : "−") + format(abs(value), percent: percent)
    }

    static func range(_ interval: (lower: Double, upper: Double)?, percent: Bool) -> String {
        guard let interval else { return "–" }
        let scale = percent ? 100.0 : 1
        return String(format: percent ? "[%.2f, %.2f]" : "[%.4f, %.4f]", interval.lower * scale, interval.upper * scale)
    }

    /// The cells of a row: claim, paper, ours, 95 % interval, target, verdict, why.
    func cells(_ row: Row) -> [String] {
        let claim = row.claim
        let percent = claim.percent
        let paper =
            claim.paper.map {
                $0.lowerBound == $0.upperBound
                    ? Self.format($0.lowerBound, percent: percent)
                    : "\(Self.format($0.lowerBound, percent: percent))–\(Self.format($0.upperBound, percent: percent))"
            } ?? "–"
        var ours = "–"
        var interval = "–"
        if let measured = row.ours {
            ours = Self.format(measured.mean, percent: percent)
            if measured.values.count > 1 { ours += " ± " + Self.format(measured.standardDeviation, percent: percent) }
            ours += " (\(measured.values.count) seed\(measured.values.count == 1 ? "" : "s"))"
            interval = Self.range(measured.interval, percent: percent)
        }
        if !row.paired.isEmpty {
            interval = row.paired.map {
                "vs \($0.baseline): \(Self.signed($0.mean, percent: percent)) \(Self.range($0.interval, percent: percent))"
            }.joined(separator: "; ")
        }
        var target =
            claim.target.map { target in
                let met = row.targetMet.map { $0 ? " met" : " missed" } ?? ""
                return "\(claim.higherIsBetter ? "≥" : "≤") \(Self.format(target, percent: percent))\(met)"
            } ?? "–"
        if let longer = claim.longer, let result = row.longer {
            switch result {
            case .success(let measurement):
                let met = claim.meetsTarget(measurement.mean).map { $0 ? ": met" : ": missed" }
                let count = measurement.values.count
                target +=
                    "; \(longer.setting): \(Self.format(measurement.mean, percent: percent)) ± "
                    + "\(Self.format(measurement.standardDeviation, percent: percent)) (\(count) seed\(count == 1 ? "" : "s"))"
                    + (met ?? "")
            case .failure(let failure):
                target += "; \(longer.setting): \(failure.message)"
            }
        }
        let why = [row.reason, claim.note].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ". ")
        return [claim.text, paper, ours, interval, target, row.verdict.rawValue, why]
    }

    static let headers = ["claim", "paper", "ours (mean ± std)", "95 % interval", "target", "verdict", "why"]

    /// The sections in the order the claims file first names them.
    var sections: [(name: String, rows: [Row])] {
        var order: [String] = []
        for row in rows where !order.contains(row.claim.section) { order.append(row.claim.section) }
        return order.map { name in (name, rows.filter { $0.claim.section == name }) }
    }

    /// Each run folder the claims use, with its recipe, overrides, seeds, wall time per seed and the commits that ran it.
    func settings() -> [(run: String, text: String)] {
        var runs: [String] = []
        for row in rows {
            for name in [row.claim.run] + row.claim.baselines where !runs.contains(name) { runs.append(name) }
        }
        let recorded = commitsByRun
        return runs.map { run in
            let folder = "\(runsFolder)/\(run)"
            guard let record = RunReport.json("\(folder)/run.json") else { return (run, "not run") }
            var parts: [String] = []
            if case .string(let recipe)? = record["recipe"] { parts.append("recipe `\(recipe)`") }
            if case .list(let overrides)? = record["overrides"], !overrides.isEmpty {
                let items = overrides.compactMap { value -> String? in
                    if case .string(let text) = value { text } else { nil }
                }
                parts.append("`--set " + items.joined(separator: " --set ") + "`")
            }
            if let summary = try? SeedSummary.load(from: folder) {
                parts.append("seeds " + summary.seeds.map(String.init).joined(separator: ", "))
            }
            // Each seed's wall time: the last `time` (seconds since its start) its records carry.
            let times = RunReport.seedFolders(folder).compactMap { seed in
                RunReport.records("\(seed.path)/metrics.jsonl").compactMap { $0["time"]?.numberValue }.max()
            }
            if !times.isEmpty {
                parts.append("wall time per seed " + times.map { Self.duration($0) }.joined(separator: ", "))
            }
            if let threads = record["threads"]?.numberValue { parts.append("\(Int(threads)) thread(s) each") }
            let commits = recorded[run] ?? []
            if !commits.isEmpty {
                parts.append((commits.count == 1 ? "commit " : "commits ") + commits.joined(separator: ", "))
            }
            return (run, parts.joined(separator: "; "))
        }
    }

    /// The commits that started or resumed each experiment, in order, from `RUNS_DIR/experiments.jsonl`
    /// (`scripts/reproduce.sh` writes a line for each start, resumption and end): more than one when an
    /// invocation of a later commit resumed it. Experiments run before that record existed have none.
    var commitsByRun: [String: [String]] {
        var commits: [String: [String]] = [:]
        for record in RunReport.records("\(runsFolder)/experiments.jsonl") {
            guard case .string(let name)? = record["name"], case .string(let commit)? = record["commit"],
                case .string(let event)? = record["event"], event == "started" || event == "resumed"
            else { continue }
            if commits[name]?.last != commit { commits[name, default: []].append(commit) }
        }
        return commits
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600
            ? String(format: "%d h %02d min", total / 3600, total % 3600 / 60)
            : String(format: "%d min %02d s", total / 60, total % 60)
    }

    /// `key: value` lines of `RUNS_DIR/reproduce.json` (commit, date, machine), when the folder has one.
    func provenance() -> [(String, String)] {
        guard let record = RunReport.json("\(runsFolder)/reproduce.json") else { return [] }
        return record.keys.sorted().compactMap { key in
            switch record[key] {
            case .string(let text)?: (key, text)
            case .number(let number)?: (key, ConfigValue.number(number).description)
            case .boolean(let flag)?: (key, "\(flag)")
            default: nil
            }
        }
    }

    /// The counts of each verdict, in a fixed order.
    var tally: [(Verdict, Int)] {
        [.holds, .doesNotHold, .notComparable, .undecided, .notRun].map { verdict in
            (verdict, rows.filter { $0.verdict == verdict }.count)
        }.filter { $0.1 > 0 }
    }

    public var markdown: String {
        var lines = ["# \(title)", ""]
        let facts = provenance()
        if !facts.isEmpty {
            lines += facts.map { "- \($0.0): \($0.1)" } + [""]
        }
        lines.append(
            "Ours: mean ± sample standard deviation over the seeds, with the 95 % Student-t interval of the mean; "
                + "claims that a method outperforms others: the paired difference over the shared seeds (positive "
                + "favours the method) and its 95 % interval, against each baseline.")
        lines += ["", "Verdicts: " + tally.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ") + ".", ""]
        for section in sections {
            lines += ["## \(section.name)", ""]
            lines.append("| " + Self.headers.joined(separator: " | ") + " |")
            lines.append("|" + String(repeating: "---|", count: Self.headers.count))
            for row in section.rows {
                lines.append(
                    "| " + cells(row).map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ")
                        + " |")
            }
            lines.append("")
        }
        lines += ["## Settings", ""]
        lines += settings().map { "- `\($0.run)`: \($0.text)" }
        return lines.joined(separator: "\n") + "\n"
    }

    public var html: String {
        let escape = SVGChart.escape
        var body = "<h1>\(escape(title))</h1>\n"
        let facts = provenance()
        if !facts.isEmpty {
            body += "<ul>" + facts.map { "<li>\(escape($0.0)): \(escape($0.1))</li>" }.joined() + "</ul>\n"
        }
        body +=
            "<p>Verdicts: " + escape(tally.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")) + ".</p>\n"
        for section in sections {
            body += "<section><h2>\(escape(section.name))</h2><table><tr>"
            body += Self.headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
            for row in section.rows {
                let verdictClass = row.verdict.rawValue.replacingOccurrences(of: " ", with: "-")
                body +=
                    "<tr class=\"\(verdictClass)\">"
                    + cells(row).map { "<td>\(escape($0))</td>" }.joined() + "</tr>"
            }
            body += "</table></section>\n"
        }
        body += "<section><h2>Settings</h2><ul>"
        body += settings().map { "<li><code>\(escape($0.run))</code>: \(escape($0.text))</li>" }.joined()
        body += "</ul></section>"
        return RunReport.page(title: title, body: body)
    }
}
