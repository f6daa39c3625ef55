import Foundation
import LucernaTestSupport
import XCTest

/// `scripts/reproduce.sh --tiny`: every experiment of examples/paper/experiments.tsv at the tests' sizes, one seed,
/// then the claims report; `--list` gives each experiment's state; a second invocation resumes an unfinished
/// experiment and skips the finished ones.
final class ReproduceTests: XCTestCase {
    func testTinyReproductionRunsEveryExperimentAndJudgesEveryClaim() throws {
        let environment = ProcessInfo.processInfo.environment
        guard environment["LUCERNA_DATA"] != nil || environment["CI"] != nil else {
            throw XCTSkip("scripts/reproduce.sh needs LUCERNA_DATA (multimodal MNIST, FSDD, tweets)")
        }
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("reproduce-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let script = ["scripts/reproduce.sh", "--tiny", "--jobs", "2", "--runs", runs]
        let bash = URL(fileURLWithPath: "/bin/bash")
        let first = try execute(bash, script, environment: ["LUCERNA": binary.path])
        XCTAssertEqual(first.status, 0, "\(first.output.suffix(2000))\n\(first.errors.suffix(2000))")
        let manifest = try String(
            contentsOf: Fixture.repositoryRoot.appendingPathComponent("examples/paper/experiments.tsv"), encoding: .utf8
        )
        let experiments = manifest.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
            $0.split(separator: "\t").first.map(String.init)
        }
        XCTAssertGreaterThan(experiments.count, 15)
        for name in experiments {
            XCTAssert(FileManager.default.fileExists(atPath: "\(runs)/\(name)/summary.json"), "\(name) did not finish")
        }
        let report = try String(contentsOfFile: "\(runs)/paper.md", encoding: .utf8)
        let claims = try String(
            contentsOf: Fixture.repositoryRoot.appendingPathComponent("examples/paper/claims.lua"), encoding: .utf8)
        let claimCount = claims.components(separatedBy: "claim = \"").count - 1
        let rows = report.split(separator: "\n").filter {
            $0.hasPrefix("| ") && !$0.hasPrefix("| claim |")
        }
        XCTAssertEqual(rows.count, claimCount, report)
        XCTAssertFalse(rows.contains { $0.contains("| not run |") }, "every claim's metric exists: \(report)")
        XCTAssert(report.contains("- mode: tiny"), report)
        XCTAssert(FileManager.default.fileExists(atPath: "\(runs)/paper.html"))
        // --list tells each experiment's state without running anything.
        let listed = try execute(bash, ["scripts/reproduce.sh", "--tiny", "--runs", runs, "--list"])
        XCTAssertEqual(listed.status, 0, listed.errors)
        XCTAssertEqual(listed.output.components(separatedBy: " finished ").count - 1, experiments.count, listed.output)
        try FileManager.default.removeItem(atPath: "\(runs)/\(experiments[0])/summary.json")
        let partial = try execute(bash, ["scripts/reproduce.sh", "--tiny", "--runs", runs, "--list"])
        XCTAssert(partial.output.hasPrefix("\(experiments[0]) "), partial.output)
        XCTAssert(partial.output.split(separator: "\n").first?.contains("interrupted") == true, partial.output)
        // Re-running resumes the interrupted one and skips the finished ones.
        let second = try execute(bash, script, environment: ["LUCERNA": binary.path])
        XCTAssertEqual(second.status, 0, second.errors)
        XCTAssertEqual(
            second.output.components(separatedBy: "finished before, skipped").count - 1, experiments.count - 1,
            second.output)
        XCTAssert(second.output.contains("\(experiments[0]): resuming"), second.output)
        XCTAssert(FileManager.default.fileExists(atPath: "\(runs)/\(experiments[0])/summary.json"))
        // Both invocations are on record, and the report's header sums their wall times.
        let invocations = try String(contentsOfFile: "\(runs)/invocations.jsonl", encoding: .utf8)
        XCTAssertEqual(invocations.split(separator: "\n").count, 2, invocations)
        let record = try String(contentsOfFile: "\(runs)/reproduce.json", encoding: .utf8)
        XCTAssert(record.contains("\"invocations\": 2"), record)
        // The report's start is the first invocation's, not the last one's.
        let firstStart = try XCTUnwrap(
            invocations.split(separator: "\n").first?.split(separator: "\"").dropFirst(3).first)
        XCTAssert(record.contains("\"first invocation started\": \"\(firstStart)\""), record)
        // Both invocations ran the checkout's commit.
        XCTAssert(record.contains(" (2 invocations)\","), record)
        // Each experiment's start (and the resumed one's resumption) is on record with its commit, and the
        // report's settings name it.
        let events = try String(contentsOfFile: "\(runs)/experiments.jsonl", encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(events.filter { $0.contains("\"event\": \"started\"") }.count, experiments.count)
        XCTAssertEqual(events.filter { $0.contains("\"event\": \"finished\"") }.count, experiments.count + 1)
        XCTAssertEqual(
            events.filter { $0.contains("\"event\": \"resumed\"") }.map { $0.contains("\"\(experiments[0])\"") },
            [true])
        let commit = try XCTUnwrap(
            record.components(separatedBy: "\"commit of this invocation\": \"").dropFirst().first?
                .split(separator: "\"").first)
        let finalReport = try String(contentsOfFile: "\(runs)/paper.md", encoding: .utf8)
        let setting = try XCTUnwrap(
            finalReport.split(separator: "\n").first { $0.hasPrefix("- `\(experiments[0])`: ") }, finalReport)
        // Started and resumed at the same commit: named once.
        XCTAssert(setting.hasSuffix("; commit \(commit)"), String(setting))
    }
}
