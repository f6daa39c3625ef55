import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
import LucernaRun
import LucernaTestSupport
import LucernaTrain
import XCTest

/// The run layer on its own, with no Lua state: `train{}` and `evaluate{}` assembled from a spec, the run
/// folder's records, and the aggregation and comparison of seeds that `lucerna report` uses.
final class ExperimentTests: XCTestCase {
    /// Two Gaussian classes in 2-D (centres ±1.5), `count` samples from `seed`, as a data-set table.
    func blobs(_ count: Int, seed: UInt64) throws -> ConfigValue {
        let generator = RandomGenerator(seed: seed)
        var points: [Float] = []
        var labels: [Int] = []
        for index in 0..<count {
            let label = index % 2
            let centre = label == 0 ? -1.5 : 1.5
            points += [Float(centre + 0.5 * generator.nextNormal()), Float(centre + 0.5 * generator.nextNormal())]
            labels.append(label)
        }
        return .table([
            "features": .tensor(try Tensor(shape: [count, 2], scalars: points)),
            "labels": .tensor(try Tensor(shape: [count], integers: labels)),
        ])
    }

    func temporaryFolder(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
    }

    func testTrainAndEvaluateRunFromASpecWithoutLua() throws {
        let folder = temporaryFolder("experiment")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try RunContext(directory: folder, recipe: "spec.lua", seed: 3, threads: 1)
        let components = ComponentBuilder(registry: .standard(), run: run)
        let generator = RandomGenerator(seed: 3)
        let model = try Sequential([Linear(2, 8, generator: generator), ReLU(), Linear(8, 2, generator: generator)])
        let result = try Experiment.train(
            [
                "model": .object(model), "data": try blobs(200, seed: 1), "test": try blobs(100, seed: 2),
                "epochs": .number(10),
                "optimizer": .table(["type": .string("adamw"), "lr": .number(0.05)]),
                "batch": .number(20), "verbose": .boolean(false),
            ],
            components: components)
        guard case .table(let fields) = result, case .table(let test)? = fields["test"],
            case .number(let accuracy)? = test["accuracy"]
        else { return XCTFail("no test accuracy in \(result)") }
        XCTAssertGreaterThan(accuracy, 0.95)
        // The protocol's defaults, built through the registry and recorded in components.jsonl.
        let recorded = try String(contentsOfFile: "\(folder)/components.jsonl", encoding: .utf8)
        for name in ["\"adamw\"", "\"cosine\"", "\"cross_entropy\"", "\"accuracy\"", "\"f1\""] {
            XCTAssert(recorded.contains("\"name\": \(name)"), "\(name) not recorded: \(recorded)")
        }
        XCTAssert(FileManager.default.fileExists(atPath: "\(folder)/checkpoints/train-last.safetensors"))
        XCTAssert(
            FileManager.default.fileExists(atPath: "\(folder)/splits.jsonl"),
            "the stratified validation split is logged")
        // evaluate{} on the trained model, recorded under its name.
        let evaluation = try Experiment.evaluate(
            ["model": .object(model), "data": try blobs(100, seed: 2), "name": .string("again")], components: components
        )
        guard case .table(let values) = evaluation, case .number(let again)? = values["accuracy"] else {
            return XCTFail("no accuracy in \(evaluation)")
        }
        XCTAssertEqual(again, accuracy, "the restored best model evaluates as the trainer's test did")
        XCTAssertEqual(run.lastMetrics["again_accuracy"]?.numberValue, accuracy)
    }

    func testTrainOptionsAreCheckedLikeComponentOptions() throws {
        let components = ComponentBuilder(registry: .standard(), run: nil)
        XCTAssertThrowsError(try Experiment.train(["epochz": .number(3)], components: components)) { error in
            XCTAssert("\(error)".contains("unknown option 'epochz'; did you mean 'epochs'?"), "\(error)")
        }
        let epochs = try XCTUnwrap(Experiment.trainOptions.first { $0.name == "epochs" })
        XCTAssertEqual(epochs.type, .integer)
        XCTAssertEqual(epochs.defaultDescription, "10")
        XCTAssertEqual(Experiment.trainOptions.first { $0.name == "forward" }?.type, .function)
    }

    /// What `lucerna run --seeds` and `lucerna report` do after the runs: aggregate each seed's last metrics
    /// into summary.json and compare run folders, with no Lua state.
    func testSeedsAggregateAndRunsCompareWithoutLua() throws {
        let root = temporaryFolder("aggregate")
        defer { try? FileManager.default.removeItem(atPath: root) }
        var records: [(seed: Int, metrics: [String: Double])] = []
        for (seed, accuracy) in [(1, 0.9), (2, 0.8)] {
            let run = try RunContext(directory: "\(root)/seed-\(seed)", recipe: "r.lua", seed: seed, threads: 1)
            try run.log(["test_accuracy": .number(accuracy), "epoch": .number(1)])
            records.append(run.seedRecord)
        }
        let summary = try SeedSummary(records: records)
        try summary.write(to: root, recipe: "r.lua")
        let loaded = try XCTUnwrap(try SeedSummary.load(from: root))
        XCTAssertEqual(loaded.values["test_accuracy"], [0.9, 0.8])
        let markdown = try RunComparison.markdown([root])
        XCTAssert(markdown.contains("0.8500 ± 0.0707"), markdown)
    }

    func testRunErrorsAreTheirOwnType() throws {
        XCTAssertThrowsError(
            try RunContext(directory: "/proc/lucerna-cannot-write", recipe: "r.lua", seed: 1, threads: 1)
        ) { error in
            XCTAssert(error is RunError, "\(type(of: error)): \(error)")
        }
        XCTAssertThrowsError(
            try Experiment.train(
                ["epochs": .string("ten")], components: ComponentBuilder(registry: .standard(), run: nil))
        ) {
            error in XCTAssert(error is ConfigurationError, "\(type(of: error)): \(error)")
        }
    }

    /// `train{batch = 0}` divided by zero in the epoch loop (a trap, issue 22); sizes and counts must be positive.
    func testSizesAndCountsMustBePositive() throws {
        let components = ComponentBuilder(registry: .standard(), run: nil)
        let model = try Linear(2, 2)
        for (key, value) in [("batch", 0.0), ("eval_batch", -1), ("epochs", 0)] {
            XCTAssertThrowsError(
                try Experiment.train(
                    [
                        "model": .object(model), "data": try blobs(20, seed: 1), key: .number(value),
                        "verbose": .boolean(false),
                    ],
                    components: components)
            ) { error in
                XCTAssertEqual("\(error)", "train: option \(key) must be positive, got \(Int(value))")
            }
        }
    }

    /// Every number of every `metrics.jsonl` record is in `tb/`'s event file, tagged by trainer or phase at the
    /// record's step, and image grids are image summaries; a resumed run starts the events anew.
    func testRunFoldersWriteTensorBoardEventsMatchingTheirMetrics() throws {
        let folder = temporaryFolder("tensorboard")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try RunContext(directory: folder, recipe: "spec.lua", seed: 1, threads: 1)
        try run.log(["trainer": .string("auditor"), "epoch": .number(1), "train_loss": .number(0.75)])
        try run.log(["trainer": .string("auditor"), "epoch": .number(2), "train_loss": .number(0.5)])
        try run.log(["phase": .string("evaluation"), "test_accuracy": .number(0.9375), "note": .string("text")])
        try run.log(["trainer": .string("gan"), "step": .number(50), "epoch": .number(1), "critic_loss": .number(-2)])
        _ = try run.saveImage(
            "gan-step-50", try Tensor(shape: [2, 3, 4], scalars: (0..<24).map { Float($0) / 24 }), columns: 2,
            range: (0, 1), series: (tag: "gan/samples", step: 50))
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/tb")
        XCTAssertEqual(files.count, 1)
        XCTAssert(files[0].hasPrefix("events.out.tfevents."), files[0])
        let events = try TensorBoardReader.events(
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(folder)/tb/\(files[0])"))))
        XCTAssertEqual(events.count, 6)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[1].step, 1)
        XCTAssertEqual(events[1].scalars, ["auditor/train_loss": 0.75])
        XCTAssertEqual(events[2].step, 2)
        // No step field: the record's position in metrics.jsonl (from 0); strings are not scalars.
        XCTAssertEqual(events[3].step, 2)
        XCTAssertEqual(events[3].scalars, ["evaluation/test_accuracy": 0.9375])
        // `step` before `epoch`; the other one is a scalar like any number.
        XCTAssertEqual(events[4].step, 50)
        XCTAssertEqual(events[4].scalars, ["gan/critic_loss": -2, "gan/epoch": 1])
        XCTAssertEqual(events[5].step, 50)
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/images/gan-step-50.png"))
        let header = try XCTUnwrap(PNG.header(png))
        XCTAssertEqual(events[5].images["gan/samples"], [header.height, header.width, 1])
        XCTAssertEqual(events[5].imageBytes["gan/samples"].map { Data($0) }, png)
        // The wall times are those of metrics.jsonl's records (its `time` is seconds since the run started).
        let times = RunReport.records("\(folder)/metrics.jsonl").compactMap { $0["time"]?.numberValue }
        XCTAssertEqual(times.count, 4)
        XCTAssertEqual(events[4].wallTime - events[1].wallTime, times[3] - times[0], accuracy: 0.01)
        // A resumed run re-logs its records, so its events start over too.
        _ = try RunContext(directory: folder, recipe: "spec.lua", seed: 1, threads: 1, resuming: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(folder)/tb"))
    }
}
