import ArgumentParser
import Foundation
import LucernaCore
import LucernaLua
import LucernaRun

/// `lucerna sweep RECIPE --grid key=a,b [--grid ...] [--seeds 1,2,3]`: the recipe at every point of a grid,
/// each point a run folder; resumable, with retries, on a local pool of processes.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract:
            "Run a recipe at every point of a grid of --set overrides (× seeds): one run folder per point, manifest.jsonl, DONE markers; re-running the same command resumes. `lucerna report SWEEP_DIR` aggregates it."
    )

    @Argument(help: "The recipe file (not with --manifest).") var recipe: String?
    @Option(
        help:
            "Run the points of an existing manifest.jsonl (e.g. one scripts/reproduce.sh wrote, each point with its own recipe) instead of a grid; the sweep folder is the manifest's."
    )
    var manifest: String?
    @Option(
        help:
            "A grid axis: a config key and its values, comma-separated (repeatable; braces keep a table together: --grid channels={64,32},{32,16}). The last axis varies fastest."
    )
    var grid: [String] = []
    @Option(name: .customLong("set"), help: "An override every point gets (repeatable), as for lucerna run.")
    var overrides: [String] = []
    @Option(help: "Seeds of every point, comma-separated (e.g. 1,2,3); default: the recipe's own.") var seeds: String?
    @Option(
        help:
            "Where the points run: local (a pool of processes on this machine) or slurm (one sbatch job array, followed with squeue; the script is kept in SWEEP_DIR/slurm/)."
    )
    var backend = "local"
    @Option(help: "Points run at once: processes (local) or the array's task limit (slurm, --array=...%N).")
    var jobs = 1
    @Option(
        help:
            "With --backend slurm: an sbatch option KEY=VALUE, written as #SBATCH --KEY=VALUE (repeatable; e.g. partition=long, time=04:00:00, mem=8G)."
    )
    var slurmOption: [String] = []
    @Option(help: "Threads of each point's process.") var threads = 1
    @Option(help: "Sweep folder (default: runs/sweep-<recipe>-<UTC time>).") var out: String?
    @Option(help: "Times a failed point is run again (resuming from its checkpoints) before the sweep gives up on it.")
    var retries = 1
    @Option(help: "Data folder (default: LUCERNA_DATA, then ./data).") var data: String?
    @Flag(
        help:
            "Write manifest.jsonl and list the points with their states (finished, interrupted, not started) without running any (for a scheduler, or to look before running)."
    )
    var plan = false

    func run() throws {
        guard backend == "local" || backend == "slurm" else {
            throw ValidationError("--backend must be local or slurm, got \(backend)")
        }
        guard slurmOption.isEmpty || backend == "slurm" else {
            throw ValidationError("--slurm-option goes with --backend slurm")
        }
        guard jobs >= 1, threads >= 1, retries >= 0 else {
            throw ValidationError("--jobs and --threads must be positive and --retries at least 0")
        }
        let (folder, points, description) = try plannedPoints()
        let manifest = "\(folder)/manifest.jsonl"
        if plan {
            emit("manifest: \(manifest) (\(points.count) points)")
            for point in points {
                let state = Sweep.state(of: "\(folder)/\(point.folder)")
                emit(
                    "\(point.folder)  \(state.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0))  \(point.name)"
                )
            }
            return
        }
        var attempts: [Int: Int] = [:]
        var givenUp: [Int] = []
        while true {
            let pending = points.filter {
                Sweep.state(of: "\(folder)/\($0.folder)") != .finished && !givenUp.contains($0.index)
            }
            let finished = points.count - pending.count - givenUp.count
            emit(
                "sweep \(folder): \(points.count) points (\(description)), \(finished) finished, \(pending.count) to run, \(min(jobs, max(pending.count, 1))) at a time"
            )
            guard !pending.isEmpty else { break }
            try sweepBackend(folder: folder, manifest: manifest).run(
                pending, finishedBefore: finished, of: points.count)
            // Which points finished is what their DONE markers say, whatever the backend reported.
            for point in pending where Sweep.state(of: "\(folder)/\(point.folder)") != .finished {
                attempts[point.index, default: 0] += 1
                let attempt = attempts[point.index, default: 0]
                if attempt > retries { givenUp.append(point.index) }
                emit(
                    "sweep: \(point.folder) [\(point.name)] did not finish (attempt \(attempt) of \(retries + 1))\(attempt > retries ? "; giving up on it" : "; running it again")"
                )
            }
        }
        guard givenUp.isEmpty else {
            report(
                "error: \(givenUp.count) point\(givenUp.count == 1 ? "" : "s") failed \(retries + 1) time\(retries == 0 ? "" : "s") (logs in \(folder)/logs/); the same command runs them again"
            )
            throw ExitCode(1)
        }
        emit("sweep finished: `lucerna report \(folder)` aggregates it")
    }

    /// The backend named by `--backend`.
    func sweepBackend(folder: String, manifest: String) -> any SweepBackend {
        let absolute = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.path }
        if backend == "slurm" {
            // A job script runs elsewhere: absolute paths.
            return SlurmArray(
                command: PointCommand(
                    folder: absolute(folder), manifest: absolute(manifest), threads: threads, data: data),
                throttle: jobs, options: slurmOption)
        }
        return LocalPool(
            command: PointCommand(folder: folder, manifest: manifest, threads: threads, data: data), jobs: jobs)
    }

    /// The sweep folder, its points and a description of them: from `--manifest`, or from the grid (whose
    /// manifest, and a README saying how the sweep was made, are written into the folder).
    func plannedPoints() throws -> (folder: String, points: [Sweep.Point], description: String) {
        if let manifest {
            guard recipe == nil, grid.isEmpty, overrides.isEmpty, seeds == nil, out == nil else {
                throw ValidationError(
                    "--manifest gives the points and the folder: no recipe, --grid, --set, --seeds or --out")
            }
            do {
                let read = try Sweep.points(inManifest: manifest)
                return (read.folder, read.points, "from \(URL(fileURLWithPath: manifest).lastPathComponent)")
            } catch {
                report("error: \(error)")
                throw ExitCode(1)
            }
        }
        guard let recipe else { throw ValidationError("give a recipe file and --grid axes (or --manifest)") }
        guard FileManager.default.isReadableFile(atPath: recipe) else {
            throw ValidationError("cannot read recipe \(recipe)")
        }
        var seedList: [Int]?
        if let seeds {
            let parsed = seeds.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--seeds must be integers separated by commas (e.g. 1,2,3), got '\(seeds)'")
            }
            seedList = parsed.compactMap { $0 }
        }
        var axes = try grid.map { argument in
            do { return try Sweep.axis(parsing: argument) } catch { throw ValidationError("\(error)") }
        }
        if axes.isEmpty {
            // No --grid: the recipe's own lucerna.sweep{...} (its seeds unless --seeds is given).
            let plan = try Self.recipeSweep(recipe, data: data)
            axes = plan.grid
            if seedList == nil { seedList = plan.seeds }
        }
        let sweep: Sweep
        do {
            sweep = try Sweep(
                recipe: URL(fileURLWithPath: recipe).standardizedFileURL.path, grid: axes, fixed: overrides,
                seeds: seedList)
            _ = try overrides.map(ConfigOverride.init(parsing:))
        } catch { throw ValidationError("\(error)") }
        let folder = out ?? RunContext.defaultDirectory(for: "sweep-" + URL(fileURLWithPath: recipe).lastPathComponent)
        do { try sweep.writeManifest(in: folder) } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
        try? readme(sweep).write(toFile: "\(folder)/README.md", atomically: true, encoding: .utf8)
        return (folder, sweep.points, sweep.grid.map { "\($0.key) × \($0.values.count)" }.joined(separator: ", "))
    }

    /// The grid and seeds of a recipe's `lucerna.sweep{...}`: the recipe runs in a scratch folder until that
    /// call (which stops it); `lucerna.config{...}` before it, or no such call, is an error.
    static func recipeSweep(_ recipe: String, data: String?) throws -> (grid: [Sweep.Axis], seeds: [Int]?) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lucerna-sweep-plan-\(getpid())"
        ).path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var failure = "the recipe ended without calling lucerna.sweep{grid = {...}}"
        do {
            let context = try RunContext(directory: scratch, recipe: recipe, seed: 0, threads: Parallel.threadCount)
            context.plansSweep = true
            do {
                let lua = try LuaState(dataDirectory: data, run: context)
                try lua.loadPlugins()
                guard let source = FileManager.default.contents(atPath: recipe) else {
                    throw ValidationError("cannot read recipe \(recipe)")
                }
                try lua.run(source: String(decoding: source, as: UTF8.self), name: recipe)
            } catch {
                if let plan = context.sweepPlan { return plan }
                failure = "\(error)"
            }
        } catch {
            failure = "\(error)"
        }
        throw ValidationError(
            "\(recipe): give --grid key=value,... or declare lucerna.sweep{grid = {...}, seeds = {...}} before lucerna.config{...} in the recipe (\(failure))"
        )
    }

    /// How the sweep was made, for whoever opens its folder.
    func readme(_ sweep: Sweep) -> String {
        """
        # Sweep of \(URL(fileURLWithPath: sweep.recipe).lastPathComponent)

        - recipe: `\(sweep.recipe)`
        - grid: \(sweep.grid.map { "`\($0.key)` ∈ {\($0.values.joined(separator: ", "))}" }.joined(separator: " × "))
        - fixed overrides: \(sweep.fixed.isEmpty ? "none" : sweep.fixed.map { "`\($0)`" }.joined(separator: ", "))
        - seeds: \(sweep.seeds.map { $0.map(String.init).joined(separator: ", ") } ?? "the recipe's")
        - points: \(sweep.points.count), listed in `manifest.jsonl`; point I runs with
          `lucerna run --manifest manifest.jsonl --index I`

        """
    }
}
