import Foundation
import LucernaComponents
import XCTest

@testable import LucernaRun

final class ClaimReportTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder =
            FileManager.default.temporaryDirectory.appendingPathComponent("claims-\(getpid())-\(name.hashValue)")
            .path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    /// A finished multi-seed run: `summary.json` as `lucerna run` writes it, and a `run.json`.
    func writeRun(_ name: String, seeds: [Int], metrics: [String: [Double]], overrides: [String] = []) throws {
        let path = "\(folder)/\(name)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let records = seeds.enumerated().map { index, seed in
            (seed: seed, metrics: metrics.compactMapValues { index < $0.count ? $0[index] : nil })
        }
        try SeedSummary(records: records).json.write(toFile: "\(path)/summary.json", atomically: true, encoding: .utf8)
        let run = ConfigValue.table([
            "recipe": .string("examples/paper/\(name).lua"), "overrides": .list(overrides.map { .string($0) }),
            "threads": .number(1),
        ])
        try run.json.write(toFile: "\(path)/run.json", atomically: true, encoding: .utf8)
    }

    func claims(_ entries: [[String: ConfigValue]]) -> ConfigValue {
        .table(["title": .string("Paper"), "claims": .list(entries.map { .table($0) })])
    }

    func claim(
        _ run: String, _ metric: String, paper: ConfigValue? = nil, _ extra: [String: ConfigValue] = [:]
    ) -> [String: ConfigValue] {
        var fields: [String: ConfigValue] = [
            "section": .string("Main"), "claim": .string("\(metric) of \(run)"), "run": .string(run),
            "metric": .string(metric),
        ]
        if let paper { fields["paper"] = paper }
        return fields.merging(extra) { $1 }
    }

    func testFiguresAgainstThePaperAndTheTarget() throws {
        try writeRun(
            "full", seeds: [1, 2, 3], metrics: ["test_accuracy": [0.990, 0.992, 0.994], "fid": [12, 10, 11]])
        let report = try ClaimReport(
            claims: claims([
                claim("full", "test_accuracy", paper: .number(0.932), ["target": .number(0.99), "unit": .string("%")]),
                claim("full", "test_accuracy", paper: .number(0.995), ["target": .number(0.995)]),
                claim("full", "test_accuracy", paper: .list([.number(0.73), .number(0.77)])),
                claim("full", "fid", paper: .number(11.5), ["higher": .boolean(false)]),
                claim("full", "fid", paper: .number(10.5), ["higher": .boolean(false)]),
            ]), runsFolder: folder)
        XCTAssertEqual(report.rows.map(\.verdict), [.holds, .doesNotHold, .holds, .holds, .doesNotHold])
        XCTAssertEqual(report.rows.map(\.targetMet), [true, false, nil, nil, nil])
        let first = try XCTUnwrap(report.rows[0].ours)
        XCTAssertEqual(first.mean, 0.992, accuracy: 1e-12)
        XCTAssertEqual(first.standardDeviation, 0.002, accuracy: 1e-12)
        // mean ± t(0.975, 2)·s/√3 with t = 4.302652729749462 (SciPy).
        let half = 4.302652729749462 * 0.002 / 3.0.squareRoot()
        XCTAssertEqual(first.interval?.lower ?? 0, 0.992 - half, accuracy: 1e-9)
        XCTAssertEqual(first.interval?.upper ?? 0, 0.992 + half, accuracy: 1e-9)
        let cells = report.cells(report.rows[0])
        XCTAssertEqual(cells[1], "93.20 %")
        XCTAssertEqual(cells[2], "99.20 % ± 0.20 % (3 seeds)")
        XCTAssertEqual(cells[4], "≥ 99.00 % met")
        XCTAssertTrue(report.rows[1].reason.contains("below the paper's 0.9950"), report.rows[1].reason)
        XCTAssertTrue(report.rows[2].reason.contains("range 0.7300–0.7700"), report.rows[2].reason)
        XCTAssertTrue(report.rows[4].reason.contains("above the paper's 10.5000"), report.rows[4].reason)
    }

    /// "Outperforms every baseline" holds only when each paired difference's interval excludes zero; the
    /// differences pair by seed, whatever order the runs list their seeds in.
    func testOutperformsIsJudgedByPairedIntervals() throws {
        try writeRun("full", seeds: [1, 2, 3], metrics: ["test_f1": [0.95, 0.96, 0.97]])
        try writeRun("clear", seeds: [3, 1, 2], metrics: ["test_f1": [0.92, 0.90, 0.915]])
        try writeRun("close", seeds: [1, 2, 3], metrics: ["test_f1": [0.96, 0.95, 0.969]])
        let over = { (names: [String]) -> [String: ConfigValue] in ["over": .list(names.map { .string($0) })] }
        let report = try ClaimReport(
            claims: claims([
                claim("full", "test_f1", over(["clear"])), claim("full", "test_f1", over(["clear", "close"])),
            ]),
            runsFolder: folder)
        let clear = try XCTUnwrap(report.rows[0].paired.first)
        XCTAssertEqual(clear.seeds, [1, 2, 3])
        for (actual, expected) in zip(clear.differences, [0.05, 0.045, 0.05]) {
            XCTAssertEqual(actual, expected, accuracy: 1e-12)
        }
        XCTAssertEqual(report.rows[0].verdict, .holds, report.rows[0].reason)
        XCTAssertEqual(report.rows[1].verdict, .doesNotHold)
        XCTAssertTrue(report.rows[1].reason.contains("close"), report.rows[1].reason)
        XCTAssertFalse(report.rows[1].reason.contains("clear ("), report.rows[1].reason)
    }

    /// `baseline_metric` pairs a run's figure after a treatment with its own figure before it, seed by seed, and
    /// reads lower-is-better metrics the other way round.
    func testBeforeAndAfterWithinOneRun() throws {
        try writeRun(
            "r2r", seeds: [1, 2, 3],
            metrics: [
                "after": [0.99, 0.99, 0.96], "before": [0.94, 0.95, 0.96], "relevance_after": [0.01, 0.02, 0.03],
                "relevance_before": [0.15, 0.16, 0.14],
            ])
        let report = try ClaimReport(
            claims: claims([
                claim("r2r", "after", ["over": .list([.string("r2r")]), "baseline_metric": .string("before")]),
                claim(
                    "r2r", "relevance_after",
                    [
                        "over": .list([.string("r2r")]), "baseline_metric": .string("relevance_before"),
                        "higher": .boolean(false),
                    ]),
                claim("r2r", "after", ["over": .list([.string("r2r")]), "baseline_metric": .string("befor")]),
            ]), runsFolder: folder)
        let accuracy = try XCTUnwrap(report.rows[0].paired.first)
        XCTAssertEqual(accuracy.baseline, "r2r's before")
        for (actual, expected) in zip(accuracy.differences, [0.05, 0.04, 0]) {
            XCTAssertEqual(actual, expected, accuracy: 1e-12)
        }
        // A third seed with no gain leaves the interval across 0.
        XCTAssertEqual(report.rows[0].verdict, .doesNotHold, report.rows[0].reason)
        XCTAssertTrue(report.rows[0].reason.contains("not clearly above r2r's before"), report.rows[0].reason)
        let relevance = try XCTUnwrap(report.rows[1].paired.first)
        for (actual, expected) in zip(relevance.differences, [0.14, 0.14, 0.11]) {
            XCTAssertEqual(actual, expected, accuracy: 1e-12)
        }
        XCTAssertEqual(report.rows[1].verdict, .holds, report.rows[1].reason)
        XCTAssertEqual(report.rows[2].verdict, .notRun)
        XCTAssertTrue(report.rows[2].reason.contains("no metric befor"), report.rows[2].reason)
    }

    func testOneSeedGivesNoIntervalAndMissingRunsAreSaid() throws {
        try writeRun("full", seeds: [1], metrics: ["test_accuracy": [0.99]])
        try writeRun("base", seeds: [1], metrics: ["test_accuracy": [0.98]])
        try writeRun("worse", seeds: [1], metrics: ["test_accuracy": [0.995]])
        let report = try ClaimReport(
            claims: claims([
                claim("full", "test_accuracy", ["over": .list([.string("base")])]),
                claim("full", "test_accuracy", ["over": .list([.string("worse")])]),
                claim("full", "test_accuracy", ["over": .list([.string("absent")])]),
                claim("absent", "test_accuracy", paper: .number(0.9)),
                claim("full", "test_acc", paper: .number(0.9)),
                claim(
                    "full", "test_accuracy", paper: .number(0.888),
                    ["comparable": .boolean(false), "why": .string("another SSIM")]),
                claim("full", "test_accuracy", paper: .number(0.9)),
            ]), runsFolder: folder)
        XCTAssertEqual(
            report.rows.map(\.verdict), [.undecided, .doesNotHold, .notRun, .notRun, .notRun, .notComparable, .holds])
        XCTAssertTrue(
            report.rows[2].reason.hasPrefix("baseline not measured: no summary.json in")
                && report.rows[2].reason.contains("/absent"), report.rows[2].reason)
        XCTAssertTrue(report.rows[3].reason.contains("has not finished"), report.rows[3].reason)
        XCTAssertTrue(report.rows[4].reason.contains("similar: test_accuracy"), report.rows[4].reason)
        XCTAssertEqual(report.rows[5].reason, "another SSIM")
        XCTAssertTrue(report.rows[6].reason.hasSuffix("(one seed)"), report.rows[6].reason)
        XCTAssertEqual(report.cells(report.rows[6])[3], "–")
    }

    func testMarkdownHasSectionsSettingsAndProvenance() throws {
        try writeRun("full", seeds: [1, 2], metrics: ["test_accuracy": [0.99, 0.98]], overrides: ["quick=true"])
        // Each seed's wall time is the last `time` its records carry.
        for (seed, time) in [(1, 125), (2, 3725)] {
            let path = "\(folder)/full/seed-\(seed)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try "{\"step\": 1, \"time\": 3}\n{\"test_accuracy\": 0.9, \"time\": \(time)}\n".write(
                toFile: "\(path)/metrics.jsonl", atomically: true, encoding: .utf8)
        }
        try #"{"commit": "abc1234", "mode": "full"}"#.write(
            toFile: "\(folder)/reproduce.json", atomically: true, encoding: .utf8)
        var second = claim("full", "test_accuracy", paper: .number(0.9))
        second["section"] = .string("Robustness")
        let report = try ClaimReport(
            claims: claims([claim("full", "test_accuracy", paper: .number(0.932)), second]), runsFolder: folder)
        let markdown = report.markdown
        XCTAssertTrue(markdown.hasPrefix("# Paper\n\n- commit: abc1234\n- mode: full\n"), markdown)
        let main = try XCTUnwrap(markdown.range(of: "## Main"))
        let robustness = try XCTUnwrap(markdown.range(of: "## Robustness"))
        XCTAssertLessThan(main.lowerBound, robustness.lowerBound)
        XCTAssertTrue(markdown.contains("Verdicts: 2 holds."), markdown)
        XCTAssertTrue(
            markdown.contains(
                "- `full`: recipe `examples/paper/full.lua`; `--set quick=true`; seeds 1, 2; wall time per seed 2 min 05 s, 1 h 02 min; 1 thread(s) each"
            ), markdown)
        XCTAssertTrue(report.html.contains("<tr class=\"holds\">"))
    }

    func testSettingsNameTheCommitsThatRanEachExperiment() throws {
        try writeRun("full", seeds: [1], metrics: ["test_accuracy": [0.99]])
        try writeRun("image", seeds: [1], metrics: ["test_accuracy": [0.95]])
        try writeRun("audio", seeds: [1], metrics: ["test_accuracy": [0.9]])
        // `full` started at one commit and was resumed at a later one; `image` ran at one commit and was skipped
        // by a later invocation (no line); `audio` predates the record. A malformed line is ignored.
        let lines = [
            #"{"name": "full", "event": "started", "commit": "aaa1111", "time": "t"}"#,
            #"{"name": "image", "event": "started", "commit": "aaa1111", "time": "t"}"#,
            #"{"name": "image", "event": "finished", "commit": "aaa1111", "time": "t"}"#,
            #"{"name": "full", "event": "failed", "commit": "aaa1111", "time": "t"}"#, "not json",
            #"{"name": "full", "event": "resumed", "commit": "bbb2222", "time": "t"}"#,
            #"{"name": "full", "event": "finished", "commit": "ccc3333", "time": "t"}"#,
        ]
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: "\(folder)/experiments.jsonl", atomically: true, encoding: .utf8)
        let report = try ClaimReport(
            claims: claims([
                claim("full", "test_accuracy", paper: .number(0.9)),
                claim("image", "test_accuracy", paper: .number(0.9)),
                claim("audio", "test_accuracy", paper: .number(0.9)),
            ]), runsFolder: folder)
        let settings = Dictionary(uniqueKeysWithValues: report.settings().map { ($0.run, $0.text) })
        XCTAssertEqual(settings["full"]?.hasSuffix("; commits aaa1111, bbb2222"), true, settings["full"] ?? "")
        XCTAssertEqual(settings["image"]?.hasSuffix("; commit aaa1111"), true, settings["image"] ?? "")
        XCTAssertEqual(settings["audio"]?.contains("commit"), false, settings["audio"] ?? "")
    }

    /// A longer setting's committed records give the best figure beside the target; the verdict stays the run's.
    func testALongerSettingIsGivenBesideTheTarget() throws {
        try writeRun("spoken", seeds: [1, 2, 3], metrics: ["ssim": [0.64, 0.63, 0.65]])
        // Records as docs/generation-runs keeps them: one folder per seed, and one folder of two seeds.
        try writeRun("long/seed-1", seeds: [1], metrics: ["ssim": [0.91]])
        try writeRun("long/rest", seeds: [2, 3], metrics: ["ssim": [0.90, 0.92], "other": [1, 2]])
        try writeRun("short/seed-1", seeds: [1], metrics: ["other": [1]])
        func longer(_ records: [String]) -> ConfigValue {
            .table([
                "setting": .string("9,000 steps"), "records": .list(records.map { .string("\(folder)/\($0)") }),
            ])
        }
        let extra: [String: ConfigValue] = ["target": .number(0.9), "unit": .string("%")]
        let report = try ClaimReport(
            claims: claims([
                claim(
                    "spoken", "ssim", paper: .number(0.888),
                    extra.merging(["longer": longer(["long/seed-1", "long/rest"])]) { $1 }),
                claim(
                    "spoken", "ssim", paper: .number(0.888),
                    extra.merging(["longer": longer(["long/rest", "missing"])]) { $1 }),
                claim(
                    "spoken", "ssim", paper: .number(0.888), extra.merging(["longer": longer(["short/seed-1"])]) { $1 }),
                claim("spoken", "ssim", paper: .number(0.888), extra),
            ]), runsFolder: folder)
        XCTAssertEqual(report.rows.map(\.verdict), [.doesNotHold, .doesNotHold, .doesNotHold, .doesNotHold])
        let measured = try XCTUnwrap(try report.rows[0].longer?.get())
        XCTAssertEqual(measured.seeds, [1, 2, 3])
        XCTAssertEqual(measured.values, [0.91, 0.90, 0.92])
        XCTAssertEqual(
            report.cells(report.rows[0])[4], "≥ 90.00 % missed; 9,000 steps: 91.00 % ± 1.00 % (3 seeds): met")
        XCTAssertTrue(report.cells(report.rows[1])[4].contains("no summary.json in \(folder)/missing"))
        XCTAssertTrue(report.cells(report.rows[2])[4].contains("short/seed-1 has no metric ssim"))
        XCTAssertEqual(report.cells(report.rows[3])[4], "≥ 90.00 % missed")
        XCTAssertNil(report.rows[3].longer)
    }

    func testMalformedClaimsAreErrorsNamingTheClaim() throws {
        let cases: [([String: ConfigValue], String)] = [
            (claim("full", "x", paper: .number(1), ["papers": .number(1)]), "unknown field 'papers'"),
            (["claim": .string("c"), "run": .string("r"), "metric": .string("m"), "paper": .number(1)], "`section`"),
            (claim("full", "x"), "give the paper's figure"),
            (claim("full", "x", paper: .list([.number(0.8), .number(0.7)])), "low 0.8 above high 0.7"),
            (claim("full", "x", paper: .string("93 %")), "finite number"),
            (claim("full", "x", paper: .number(1), ["comparable": .boolean(false)]), "needs `why`"),
            (claim("full", "x", paper: .number(1), ["unit": .string("percent")]), "unit"),
            (claim("full", "x", ["over": .string("base")]), "list of run folders"),
            (claim("full", "x", paper: .number(1), ["baseline_metric": .string("y")]), "needs the baselines"),
            (claim("full", "x", paper: .number(1), ["longer": .string("records")]), "longer must be a table"),
            (
                claim("full", "x", paper: .number(1), ["longer": .table(["records": .list([.string("a")])])]),
                "longer must be {setting"
            ),
        ]
        for (entry, expected) in cases {
            XCTAssertThrowsError(try ClaimReport(claims: claims([entry]), runsFolder: folder)) { error in
                XCTAssertTrue("\(error)".contains("claims[1]"), "\(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(error) should mention \(expected)")
            }
        }
        XCTAssertThrowsError(try ClaimReport(claims: .list([]), runsFolder: folder))
        XCTAssertThrowsError(try ClaimReport(claims: .table(["claims": .list([])]), runsFolder: folder))
    }
}
