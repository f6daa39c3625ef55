import Foundation
import LucernaCore
import LucernaTestSupport
import XCTest

/// The `lucerna` executable: exit codes (0 success, 1 recipe error, 2 usage error), run folders, and the
/// list, check and stubs commands.
final class CommandLineTests: XCTestCase {
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
        let result = try lucerna([
            "run", "examples/03_swap_components.lua", "--out", folder, "--set", "fusion=sum", "--set", "epochs=20",
        ])
        XCTAssertEqual(result.status, 0, result.errors)
        let config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/config.json")))
            as? [String: Any]
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
            try? FileManager.default.removeItem(atPath: folder)
            let result = try lucerna(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.errors)")
            XCTAssertFalse(result.errors.isEmpty, "\(arguments) printed no error")
        }
    }

    /// A new run into the folder of an earlier one is refused (with --jobs its seeds would resume that run's
    /// checkpoints); the earlier run is left as it was and can still be resumed.
    func testANewRunRefusesTheFolderOfAnEarlierRun() throws {
        let recipe = try write(Self.resumableRecipe, "earlier")
        let folder = temporaryFolder("earlier")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        XCTAssertEqual(try lucerna(["run", recipe, "--out", folder, "--seed", "4", "--set", "epochs=2"]).status, 0)
        let started = try String(contentsOfFile: "\(folder)/run.json", encoding: .utf8)
        let metrics = try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8)
        for arguments in [["--seed", "5"], ["--seeds", "1,2", "--jobs", "2", "--threads", "1"]] {
            let refused = try lucerna(["run", recipe, "--out", folder] + arguments)
            XCTAssertEqual(refused.status, 2, refused.errors)
            XCTAssert(
                refused.errors.contains(
                    "already holds a run (run.json): continue it with `lucerna run --resume \(folder)`"), refused.errors
            )
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(folder)/seed-1"), "a refused run starts no seed")
        }
        XCTAssertEqual(
            try String(contentsOfFile: "\(folder)/run.json", encoding: .utf8), started, "a refused run writes nothing")
        XCTAssertEqual(try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8), metrics)
        XCTAssertEqual(try lucerna(["run", "--resume", folder]).status, 0)
    }

    func testListCheckAndStubs() throws {
        let list = try lucerna(["list"])
        XCTAssertEqual(list.status, 0)
        for name in [
            "concat", "gated", "l2", "l1", "accuracy", "adamw", "cosine", "cross_entropy", "fashion_mnist", "fgsm",
        ] {
            XCTAssert(list.output.contains("  \(name) — "), name)
        }
        let fusions = try lucerna(["list", "fusions"])
        XCTAssert(fusions.output.contains("input_dims") && !fusions.output.contains("adamw"))

        let check = try lucerna(["check", "Plugins/fusions/gated.lua"])
        XCTAssertEqual(check.status, 0, check.errors)
        XCTAssert(
            check.output.contains("gradients reach all 6 parameters") && check.output.contains("passed"), check.output)
        let broken = try write(
            """
            return {kind = "fusion", name = "broken", description = "returns a constant", defaults = {input_dims = {2, 2}},
               forward = function(self, inputs) return tensor.ones{3, 2} end}
            """, "broken")
        let failed = try lucerna(["check", broken])
        XCTAssertEqual(failed.status, 1)
        XCTAssert(
            failed.errors.contains("FAILED: fusions.broken: the output does not depend on the inputs or parameters"),
            failed.errors)

        let stubs = try lucerna(["stubs"])
        XCTAssertEqual(stubs.status, 0)
        XCTAssert(stubs.output.hasPrefix("---@meta") && stubs.output.contains("function fusions.gated(options) end"))
    }

    /// The README's main job, shortened: the Fashion-MNIST recipe trains and records its run.
    func testTheMainRecipeTrainsOnFashionMNIST() throws {
        let folder = temporaryFolder("main")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try lucerna([
            "run", "examples/02_fashion_cnn.lua", "--out", folder, "--seed", "1", "--set", "epochs=1", "--set",
            "limit=3000",
        ])
        XCTAssertEqual(result.status, 0, result.errors)
        let line =
            try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8).split(separator: "\n").last.map(
                String.init) ?? ""
        let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        XCTAssertGreaterThan(record?["test_accuracy"] as? Double ?? 0, 0.6, line)
        XCTAssertEqual(record?["phase"] as? String, "test")
        for file in [
            "checkpoints/final.safetensors", "checkpoints/train-best.safetensors", "checkpoints/train-last.safetensors",
            "summary.json", "report.html", "evaluation.json", "splits.jsonl", "run.json", "recipe.lua",
        ] {
            XCTAssert(FileManager.default.fileExists(atPath: "\(folder)/\(file)"), file)
        }
        // The stratified 80/20 split of the 3,000 training images (rounded per class).
        let sizes = try String(contentsOfFile: "\(folder)/splits.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["samples"] as? Int
            }
        XCTAssertEqual(sizes.count, 2)
        XCTAssertEqual(sizes.reduce(0, +), 3000)
        XCTAssertEqual(Double(sizes.last ?? 0), 600, accuracy: 10)
        // The report opens with its results, rounded for reading; the confusion matrix is labelled with the
        // class names, and its value (the accuracy) is not drawn again as a curve or a result.
        let html = try String(contentsOfFile: "\(folder)/report.html", encoding: .utf8)
        let results = try XCTUnwrap(html.range(of: "<section id=\"results\">"))
        let overview = try XCTUnwrap(html.range(of: "<section id=\"overview\">"))
        XCTAssertLessThan(results.lowerBound, overview.lowerBound, "results first")
        let accuracy = try XCTUnwrap(record?["test_accuracy"] as? Double)
        XCTAssert(
            html.contains(
                "<tr><th>test_accuracy</th><td class=\"number\">\(String(format: "%.4f", accuracy))</td></tr>"),
            "rounded test accuracy")
        for row in ["best_epoch", "wall time (s)", "test_f1"] { XCTAssert(html.contains("<tr><th>\(row)</th>"), row) }
        XCTAssertFalse(html.contains("<tr><th>test_confusion</th>"))
        XCTAssertFalse(html.contains("chart-title\">val_confusion<"), "no curve repeats the accuracy")
        XCTAssert(html.contains("chart-title\">val_accuracy<"))
        for name in ["T-shirt/top", "Ankle boot"] { XCTAssert(html.contains("class=\"tick\">\(name)</text>"), name) }
        XCTAssert(html.contains("<caption>f1 per class</caption>"))
        let markdown = try String(contentsOfFile: "\(folder)/report.md", encoding: .utf8)
        XCTAssert(markdown.contains("## Results\n\n| result | value |"), markdown)
        XCTAssert(markdown.contains("| test_accuracy | \(String(format: "%.4f", accuracy)) |"), markdown)
    }

    /// `--seeds` runs once per seed and aggregates the last metrics as mean ± sample std with per-seed values.
    func testSeedsAreRunAndAggregated() throws {
        let folder = temporaryFolder("seeds")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let recipe = try write(
            "run.log{step = 1, value = 0}\nrun.log{step = 2, value = tensor.rand{1}:item(), seed = run.seed}", "seeds")
        let result = try lucerna(["run", recipe, "--out", folder, "--seeds", "1,2,3"])
        XCTAssertEqual(result.status, 0, result.errors)
        var values: [Double] = []
        for seed in 1...3 {
            let last =
                try String(contentsOfFile: "\(folder)/seed-\(seed)/metrics.jsonl", encoding: .utf8).split(
                    separator: "\n"
                ).last.map(String.init) ?? ""
            let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
            XCTAssertEqual(record["seed"] as? Int, seed)
            values.append(try XCTUnwrap(record["value"] as? Double))
        }
        XCTAssertEqual(Set(values).count, 3, "different seeds draw different numbers")
        let summary = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/summary.json")))
                as? [String: Any])
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
        XCTAssert(
            rows.contains {
                $0.hasPrefix(
                    "| \(URL(fileURLWithPath: folder).lastPathComponent) | 2.0000 ± 1.0000 | 2.0000 ± 0.0000 | ")
            }, table.output)
        XCTAssertEqual(rows.count, 4)
        XCTAssertEqual(try lucerna(["report", "/nonexistent-run"]).status, 1)
        XCTAssertEqual(try lucerna(["run", recipe, "--seeds", "1,x"]).status, 2)
        XCTAssertEqual(try lucerna(["run", recipe, "--seeds", "2,2"]).status, 2)
    }

    /// `lucerna report --claims`: a Lua claims file judged against multi-seed runs, in Markdown and HTML.
    func testReportJudgesAClaimsFileAgainstRuns() throws {
        let runs = temporaryFolder("claims-runs")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let recipe = try write(
            "local config = lucerna.config{offset = 0}\nrun.log{test_accuracy = 0.9 + config.offset + run.seed / 1000}",
            "claims-recipe")
        for (name, offset) in [("full", "0.05"), ("base", "0")] {
            let result = try lucerna([
                "run", recipe, "--seeds", "1,2,3", "--out", "\(runs)/\(name)", "--set", "offset=\(offset)",
            ])
            XCTAssertEqual(result.status, 0, result.errors)
        }
        let claims = try write(
            """
            return {title = "A paper", claims = {
               {section = "Main", claim = "accuracy 93.2 %", run = "full", metric = "test_accuracy", paper = 0.932,
                unit = "%", target = 0.99},
               {section = "Main", claim = "beats the baseline", run = "full", metric = "test_accuracy", over = {"base"}},
               {section = "Generation", claim = "SSIM 88.8 %", run = "gan", metric = "ssim", paper = 0.888},
            }}
            """, "claims")
        let html = "\(runs)/paper.html"
        let result = try lucerna(["report", "--claims", claims, runs, "--html", html])
        XCTAssertEqual(result.status, 0, result.errors)
        let lines = result.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "# A paper")
        XCTAssert(
            lines.contains(
                "| accuracy 93.2 % | 93.20 % | 95.20 % ± 0.10 % (3 seeds) | [94.95, 95.45] | ≥ 99.00 % missed | holds | ours 95.20 % is at or above the paper's 93.20 % |"
            ),
            result.output)
        XCTAssert(
            lines.contains {
                $0.hasPrefix("| beats the baseline | – | ") && $0.contains("vs base: +0.0500")
                    && $0.contains("| holds |")
            }, result.output)
        XCTAssert(lines.contains { $0.hasPrefix("| SSIM 88.8 % |") && $0.contains("| not run |") }, result.output)
        XCTAssert(result.output.contains("Verdicts: 2 holds, 1 not run."), result.output)
        XCTAssert(try String(contentsOfFile: html, encoding: .utf8).contains("<h2>Generation</h2>"))
        // A claims file that is not one, and a wrong folder count, fail with a message.
        let broken = try write("return {claims = {{section = 'x'}}}", "claims-broken")
        let failed = try lucerna(["report", "--claims", broken, runs])
        XCTAssertEqual(failed.status, 1)
        XCTAssert(failed.errors.contains("claims[1]"), failed.errors)
        XCTAssertNotEqual(try lucerna(["report", "--claims", claims, runs, runs]).status, 0)
        let mixed = try lucerna(["report", "--claims", claims, runs, "--metrics", "test_accuracy"])
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssert(mixed.errors.contains("--metrics does not apply to --claims"), mixed.errors)
    }

    func testSeedsRunAsParallelJobsAndAResumeSkipsFinishedSeeds() throws {
        let sequential = temporaryFolder("seeds-sequential")
        let parallel = temporaryFolder("seeds-jobs")
        defer { for folder in [sequential, parallel] { try? FileManager.default.removeItem(atPath: folder) } }
        let recipe = try write(
            """
            if run.seed == 2 and os.getenv("LUCERNA_TEST_FAIL_SEED") then error("seed 2 fails on purpose") end
            run.log{value = tensor.rand{1}:item(), seed = run.seed}
            """, "seed-jobs")
        XCTAssertEqual(
            try lucerna(["run", recipe, "--out", sequential, "--seeds", "1,2,3", "--threads", "1"]).status, 0)
        let result = try lucerna([
            "run", recipe, "--out", parallel, "--seeds", "1,2,3", "--jobs", "2", "--threads", "1",
        ])
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssert(result.output.contains("2 at a time, 1 thread each"), result.output)
        func summary(_ folder: String) throws -> [String: Any] {
            try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/summary.json")))
                    as? [String: Any])
        }
        func values(_ folder: String) throws -> [Double] {
            try XCTUnwrap(
                ((try summary(folder)["metrics"] as? [String: Any])?["value"] as? [String: Any])?["values"] as? [Double]
            )
        }
        XCTAssertEqual(try values(parallel), try values(sequential), "a seed's result does not depend on --jobs")
        XCTAssertEqual(try values(parallel).count, 3)
        for seed in 1...3 {
            XCTAssertEqual(try summary("\(parallel)/seed-\(seed)")["seeds"] as? [Int], [seed])
            XCTAssert(
                try String(contentsOfFile: "\(parallel)/seed-\(seed)/output.log", encoding: .utf8).contains(
                    "run folder: \(parallel)/seed-\(seed)"))
        }
        // A resumed run runs only the seeds without a summary.
        try FileManager.default.removeItem(atPath: "\(parallel)/seed-3/summary.json")
        let resumed = try lucerna(["run", "--resume", parallel, "--jobs", "3"])
        XCTAssertEqual(resumed.status, 0, resumed.errors)
        let saved = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(parallel)/run.json")))
                as? [String: Any])
        XCTAssertEqual(saved["jobs"] as? Int, 3, "a resume's --jobs is kept for later resumes")
        XCTAssert(resumed.output.contains("seed 1: finished earlier"), resumed.output)
        XCTAssertFalse(resumed.output.contains("run folder: \(parallel)/seed-1"), resumed.output)
        XCTAssert(resumed.output.contains("run folder: \(parallel)/seed-3"), resumed.output)
        XCTAssertEqual(try values(parallel), try values(sequential))
        // A failing seed fails the run after the others finished; resuming reruns only that seed.
        let failing = temporaryFolder("seeds-failing")
        defer { try? FileManager.default.removeItem(atPath: failing) }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["run", recipe, "--out", failing, "--seeds", "1,2,3", "--jobs", "3", "--threads", "1"]
        process.currentDirectoryURL = Fixture.repositoryRoot
        process.environment = ProcessInfo.processInfo.environment.merging(["LUCERNA_TEST_FAIL_SEED": "1"]) { $1 }
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 1)
        XCTAssert(message.contains("seed 2 failed"), message)
        XCTAssert(
            try String(contentsOfFile: "\(failing)/seed-2/output.log", encoding: .utf8).contains(
                "seed 2 fails on purpose"))
        XCTAssertNotNil(try? summary("\(failing)/seed-3"))
        let retried = try lucerna(["run", "--resume", failing])
        XCTAssertEqual(retried.status, 0, retried.errors)
        XCTAssertEqual(try values(failing), try values(sequential))
        // A damaged seed summary is named, not trusted.
        try "{\"seeds\": [2], \"metr".write(toFile: "\(failing)/seed-2/summary.json", atomically: true, encoding: .utf8)
        let damaged = try lucerna(["run", "--resume", failing])
        XCTAssertEqual(damaged.status, 1)
        XCTAssert(damaged.errors.contains("\(failing)/seed-2/summary.json"), damaged.errors)
        XCTAssertEqual(try lucerna(["run", recipe, "--seeds", "1,2", "--jobs", "0"]).status, 2)
        XCTAssertEqual(try lucerna(["run", recipe, "--only-seed", "1"]).status, 2)
    }

    /// OpenBLAS 0.3.21 (Debian 12) falls back to its SSE3 Prescott kernels on Intel models it does not
    /// know; the executable then restarts itself with the best kernels the CPU supports, unless the user chose.
    func testTheExecutableReplacesOpenBLASsPrescottFallbackUnlessTheUserChoseKernels() throws {
        func core(_ result: LucernaResult) throws -> String {
            XCTAssertEqual(result.status, 0, result.errors)
            let line = try XCTUnwrap(result.output.split(separator: "\n").last)
            let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try XCTUnwrap(record["blas_core"] as? String)
        }
        let bench = ["bench", "mlp_train", "--threads", "1", "--seconds", "0.05"]
        XCTAssertEqual(try core(lucerna(bench, environment: ["OPENBLAS_CORETYPE": "Prescott"])), "Prescott")
        if let family = BLASCore.familyForThisCPU, family != "Sandybridge" {
            XCTAssertNotEqual(try core(lucerna(bench, environment: ["OPENBLAS_CORETYPE": nil])), "Prescott", family)
        }
    }

    /// `lucerna bench` reports memory beside throughput, `sgemm` the machine's limit in MFLOP/s and
    /// `cnn_train` its FLOPs a sample.
    func testBenchReportsMemoryTheMatrixProductLimitAndTheStepsFLOPs() throws {
        func record(_ name: String) throws -> [String: Any] {
            let result = try lucerna(["bench", name, "--threads", "1", "--seconds", "0.05"])
            XCTAssertEqual(result.status, 0, result.errors)
            let line = try XCTUnwrap(result.output.split(separator: "\n").last)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let sgemm = try record("sgemm")
        XCTAssertEqual(sgemm["unit"] as? String, "MFLOP/s")
        XCTAssertGreaterThan(try XCTUnwrap(sgemm["throughput"] as? Double), 100, "at least 0.1 GFLOP/s")
        let training = try record("cnn_train")
        XCTAssertEqual(training["flops_per_sample"] as? Int, 24_995_328)
        XCTAssertGreaterThan(try XCTUnwrap(training["allocations_per_step"] as? Double), 0)
        #if os(Linux)
            let peak = try XCTUnwrap(training["peak_rss_mb"] as? Double)
            let workload = try XCTUnwrap(training["workload_rss_mb"] as? Double)
            XCTAssertGreaterThan(workload, 0, "building and training the CNN takes memory")
            XCTAssertLessThan(workload, peak)
        #endif
    }

    /// A train{} recipe on synthetic blobs; with LUCERNA_TEST_HANG set, step 5 of epoch 3 writes a marker and
    /// spins so the test can kill the process mid-epoch.
    static let resumableRecipe = """
        local config = lucerna.config{epochs = 5}
        lucerna.manual_seed(run.seed)
        local set = data.blobs{samples = 1200, features = 8, centers = 4, std = 4.0}
        local test = data.blobs{samples = 400, features = 8, centers = 4, std = 4.0}
        local model = nn.Sequential{nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 4)}
        train{model = model, data = set, test = test, epochs = config.epochs, batch = 32,
              early_stopping = {metric = "val_f1", patience = 10},
              callbacks = {on_step_end = function(info)
                 if os.getenv("LUCERNA_TEST_HANG") and info.epoch == 3 and info.step == 5 then
                    io.open(run.dir .. "/hanging", "w"):close()
                    while true do end
                 end
              end}}
        """

    /// The records of a run folder without the wall-clock fields.
    func records(_ folder: String) throws -> [String] {
        try String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            $0.replacingOccurrences(
                of: #""(time|epoch_seconds|samples_per_second)": [0-9.e+-]+,? ?"#, with: "", options: .regularExpression
            )
        }
    }

    func testAKilledRunResumesToTheSameMetrics() throws {
        let recipe = try write(Self.resumableRecipe, "resumable")
        let straight = temporaryFolder("straight")
        let killed = temporaryFolder("killed")
        defer { for folder in [straight, killed] { try? FileManager.default.removeItem(atPath: folder) } }
        let reference = try lucerna(["run", recipe, "--out", straight, "--seed", "4", "--threads", "2"])
        XCTAssertEqual(reference.status, 0, reference.errors)

        let process = Process()
        process.executableURL = binary
        process.arguments = ["run", recipe, "--out", killed, "--seed", "4", "--threads", "2"]
        process.currentDirectoryURL = Fixture.repositoryRoot
        process.environment = ProcessInfo.processInfo.environment.merging(["LUCERNA_TEST_HANG": "1"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: "\(killed)/hanging") && Date() < deadline && process.isRunning {
            usleep(50_000)
        }
        XCTAssert(FileManager.default.fileExists(atPath: "\(killed)/hanging"), "the run never reached epoch 3")
        // While it runs, the folder is locked: a resume of it stops instead of writing into it too.
        let concurrent = try lucerna(["run", "--resume", killed])
        XCTAssertEqual(concurrent.status, 1)
        XCTAssert(
            concurrent.errors.contains("is in use by another lucerna run (process \(process.processIdentifier))"),
            concurrent.errors)
        let started = try String(contentsOfFile: "\(killed)/run.json", encoding: .utf8)
        XCTAssertEqual(try lucerna(["run", recipe, "--out", killed, "--seed", "5"]).status, 1)
        XCTAssertEqual(
            try String(contentsOfFile: "\(killed)/run.json", encoding: .utf8), started, "a refused run writes nothing")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        let beforeResume = try records(killed)
        XCTAssertEqual(beforeResume.count, 2, "two epochs were logged before the kill")
        // The run keeps the recipe it started with: editing the file does not change a resumed run.
        try "error('the recipe changed after the run started')".write(toFile: recipe, atomically: true, encoding: .utf8)

        let resumed = try lucerna(["run", "--resume", killed])
        XCTAssertEqual(resumed.status, 0, resumed.errors)
        XCTAssert(resumed.output.contains("resumed after epoch 2 of 5"), resumed.output)
        XCTAssertEqual(try records(killed), try records(straight))
        XCTAssertEqual(try records(straight).count, 6, "five epochs and the test record")
        // A finished run resumes to the same result without training again.
        let again = try lucerna(["run", "--resume", killed])
        XCTAssertEqual(again.status, 0, again.errors)
        XCTAssertFalse(again.output.contains("epoch 5/5"), again.output)
        XCTAssertEqual(try records(killed), try records(straight))
        XCTAssertEqual(try lucerna(["run", "--resume", killed, "--set", "epochs=2"]).status, 2)
        XCTAssertEqual(try lucerna(["run", "--resume", "/nonexistent-run"]).status, 2)
    }

    func testARecipeCanAskForSeedsAndANaNLossStopsTheRun() throws {
        let folder = temporaryFolder("recipe-seeds")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let recipe = try write(
            """
            local config = lucerna.config{seeds = {1, 2}, epochs = 2, poison = 0}
            lucerna.manual_seed(run.seed)
            local set = data.blobs{samples = 200, centers = 2}
            local steps = 0
            train{model = nn.Linear(2, 2), data = set, epochs = config.epochs, batch = 20, test = set,
                  loss = function(logits, batch)
                     steps = steps + 1
                     local loss = losses.cross_entropy(logits, batch.labels)
                     if steps == config.poison then return loss * (0 / 0) end
                     return loss
                  end}
            """, "recipe-seeds")
        let result = try lucerna(["run", recipe, "--out", folder])
        XCTAssertEqual(result.status, 0, result.errors)
        for seed in [1, 2] {
            XCTAssert(
                FileManager.default.fileExists(atPath: "\(folder)/seed-\(seed)/checkpoints/train-best.safetensors"))
        }
        let summary = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/summary.json")))
                as? [String: Any])
        XCTAssertEqual(summary["seeds"] as? [Int], [1, 2])
        let accuracy = try XCTUnwrap((summary["metrics"] as? [String: Any])?["test_accuracy"] as? [String: Any])
        XCTAssertEqual((accuracy["values"] as? [Double])?.count, 2)
        XCTAssertNotNil(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/run.json"))))

        // Loss call 12 is the third step of epoch 2 (8 training batches and 1 validation batch per epoch).
        let poisoned = temporaryFolder("poisoned")
        defer { try? FileManager.default.removeItem(atPath: poisoned) }
        let failed = try lucerna(["run", recipe, "--out", poisoned, "--seed", "1", "--set", "poison=12"])
        XCTAssertEqual(failed.status, 1)
        XCTAssert(failed.errors.contains("the loss became nan at epoch 2, step 3 (global step 11)"), failed.errors)
        XCTAssert(failed.errors.contains("train-last.safetensors (epoch 1, verified)"), failed.errors)
        XCTAssert(try String(contentsOfFile: "\(poisoned)/report.md", encoding: .utf8).contains("outcome: failed"))
        let load = try write(
            "local t = lucerna.load_tensors('\(poisoned)/checkpoints/train-last.safetensors'); local s = t['model.weight']:sum():item(); assert(s == s and t['model.weight']:numel() == 4)",
            "load")
        let loaded = try lucerna(["run", load, "--out", temporaryFolder("load")])
        XCTAssertEqual(loaded.status, 0, loaded.errors)
        try? FileManager.default.removeItem(atPath: temporaryFolder("load"))
    }

    /// Checkpoints carry a digest: a corrupted last checkpoint is never loaded (the resume falls back to the one
    /// before it, kept until the new one verified), and a resume whose checkpoints are gone is an error, not a
    /// silent restart, until `--restart` asks for one.
    func testCheckpointsAreVerifiedAndAResumeWithoutThemIsAnError() throws {
        let folder = temporaryFolder("checkpoints")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let recipe = try write(
            """
            local x = tensor.randn{32, 2}
            local y = x:sum(2):gt(0):long()
            train{model = nn.Linear(2, 2), data = {inputs = x, labels = y}, epochs = 3, batch = 8, validation = 0}
            """, "checkpoints")
        XCTAssertEqual(try lucerna(["run", recipe, "--out", folder, "--threads", "1"]).status, 0)
        let last = "\(folder)/checkpoints/train-last.safetensors"
        XCTAssert(FileManager.default.fileExists(atPath: "\(folder)/checkpoints/train-previous.safetensors"))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: last))
        bytes[bytes.count - 3] ^= 0x5A
        try bytes.write(to: URL(fileURLWithPath: last))
        let fallback = try lucerna(["run", "--resume", folder])
        XCTAssertEqual(fallback.status, 0, fallback.errors)
        XCTAssert(fallback.output.contains("do not match the file's content digest"), fallback.output)
        XCTAssert(fallback.output.contains("resuming from the checkpoint before it"), fallback.output)
        for name in ["train-last", "train-previous"] {
            try FileManager.default.removeItem(atPath: "\(folder)/checkpoints/\(name).safetensors")
        }
        let lost = try lucerna(["run", "--resume", folder])
        XCTAssertEqual(lost.status, 1)
        XCTAssert(
            lost.errors.contains("the run had finished 3 epoch(s) of train, but no checkpoint of them verifies"),
            lost.errors)
        XCTAssert(lost.errors.contains("--restart"), lost.errors)
        let restarted = try lucerna(["run", "--resume", folder, "--restart"])
        XCTAssertEqual(restarted.status, 0, restarted.errors)
        XCTAssertFalse(restarted.output.contains("resumed after epoch"), restarted.output)
        XCTAssertEqual(try lucerna(["run", recipe, "--restart", "--out", "\(folder)-x"]).status, 2)
    }
}
