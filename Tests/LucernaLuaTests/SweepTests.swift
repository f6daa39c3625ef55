import Foundation
import LucernaRun
import LucernaTestSupport
import XCTest

/// `lucerna sweep` on the local backend: a 2 × 2 grid × 2 seeds of a recipe whose score is known, the
/// aggregate report, resuming after a point is lost, retries of a failing point, and
/// `lucerna run --manifest --index` on its own.
final class SweepTests: XCTestCase {
    let recipe = """
        local config = lucerna.config{seeds = {1}, a = 1, b = "x", fail = 0}
        assert(config.a ~= config.fail, "point a = " .. config.a .. " fails on purpose")
        run.log{score = config.a * 10 + (config.b == "y" and 1 or 0) + run.seed / 100}
        """

    /// A fresh folder with the recipe in it: the folder, the recipe's path and the sweep folder to use.
    func prepare(_ name: String) throws -> (root: String, recipe: String, sweep: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(name)-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try recipe.write(toFile: "\(root)/score.lua", atomically: true, encoding: .utf8)
        return (root, "\(root)/score.lua", "\(root)/sweep")
    }

    func testALocalSweepRunsEveryPointAggregatesAndResumes() throws {
        let (root, recipePath, sweep) = try prepare("local")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let arguments = [
            "sweep", recipePath, "--grid", "a=1,2", "--grid", "b=x,y", "--seeds", "1,2", "--jobs", "2", "--out", sweep,
        ]
        // --plan writes the manifest and lists the points without running any.
        let plan = try lucerna(arguments + ["--plan"])
        XCTAssertEqual(plan.status, 0, plan.errors)
        XCTAssert(plan.output.contains("point-003  not started   a=2 b=y"), plan.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(sweep)/point-000"))
        let first = try lucerna(arguments)
        XCTAssertEqual(first.status, 0, first.output + first.errors)
        XCTAssert(first.output.contains("4 points (a × 2, b × 2), 0 finished, 4 to run, 2 at a time"), first.output)
        let manifest = try String(contentsOfFile: "\(sweep)/manifest.jsonl", encoding: .utf8)
        XCTAssertEqual(manifest.split(separator: "\n").count, 4)
        for point in ["point-000", "point-001", "point-002", "point-003"] {
            XCTAssert(FileManager.default.fileExists(atPath: "\(sweep)/\(point)/DONE"), point)
            XCTAssert(FileManager.default.fileExists(atPath: "\(sweep)/\(point)/seed-2/summary.json"), point)
        }
        // The last axis varies fastest: point-001 is a=1 b=y, whose score is 11 + seed/100.
        let report = try lucerna(["report", sweep, "--sort", "score"])
        XCTAssertEqual(report.status, 0, report.errors)
        let rows = report.output.split(separator: "\n").filter { $0.hasPrefix("| point-") }
        XCTAssertEqual(rows.count, 4, report.output)
        XCTAssert(rows[0].hasPrefix("| point-003: a=2 b=y | 21.0150 ± 0.0071 |"), report.output)
        XCTAssert(rows[3].hasPrefix("| point-000: a=1 b=x | 10.0150 ± 0.0071 |"), report.output)
        XCTAssert(
            report.output.contains("| score | point-003: a=2 b=y | 21.0150 | point-000: a=1 b=x | 10.0150 |"),
            report.output)
        let ascending = try lucerna(["report", sweep, "--sort", "score", "--ascending", "--html", "\(root)/sweep.html"])
        XCTAssert(
            ascending.output.split(separator: "\n").first { $0.hasPrefix("| point-") }?.hasPrefix("| point-000")
                == true,
            ascending.output)
        XCTAssert(try String(contentsOfFile: "\(root)/sweep.html", encoding: .utf8).contains("point-003: a=2 b=y"))

        // A point lost (its marker gone, as if killed mid-run) is resumed; the others are not run again.
        try FileManager.default.removeItem(atPath: "\(sweep)/point-002/DONE")
        try FileManager.default.removeItem(atPath: "\(sweep)/point-002/summary.json")
        try FileManager.default.removeItem(atPath: "\(sweep)/point-002/seed-2")
        let second = try lucerna(arguments)
        XCTAssertEqual(second.status, 0, second.output + second.errors)
        XCTAssert(second.output.contains("3 finished, 1 to run"), second.output)
        let log = try String(contentsOfFile: "\(sweep)/logs/point-002.log", encoding: .utf8)
        XCTAssert(log.contains("point-002 (a=2 b=x): resuming"), log)
        XCTAssert(log.contains("seed 1: finished earlier"), log)
        XCTAssertEqual(try lucerna(["report", sweep, "--sort", "score"]).output, report.output)
        XCTAssert(try lucerna(arguments + ["--plan"]).output.contains("point-002  finished      a=2 b=x"))

        // Another grid in the same folder is refused; the manifest's point runs on its own.
        let other = try lucerna(["sweep", recipePath, "--grid", "a=1,3", "--out", sweep])
        XCTAssertEqual(other.status, 1)
        XCTAssert(other.errors.contains("holds another sweep"), other.errors)
        let single = try lucerna(["run", "--manifest", "\(sweep)/manifest.jsonl", "--index", "1"])
        XCTAssertEqual(single.status, 0, single.errors)
        XCTAssert(single.output.contains("point-001 (a=1 b=y): finished before"), single.output)
        let outside = try lucerna(["run", "--manifest", "\(sweep)/manifest.jsonl", "--index", "4"])
        XCTAssertEqual(outside.status, 2)
        XCTAssert(outside.errors.contains("has points 0 to 3"), outside.errors)
    }

    /// A recipe can declare its own sweep; `lucerna sweep RECIPE` reads it, a plain run ignores it.
    func testARecipesOwnSweepTableIsItsGrid() throws {
        let (root, _, sweep) = try prepare("table")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let declared = "\(root)/declared.lua"
        try
            ("lucerna.sweep{grid = {b = {\"x\", \"y\"}, a = {1, 2.5}, c = {{4, 2}}}, seeds = {1, 2}}\n"
            + recipe.replacingOccurrences(
                of: "a = 1, b = \"x\",", with: "a = 1, b = \"x\", c = {1, 1},")).write(
                toFile: declared, atomically: true, encoding: .utf8)
        let plan = try lucerna(["sweep", declared, "--out", sweep, "--plan"])
        XCTAssertEqual(plan.status, 0, plan.errors)
        XCTAssert(plan.output.contains("point-000  not started   a=1 b=x c={4,2}"), plan.output)
        XCTAssert(plan.output.contains("point-003  not started   a=2.5 b=y c={4,2}"), plan.output)
        XCTAssert(try String(contentsOfFile: "\(sweep)/manifest.jsonl", encoding: .utf8).contains("\"seeds\": [1, 2]"))
        let run = try lucerna(["sweep", declared, "--out", sweep])
        XCTAssertEqual(run.status, 0, run.output + run.errors)
        let report = try lucerna(["report", sweep, "--sort", "score"])
        XCTAssert(report.output.contains("| point-003: a=2.5 b=y c={4,2} | 26.0150 ± 0.0071 |"), report.output)
        // A plain run of the same recipe runs its defaults.
        let plain = try lucerna(["run", declared, "--seed", "1", "--out", "\(root)/plain"])
        XCTAssertEqual(plain.status, 0, plain.errors)
        // A recipe without lucerna.sweep{}, or with lucerna.config{} first, needs --grid.
        let missing = try lucerna(["sweep", "\(root)/score.lua", "--out", "\(root)/missing"])
        XCTAssertEqual(missing.status, 2)
        XCTAssert(missing.errors.contains("must come before lucerna.config"), missing.errors)
        try "lucerna.sweep{grid = {a = {}}}".write(toFile: "\(root)/empty.lua", atomically: true, encoding: .utf8)
        let empty = try lucerna(["sweep", "\(root)/empty.lua", "--out", "\(root)/empty"])
        XCTAssertEqual(empty.status, 2)
        XCTAssert(empty.errors.contains("grid.a must be a non-empty list"), empty.errors)
    }

    func testAFailingPointIsRetriedThenReported() throws {
        let (root, recipePath, sweep) = try prepare("failing")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try lucerna([
            "sweep", recipePath, "--grid", "a=1,3", "--set", "fail=3", "--retries", "1", "--out", sweep,
        ])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertEqual(result.output.components(separatedBy: "point-001 [a=3]: failed").count - 1, 2, result.output)
        XCTAssert(result.errors.contains("1 point failed 2 times"), result.errors)
        XCTAssert(FileManager.default.fileExists(atPath: "\(sweep)/point-000/DONE"))
        let log = try String(contentsOfFile: "\(sweep)/logs/point-001.log", encoding: .utf8)
        XCTAssert(log.contains("fails on purpose"), log)
        let report = try lucerna(["report", sweep])
        XCTAssertEqual(report.status, 0, report.errors)
        XCTAssert(report.output.contains("1 point finished, 1 not (point-001)"), report.output)
    }

    /// The same sweep through a real one-node Slurm (scripts/slurm-local.sh) and through the local pool give the
    /// same aggregate, number for number; a point lost afterwards is the only task of the next submission.
    func testTheSlurmBackendGivesTheLocalBackendsNumbers() throws {
        guard getuid() == 0 else { throw XCTSkip("scripts/slurm-local.sh starts Slurm's daemons as root") }
        let (root, recipePath, sweep) = try prepare("slurm")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cluster = ["SLURM_LOCAL_DIR": "\(root)/cluster", "SLURM_LOCAL_PORT": "6957"]
        let start = try execute(
            URL(fileURLWithPath: "/bin/bash"), ["scripts/slurm-local.sh", "start"], environment: cluster)
        defer {
            _ = try? execute(
                URL(fileURLWithPath: "/bin/bash"), ["scripts/slurm-local.sh", "stop"], environment: cluster)
        }
        XCTAssertEqual(start.status, 0, start.errors)
        let configuration = try XCTUnwrap(
            start.output.split(separator: "\n").first { $0.hasPrefix("export SLURM_CONF=") }?.dropFirst(18))
        let slurm: [String: String?] = ["SLURM_CONF": String(configuration)]
        let grid = ["--grid", "a=1,2", "--grid", "b=x,y", "--seeds", "1,2", "--jobs", "2"]
        let local = try lucerna(["sweep", recipePath] + grid + ["--out", "\(root)/local"])
        XCTAssertEqual(local.status, 0, local.output + local.errors)
        let submitted = try lucerna(
            ["sweep", recipePath] + grid + ["--out", sweep, "--backend", "slurm", "--slurm-option", "time=00:10:00"],
            environment: slurm)
        XCTAssertEqual(submitted.status, 0, submitted.output + submitted.errors)
        XCTAssert(submitted.output.contains("4 tasks"), submitted.output)
        let script = try String(contentsOfFile: "\(sweep)/slurm/round-1.sbatch", encoding: .utf8)
        XCTAssert(script.contains("#SBATCH --array=0,1,2,3%2"), script)
        XCTAssert(script.contains("#SBATCH --time=00:10:00"), script)
        XCTAssert(script.contains("--index \"$SLURM_ARRAY_TASK_ID\""), script)
        // The tables, without the headings that name the folders.
        func table(_ folder: String) throws -> [Substring] {
            try lucerna(["report", folder, "--sort", "score"]).output.split(separator: "\n").filter {
                $0.hasPrefix("|")
            }
        }
        XCTAssertEqual(try table(sweep), try table("\(root)/local"))
        XCTAssertEqual(try table(sweep).count, 9)  // 2 + 4 rows of points, 2 + 1 of the extremes
        // A point lost (as if its task was killed) is resubmitted alone; the finished ones are not run again.
        try FileManager.default.removeItem(atPath: "\(sweep)/point-001/DONE")
        try FileManager.default.removeItem(atPath: "\(sweep)/point-001/summary.json")
        try FileManager.default.removeItem(atPath: "\(sweep)/point-001/seed-2")
        let again = try lucerna(
            ["sweep", recipePath] + grid + ["--out", sweep, "--backend", "slurm", "--slurm-option", "time=00:10:00"],
            environment: slurm)
        XCTAssertEqual(again.status, 0, again.output + again.errors)
        XCTAssert(again.output.contains("3 finished, 1 to run"), again.output)
        XCTAssert(try String(contentsOfFile: "\(sweep)/slurm/round-2.sbatch", encoding: .utf8).contains("--array=1%2"))
        XCTAssertEqual(try table(sweep), try table("\(root)/local"))
        // scripts/reproduce.sh on the same cluster: its experiments as one array (two of them, at the tests' size).
        guard ProcessInfo.processInfo.environment["LUCERNA_DATA"] != nil else { return }
        let reproduction = try execute(
            URL(fileURLWithPath: "/bin/bash"),
            [
                "scripts/reproduce.sh", "--tiny", "--backend", "slurm", "--jobs", "2", "--only", "fair-toxic-*",
                "--runs",
                "\(root)/paper",
            ], environment: slurm.merging(["LUCERNA": binary.path]) { $1 })
        XCTAssertEqual(reproduction.status, 0, reproduction.output + reproduction.errors)
        XCTAssert(reproduction.output.contains("slurm: submitted job"), reproduction.output)
        for name in ["fair-toxic-plain", "fair-toxic-token_penalty"] {
            XCTAssert(FileManager.default.fileExists(atPath: "\(root)/paper/\(name)/DONE"), name)
        }
        let paper = try String(contentsOfFile: "\(root)/paper/paper.md", encoding: .utf8)
        XCTAssert(paper.contains("`fair-toxic-plain`: recipe"), paper)
    }
}
