import ArgumentParser
import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaLua
import LucernaRun

/// How a run was started, saved as `run.json` in its folder so `--resume` repeats it exactly.
struct RunInvocation: Codable {
    var recipe: String
    var seed: Int
    /// Several seeds: one `seed-N/` folder each, aggregated in `summary.json`.
    var seeds: [Int]?
    /// With several seeds: how many run at once, each in its own process (nil: one after another in this one).
    var jobs: Int?
    var overrides: [String]
    var data: String?
    var threads: Int
    var sandbox: Bool
    var maxInstructions: Int
    var maxMemory: Int
    /// With the sandbox: the time limit in seconds (nil or 0: none).
    var maxSeconds: Int?
    /// The copy of the recipe taken when the run started (`recipe.lua` in the run folder): every seed, and a
    /// resumed run, runs this text even if the recipe file changes meanwhile.
    var recipeCopy: String?

    /// The recipe's text: the copy taken at the start when there is one.
    func recipeSource() throws -> String {
        let path = recipeCopy.flatMap { FileManager.default.isReadableFile(atPath: $0) ? $0 : nil } ?? recipe
        guard let data = FileManager.default.contents(atPath: path), let source = String(data: data, encoding: .utf8)
        else {
            throw ValidationError("cannot read the recipe \(path) as UTF-8 text")
        }
        return source
    }

    static func load(from folder: String) throws -> RunInvocation {
        let path = "\(folder)/run.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--resume \(folder): no run.json there (was it made by `lucerna run`?)")
        }
        do { return try JSONDecoder().decode(RunInvocation.self, from: data) } catch {
            throw ValidationError("--resume \(folder): run.json is not readable: \(error)")
        }
    }

    func save(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: "\(folder)/run.json"))
    }
}

/// Runs a Lua recipe in a run folder.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run a Lua experiment recipe; writes run.json, config.json, metrics.jsonl, checkpoints/, summary.json and report.md to its run folder."
    )

    @Argument(help: "The recipe file (not needed with --resume).") var recipe: String?
    @OptionGroup var common: CommonOptions
    @Option(help: "Seed for lucerna's random generator (before the recipe runs).") var seed: Int?
    @Option(
        name: .customLong("set"),
        help: "Override a value of the recipe's lucerna.config table: --set epochs=3 --set optim.lr=1e-3 (repeatable).")
    var overrides: [String] = []
    @Option(help: "Run folder (default: runs/<recipe>-<UTC time>).") var out: String?
    @Flag(
        help:
            "Run an untrusted recipe: no os.execute, io.popen, native modules, binary chunks or debug; files only in the run and data folders; instruction and memory limits."
    )
    var sandbox = false
    @Option(help: "With --sandbox: Lua instructions allowed.") var maxInstructions = 2_000_000_000
    @Option(help: "With --sandbox: memory cap in MB (Lua heap plus tensors), at most this machine's memory.")
    var maxMemory = 4096
    @Option(help: "With --sandbox: wall-clock limit in seconds for each seed's recipe (default: none).")
    var maxSeconds: Int?

    @Option(
        help:
            "Run the recipe once per seed (e.g. 1,2,3) in seed-N/ subfolders and aggregate every metric (mean, standard deviation, per seed) into summary.json and report.md. A recipe can ask for this itself with lucerna.config{seeds = {1, 2, 3}, ...}."
    )
    var seeds: String?

    @Option(
        help:
            "With several seeds: run this many at once, each in its own lucerna process with --threads threads (e.g. --jobs 2 --threads 1 on two cores); each seed's output goes to seed-N/output.log. A seed's results do not depend on the number of jobs."
    )
    var jobs: Int?

    @Option(
        help:
            "Continue the interrupted run in this folder: same recipe, seeds, overrides and threads; train{} continues from its last checkpoint, and seeds that finished (seed-N/summary.json) are not run again."
    )
    var resume: String?

    @Flag(
        help:
            "With --resume: start the run's training over, ignoring its checkpoints (for a run whose checkpoints are lost or corrupt)."
    )
    var restart = false

    /// One seed of a multi-seed run, in a process started by the run's `--jobs` (with `--resume` of the run folder).
    @Option(
        help: ArgumentHelp(
            "Run only this seed of the multi-seed run given by --resume (used by --jobs).", visibility: .hidden))
    var onlySeed: Int?

    @Option(
        help:
            "A sweep's manifest.jsonl (from lucerna sweep): run point --index of it, or resume it if it was interrupted, and mark it DONE when it finishes. What each worker of a sweep, local or a Slurm array task, runs."
    )
    var manifest: String?
    @Option(help: "With --manifest: the point to run, from 0 (a Slurm array task passes $SLURM_ARRAY_TASK_ID).")
    var index: Int?

    func run() throws {
        if let manifest {
            try runPoint(of: manifest)
            return
        }
        guard index == nil else { throw ValidationError("--index goes with --manifest MANIFEST") }
        try common.apply()
        let (invocation, folder, lock) = try prepare()
        defer { withExtendedLifetime(lock) {} }
        Parallel.setThreadCount(invocation.threads)
        if let only = onlySeed {
            guard let seeds = invocation.seeds, seeds.contains(only) else {
                throw ValidationError(
                    "--only-seed \(only): the run in \(folder) has seeds \(invocation.seeds.map { "\($0)" } ?? "none")")
            }
            try runSeed(only, invocation: invocation, folder: folder)
            return
        }
        if let seeds = invocation.seeds {
            try runSeeds(seeds, invocation: invocation, folder: folder)
            return
        }
        let context = try runOnce(
            invocation, seed: invocation.seed, directory: folder, expandSeeds: seed == nil && resume == nil,
            locking: false)
        if let requested = context.requestedSeeds {
            // The recipe asked for several seeds in lucerna.config{seeds = ...}: run it once per seed instead.
            var expanded = invocation
            expanded.seeds = requested
            try expanded.save(to: folder)
            for name in ["config.json", "metrics.jsonl", "report.md", "components.jsonl", "splits.jsonl"] {
                try? FileManager.default.removeItem(atPath: "\(folder)/\(name)")
            }
            try runSeeds(requested, invocation: expanded, folder: folder)
            return
        }
        try writeSummary([context.seedRecord], folder: folder, recipe: invocation.recipe, printTable: false)
    }

    /// Runs (or resumes) one point of a sweep's manifest as `lucerna run` would with the point's recipe,
    /// overrides, seeds and folder, then writes the point's `DONE` marker; a finished point is not run again.
    func runPoint(of manifest: String) throws {
        guard let index else { throw ValidationError("--manifest needs --index I (the point to run, from 0)") }
        guard recipe == nil, overrides.isEmpty, seeds == nil, seed == nil, out == nil, resume == nil,
            onlySeed == nil, !restart
        else {
            throw ValidationError(
                "--manifest gives the recipe, overrides, seeds and folder: do not combine it with a recipe, --set, --seed, --seeds, --out, --resume or --restart"
            )
        }
        let sweep: (points: [Sweep.Point], folder: String)
        do { sweep = try Sweep.points(inManifest: manifest) } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
        guard sweep.points.indices.contains(index) else {
            throw ValidationError("--index \(index): \(manifest) has points 0 to \(sweep.points.count - 1)")
        }
        let point = sweep.points[index]
        let folder = "\(sweep.folder)/\(point.folder)"
        var arguments: [String]
        switch Sweep.state(of: folder) {
        case .finished:
            emit("\(point.folder) (\(point.name)): finished before")
            if !FileManager.default.fileExists(atPath: "\(folder)/DONE") { try? Sweep.markDone(folder) }
            return
        case .interrupted:
            emit("\(point.folder) (\(point.name)): resuming")
            arguments = ["--resume", folder]
        case .notStarted:
            emit("\(point.folder) (\(point.name)): starting")
            arguments = [point.recipe, "--out", folder] + point.overrides.flatMap { ["--set", $0] }
            if let seeds = point.seeds { arguments += ["--seeds", seeds.map(String.init).joined(separator: ",")] }
        }
        if let threads = common.threads { arguments += ["--threads", String(threads)] }
        if let data = common.data { arguments += ["--data", data] }
        if let jobs { arguments += ["--jobs", String(jobs)] }
        let command = try Run.parse(arguments)
        try command.run()
        guard FileManager.default.fileExists(atPath: "\(folder)/summary.json") else {
            report(
                "error: \(point.folder) ended without \(folder)/summary.json (did the recipe log numbers with run.log?)"
            )
            throw ExitCode(1)
        }
        do { try Sweep.markDone(folder) } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// The invocation (from the arguments, or from `run.json` with `--resume`), the run folder, and the
    /// folder's lock, taken before anything is written (none for one seed of a `--jobs` run, whose parent
    /// holds it; the seed's own folder is locked instead).
    func prepare() throws -> (RunInvocation, String, RunFolderLock?) {
        guard maxInstructions > 0 else { throw ValidationError("--max-instructions must be positive") }
        let machineMegabytes = Int(ProcessInfo.processInfo.physicalMemory >> 20)
        guard maxMemory > 0, maxMemory <= machineMegabytes else {
            throw ValidationError(
                "--max-memory must be between 1 and \(machineMegabytes) MB (this machine's memory), got \(maxMemory)")
        }
        if let maxSeconds, maxSeconds <= 0 || maxSeconds > 366 * 86_400 {
            throw ValidationError("--max-seconds must be between 1 and \(366 * 86_400), got \(maxSeconds)")
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be positive, got \(jobs)") }
        if onlySeed != nil && resume == nil {
            throw ValidationError("--only-seed needs --resume RUN_DIR of a multi-seed run")
        }
        if restart && resume == nil { throw ValidationError("--restart goes with --resume RUN_DIR") }
        if let resume {
            guard overrides.isEmpty, seeds == nil, seed == nil, out == nil else {
                throw ValidationError(
                    "--resume repeats the saved run: do not combine it with --set, --seed, --seeds or --out")
            }
            var invocation = try RunInvocation.load(from: resume)
            if let recipe, recipe != invocation.recipe {
                throw ValidationError("--resume \(resume) was started from \(invocation.recipe), not \(recipe)")
            }
            guard (try? invocation.recipeSource()) != nil else {
                throw ValidationError(
                    "--resume: cannot read the run's recipe \(invocation.recipeCopy ?? invocation.recipe)")
            }
            if let threads = common.threads, threads != invocation.threads {
                report(
                    "warning: the run used \(invocation.threads) threads; resuming with \(threads) may change the last digits of the results"
                )
                invocation.threads = threads
            }
            if let data = common.data { invocation.data = data }
            if sandbox && !invocation.sandbox {
                // Resuming can add the sandbox, never remove it (run.json is out of a sandboxed recipe's reach).
                invocation.sandbox = true
                invocation.maxInstructions = maxInstructions
                invocation.maxMemory = maxMemory
                invocation.maxSeconds = maxSeconds
            }
            let lock = onlySeed == nil ? try lockFolder(resume) : nil
            if let jobs, onlySeed == nil {
                // The new number of jobs is kept for later resumes (it does not change any result).
                invocation.jobs = jobs
                do { try invocation.save(to: resume) } catch {
                    report("warning: cannot record --jobs \(jobs) in \(resume)/run.json: \(error.localizedDescription)")
                }
            }
            return (invocation, resume, lock)
        }
        guard let recipe else { throw ValidationError("give a recipe file (or --resume RUN_DIR)") }
        do { _ = try overrides.map(ConfigOverride.init(parsing:)) } catch { throw ValidationError("\(error)") }
        guard FileManager.default.isReadableFile(atPath: recipe) else {
            throw ValidationError("cannot read recipe \(recipe)")
        }
        var list: [Int]?
        if let seeds {
            let parsed = seeds.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }), Set(parsed.compactMap { $0 }).count == parsed.count
            else {
                throw ValidationError(
                    "--seeds must be distinct integers separated by commas (e.g. 1,2,3), got '\(seeds)'")
            }
            list = parsed.compactMap { $0 }
        }
        let folder = out ?? RunContext.defaultDirectory(for: recipe)
        let lock = try lockFolder(folder)
        // A new run never writes into an earlier one: its seeds would resume that run's checkpoints.
        if FileManager.default.fileExists(atPath: "\(folder)/run.json") {
            throw ValidationError(
                "--out \(folder) already holds a run (run.json): continue it with `lucerna run --resume \(folder)` or give another --out"
            )
        }
        var invocation = RunInvocation(
            recipe: recipe, seed: seed ?? 0, seeds: list, jobs: jobs, overrides: overrides, data: common.data,
            threads: Parallel.threadCount, sandbox: sandbox, maxInstructions: maxInstructions, maxMemory: maxMemory,
            maxSeconds: maxSeconds)
        do {
            let source = try invocation.recipeSource()
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try source.write(toFile: "\(folder)/recipe.lua", atomically: true, encoding: .utf8)
            invocation.recipeCopy = "\(folder)/recipe.lua"
            try invocation.save(to: folder)
        } catch {
            report("error: cannot start the run in \(folder) (recipe.lua, run.json): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        return (invocation, folder, lock)
    }

    /// The run folder's lock, or exit 1 when another run holds it.
    func lockFolder(_ folder: String) throws -> RunFolderLock {
        do { return try RunFolderLock(folder: folder) } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// Runs the recipe once per seed (one after another, or `jobs` processes at a time) and aggregates the
    /// seeds; when resuming, seeds whose folder has a summary finished earlier and are not run again.
    func runSeeds(_ seeds: [Int], invocation: RunInvocation, folder: String) throws {
        var records: [Int: (seed: Int, metrics: [String: Double])] = [:]
        var pending: [Int] = []
        for value in seeds {
            if resume != nil, let finished = try finishedSeed(value, folder: folder) {
                emit("seed \(value): finished earlier (\(folder)/seed-\(value)/summary.json)")
                records[value] = finished
            } else {
                pending.append(value)
            }
        }
        if let jobs = invocation.jobs, jobs > 1, pending.count > 1 {
            try SeedProcesses(
                folder: folder, threads: invocation.threads, data: invocation.data, jobs: jobs, restart: restart
            ).run(
                pending)
            for value in pending {
                guard let finished = try finishedSeed(value, folder: folder) else {
                    report(
                        "error: seed \(value) ended without \(folder)/seed-\(value)/summary.json (did the recipe log numbers with run.log?)"
                    )
                    throw ExitCode(1)
                }
                records[value] = finished
            }
        } else {
            for (index, value) in pending.enumerated() {
                emit(
                    "seed \(value) (\(index + 1) of \(pending.count)\(pending.count < seeds.count ? ", \(seeds.count - pending.count) finished earlier" : ""))"
                )
                records[value] = try runSeed(value, invocation: invocation, folder: folder)
            }
        }
        try writeSummary(seeds.compactMap { records[$0] }, folder: folder, recipe: invocation.recipe, printTable: true)
    }

    /// Runs one seed of a multi-seed run in `seed-N/` and writes that folder's one-seed `summary.json`, which
    /// marks the seed finished for a resumed run.
    @discardableResult
    func runSeed(_ value: Int, invocation: RunInvocation, folder: String) throws -> (
        seed: Int, metrics: [String: Double]
    ) {
        let directory = "\(folder)/seed-\(value)"
        let context = try runOnce(invocation, seed: value, directory: directory, expandSeeds: false)
        try writeSummary([context.seedRecord], folder: directory, recipe: invocation.recipe, printTable: false)
        return context.seedRecord
    }

    /// The record of a seed that finished (its folder's `summary.json`), or nil.
    func finishedSeed(_ value: Int, folder: String) throws -> (seed: Int, metrics: [String: Double])? {
        do {
            guard let finished = try SeedSummary.finishedRun(in: "\(folder)/seed-\(value)") else { return nil }
            guard finished.seed == value else {
                throw TensorError(
                    "summary", "\(folder)/seed-\(value)/summary.json is the summary of seed \(finished.seed)")
            }
            return finished
        } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
    }

    func writeSummary(
        _ records: [(seed: Int, metrics: [String: Double])], folder: String, recipe: String, printTable: Bool
    ) throws {
        do {
            let summary = try SeedSummary(records: records)
            if printTable {
                try summary.write(to: folder, recipe: recipe)
                emit(summary.table)
                emit("summary: \(folder)/summary.json, \(folder)/report.md")
            } else {
                try summary.json.write(toFile: "\(folder)/summary.json", atomically: true, encoding: .utf8)
            }
        } catch let error as RunError where records.count == 1 {
            _ = error  // a single run that logged no numbers has nothing to summarise
        } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// Runs the recipe once with `seed` in `directory`; exits on failure.
    /// `locking`: lock `directory` for the run (a seed's folder; the run folder itself is locked by ``prepare()``).
    func runOnce(_ invocation: RunInvocation, seed: Int, directory: String, expandSeeds: Bool, locking: Bool = true)
        throws -> RunContext
    {
        RandomGenerator.shared.reseed(UInt64(truncatingIfNeeded: seed))
        let peakReset = ResidentMemory.resetPeak()
        let parsed = try invocation.overrides.map(ConfigOverride.init(parsing:))
        let context: RunContext
        let lock: RunFolderLock?
        do {
            lock = locking ? try RunFolderLock(folder: directory) : nil
            if restart {
                // Training starts over: the old checkpoints (and the records that promise them) go.
                for name in ["checkpoints", "metrics.jsonl", "components.jsonl", "splits.jsonl"] {
                    try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
                }
            }
            // A folder where no run started yet (no checkpoints/) starts afresh even in a resumed run.
            context = try RunContext(
                directory: directory, recipe: invocation.recipe, seed: seed, threads: invocation.threads,
                overrides: parsed,
                resuming: resume != nil && FileManager.default.fileExists(atPath: "\(directory)/checkpoints"))
        } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
        defer { withExtendedLifetime(lock) {} }
        context.expandsSeeds = expandSeeds
        context.peakMemoryIsThisRun = peakReset
        emit("run folder: \(context.directory)\(context.resuming ? " (resuming)" : "")")
        do {
            let limits =
                invocation.sandbox
                ? Sandbox(
                    instructionBudget: invocation.maxInstructions, memoryCap: invocation.maxMemory << 20,
                    seconds: invocation.maxSeconds ?? 0, writableFolders: [context.directory],
                    readableFolders: DataLocation.allRoots(explicit: invocation.data),
                    protectedPaths: RunContext.recordNames.map { "\(context.directory)/\($0)" }) : nil
            let lua = try LuaState(dataDirectory: invocation.data, sandbox: limits, run: context)
            try lua.loadPlugins()
            try lua.run(source: invocation.recipeSource(), name: invocation.recipe)
            if !parsed.isEmpty && context.resolvedConfig == nil {
                context.writeReport(error: "--set given, but the recipe never called lucerna.config{...}")
                report(
                    "error: --set \(parsed.map(\.key).joined(separator: ", ")): the recipe never called lucerna.config{...}, so there is nothing to override"
                )
                throw ExitCode(2)
            }
            context.writeReport(error: nil)
            emit("report: \(context.directory)/report.md")
            return context
        } catch let exit as ExitCode {
            throw exit
        } catch {
            if context.requestedSeeds != nil { return context }
            context.writeReport(error: "\(error)")
            report("error: \(error)")
            throw ExitCode(context.overrideFailed ? 2 : 1)  // a bad --set is a usage error
        }
    }
}
