import Foundation
import XCTest
import LucernaTestSupport

/// The `lucerna` executable: exit codes (0 success, 1 recipe error, 2 usage error), run folders, and the
/// list, check and stubs commands.
final class CommandLineTests: XCTestCase {
    struct Result {
        let status: Int32
        let output: String
        let errors: String
    }

    var binary: URL {
        (Bundle.main.executableURL?.deletingLastPathComponent() ?? Fixture.repositoryRoot.appendingPathComponent(".build/release"))
            .appendingPathComponent("lucerna")
    }

    func lucerna(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = Fixture.repositoryRoot
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit, "lucerna \(arguments) was killed by a signal")
        return Result(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                      errors: String(decoding: errorData, as: UTF8.self))
    }

    func temporaryFolder(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(name)-\(getpid())").path
    }

    func write(_ source: String, _ name: String) throws -> String {
        let path = temporaryFolder(name) + ".lua"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTheBinaryIsBuilt() {
        XCTAssert(FileManager.default.isExecutableFile(atPath: binary.path), "no lucerna at \(binary.path)")
    }

    func testARunWritesItsFolder() throws {
        let folder = temporaryFolder("run")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try lucerna(["run", "examples/03_swap_components.lua", "--out", folder, "--set", "fusion=sum", "--set", "epochs=20"])
        XCTAssertEqual(result.status, 0, result.errors)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/config.json"))) as? [String: Any]
        XCTAssertEqual(config?["fusion"] as? String, "sum")
        XCTAssertEqual(config?["epochs"] as? Int, 20)
        let lines = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        for line in lines { XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) }
        XCTAssert(FileManager.default.fileExists(atPath: "\(folder)/checkpoints/fusion.safetensors"))
        let report = try String(contentsOfFile: "\(folder)/report.md", encoding: .utf8)
        XCTAssert(report.contains("outcome: completed") && report.contains("`fusion=sum`"), report)
    }

    func testRecipeErrorsExitWithOneAndAreReported() throws {
        for item in BadRecipeTests.cases.prefix(45) where item.line == 1 {
            let folder = temporaryFolder("bad")
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let recipe = try write(item.source, "bad")
            let result = try lucerna(["run", recipe, "--out", folder])
            XCTAssertEqual(result.status, 1, "\(item.source): \(result.errors)")
            XCTAssert(result.errors.contains(item.expected), "\(item.source): \(result.errors)")
            XCTAssert(try String(contentsOfFile: "\(folder)/report.md", encoding: .utf8).contains("outcome: failed"))
        }
    }

    func testUsageErrorsExitWithTwo() throws {
        let folder = temporaryFolder("usage")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cases: [[String]] = [
            ["run"], ["run", "examples/none.lua"], ["run", "examples/03_swap_components.lua", "--bogus"],
            ["run", "examples/03_swap_components.lua", "--set", "no-equals-sign"],
            ["run", "examples/03_swap_components.lua", "--out", folder, "--set", "fusoin=gated"],
            ["run", "examples/03_swap_components.lua", "--out", folder, "--set", "epochs=many"],
            ["run", "examples/01_tensors.lua", "--out", folder, "--set", "epochs=3"],
            ["run", "examples/03_swap_components.lua", "--threads", "0"],
            ["list", "gadgets"], ["bench", "nothing"], ["frobnicate"],
        ]
        for arguments in cases {
            let result = try lucerna(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.errors)")
            XCTAssertFalse(result.errors.isEmpty, "\(arguments) printed no error")
        }
    }

    func testListCheckAndStubs() throws {
        let list = try lucerna(["list"])
        XCTAssertEqual(list.status, 0)
        for name in ["concat", "gated", "l2", "l1", "accuracy", "adamw", "cosine", "cross_entropy", "fashion_mnist", "fgsm"] {
            XCTAssert(list.output.contains("  \(name) — "), name)
        }
        let fusions = try lucerna(["list", "fusions"])
        XCTAssert(fusions.output.contains("input_dims") && !fusions.output.contains("adamw"))

        let check = try lucerna(["check", "Plugins/fusions/gated.lua"])
        XCTAssertEqual(check.status, 0, check.errors)
        XCTAssert(check.output.contains("gradients reach all 6 parameters") && check.output.contains("passed"), check.output)
        let broken = try write("""
            return {kind = "fusion", name = "broken", description = "returns a constant", defaults = {input_dims = {2, 2}},
               forward = function(self, inputs) return tensor.ones{3, 2} end}
            """, "broken")
        let failed = try lucerna(["check", broken])
        XCTAssertEqual(failed.status, 1)
        XCTAssert(failed.errors.contains("FAILED: fusions.broken: the output does not depend on the inputs or parameters"), failed.errors)

        let stubs = try lucerna(["stubs"])
        XCTAssertEqual(stubs.status, 0)
        XCTAssert(stubs.output.hasPrefix("---@meta") && stubs.output.contains("function fusions.gated(options) end"))
    }

    /// The README's main job, shortened: the Fashion-MNIST recipe trains and records its run.
    func testTheMainRecipeTrainsOnFashionMNIST() throws {
        let folder = temporaryFolder("main")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try lucerna(["run", "examples/02_fashion_cnn.lua", "--out", folder, "--set", "epochs=1", "--set", "limit=3000"])
        XCTAssertEqual(result.status, 0, result.errors)
        let line = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
        let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        XCTAssertGreaterThan(record?["test_accuracy"] as? Double ?? 0, 0.6, line)
        XCTAssert(FileManager.default.fileExists(atPath: "\(folder)/checkpoints/final.safetensors"))
    }

    /// `--seeds` runs once per seed and aggregates the last metrics as mean ± sample std with per-seed values.
    func testSeedsAreRunAndAggregated() throws {
        let folder = temporaryFolder("seeds")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let recipe = try write("run.log{step = 1, value = 0}\nrun.log{step = 2, value = tensor.rand{1}:item(), seed = run.seed}", "seeds")
        let result = try lucerna(["run", recipe, "--out", folder, "--seeds", "1,2,3"])
        XCTAssertEqual(result.status, 0, result.errors)
        var values: [Double] = []
        for seed in 1...3 {
            let last = try String(contentsOfFile: "\(folder)/seed-\(seed)/metrics.jsonl", encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
            let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
            XCTAssertEqual(record["seed"] as? Int, seed)
            values.append(try XCTUnwrap(record["value"] as? Double))
        }
        XCTAssertEqual(Set(values).count, 3, "different seeds draw different numbers")
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/summary.json"))) as? [String: Any])
        let metric = try XCTUnwrap((summary["metrics"] as? [String: Any])?["value"] as? [String: Any])
        let mean = values.reduce(0, +) / 3
        let deviation = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2).squareRoot()
        XCTAssertEqual(metric["mean"] as? Double ?? -1, mean, accuracy: 1e-9)
        XCTAssertEqual(metric["std"] as? Double ?? -1, deviation, accuracy: 1e-9)
        XCTAssertEqual((metric["values"] as? [Double])?.count, 3)
        XCTAssert(try String(contentsOfFile: "\(folder)/report.md", encoding: .utf8).contains("| value |"))
        // lucerna report compares the seeds' summary with a single run.
        let single = temporaryFolder("single")
        defer { try? FileManager.default.removeItem(atPath: single) }
        XCTAssertEqual(try lucerna(["run", recipe, "--out", single]).status, 0)
        let table = try lucerna(["report", folder, single])
        XCTAssertEqual(table.status, 0, table.errors)
        let rows = table.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.first, "| run | seed | step | value |")
        XCTAssert(rows.contains { $0.hasPrefix("| \(URL(fileURLWithPath: folder).lastPathComponent) | 2.0000 ± 1.0000 | 2.0000 ± 0.0000 | ") }, table.output)
        XCTAssertEqual(rows.count, 4)
        XCTAssertEqual(try lucerna(["report", "/nonexistent-run"]).status, 1)
        XCTAssertEqual(try lucerna(["run", recipe, "--seeds", "1,x"]).status, 2)
        XCTAssertEqual(try lucerna(["run", recipe, "--seeds", "2,2"]).status, 2)
    }
}
