import ArgumentParser
import Foundation
import LucernaCore
import LucernaComponents
import LucernaData
import LucernaLua

@main
struct Lucerna: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lucerna",
        abstract: "Explainable, bias-aware generative learning: a Swift engine scripted from Lua.",
        subcommands: [Run.self, Report.self, List.self, Check.self, Stubs.self, Docs.self, TrainDemo.self, Bench.self])

    /// Exit codes: 0 success, 1 a recipe, data or engine error, 2 a usage error.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                print(message)
                Foundation.exit(0)
            }
            FileHandle.standardError.write((message + "\n").data(using: .utf8) ?? Data())
            Foundation.exit(code == .failure ? 1 : 2)
        }
    }
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Threads for the engine and OpenBLAS (default: LUCERNA_THREADS or all cores).")
    var threads: Int?

    @Option(help: "Data folder (default: LUCERNA_DATA, then ./data).")
    var data: String?

    func apply() throws {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.setThreadCount(threads)
        } else {
            Parallel.setThreadCount(Parallel.threadCount)
        }
    }
}

/// Prints a line and flushes, so logs stream even when standard output is a file or a pipe.
func emit(_ line: String) {
    print(line)
    fflush(nil)
}

/// Writes an error line to standard error.
func report(_ message: String) {
    FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
}

/// Runs a Lua recipe in a run folder.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Lua experiment recipe; writes config.json, metrics.jsonl, checkpoints/ and report.md to its run folder.")

    @Argument(help: "The recipe file.") var recipe: String
    @OptionGroup var common: CommonOptions
    @Option(help: "Seed for lucerna's random generator (before the recipe runs).") var seed: Int = 0
    @Option(name: .customLong("set"), help: "Override a value of the recipe's lucerna.config table: --set epochs=3 --set optim.lr=1e-3 (repeatable).")
    var overrides: [String] = []
    @Option(help: "Run folder (default: runs/<recipe>-<UTC time>).") var out: String?
    @Flag(help: "Run an untrusted recipe: no os.execute, io.popen, native modules, binary chunks or debug; files only in the run and data folders; instruction and memory limits.")
    var sandbox = false
    @Option(help: "With --sandbox: Lua instructions allowed.") var maxInstructions = 2_000_000_000
    @Option(help: "With --sandbox: memory cap in MB (Lua heap plus tensors).") var maxMemory = 4096

    @Option(help: "Run the recipe once per seed (e.g. 1,2,3) in seed-N/ subfolders and aggregate the last metrics of each (mean, standard deviation, per seed) into summary.json and report.md.")
    var seeds: String?

    func run() throws {
        try common.apply()
        guard maxInstructions > 0, maxMemory > 0 else { throw ValidationError("--max-instructions and --max-memory must be positive") }
        let parsed: [ConfigOverride]
        do { parsed = try overrides.map(ConfigOverride.init(parsing:)) } catch { throw ValidationError("\(error)") }
        guard FileManager.default.isReadableFile(atPath: recipe) else { throw ValidationError("cannot read recipe \(recipe)") }
        let folder = out ?? RunContext.defaultDirectory(for: recipe)
        guard let seeds else {
            _ = try runOnce(seed: seed, directory: folder, overrides: parsed)
            return
        }
        let list = seeds.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ $0 != nil }), Set(list.compactMap { $0 }).count == list.count else {
            throw ValidationError("--seeds must be distinct integers separated by commas (e.g. 1,2,3), got '\(seeds)'")
        }
        var runs: [RunContext] = []
        for value in list.compactMap({ $0 }) {
            emit("seed \(value) of \(list.count)")
            runs.append(try runOnce(seed: value, directory: "\(folder)/seed-\(value)", overrides: parsed))
        }
        do {
            let summary = try SeedSummary(runs: runs)
            try summary.write(to: folder, recipe: recipe)
            emit(summary.table)
            emit("summary: \(folder)/summary.json, \(folder)/report.md")
        } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// Runs the recipe once with `seed` in `directory`; exits on failure.
    func runOnce(seed: Int, directory: String, overrides parsed: [ConfigOverride]) throws -> RunContext {
        RandomGenerator.shared.reseed(UInt64(truncatingIfNeeded: seed))
        let context: RunContext
        do {
            context = try RunContext(directory: directory, recipe: recipe, seed: seed, threads: Parallel.threadCount, overrides: parsed)
        } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
        emit("run folder: \(context.directory)")
        do {
            let limits = sandbox ? Sandbox(instructionBudget: maxInstructions, memoryCap: maxMemory << 20,
                                           writableFolders: [context.directory],
                                           readableFolders: DataLocation.allRoots(explicit: common.data)) : nil
            let lua = try LuaState(dataDirectory: common.data, sandbox: limits, run: context)
            try lua.loadPlugins()
            try lua.run(file: recipe)
            if !parsed.isEmpty && context.resolvedConfig == nil {
                context.writeReport(error: "--set given, but the recipe never called lucerna.config{...}")
                report("error: --set \(parsed.map(\.key).joined(separator: ", ")): the recipe never called lucerna.config{...}, so there is nothing to override")
                throw ExitCode(2)
            }
            context.writeReport(error: nil)
            emit("report: \(context.directory)/report.md")
            return context
        } catch let exit as ExitCode {
            throw exit
        } catch {
            context.writeReport(error: "\(error)")
            report("error: \(error)")
            throw ExitCode(context.overrideFailed ? 2 : 1)   // a bad --set is a usage error
        }
    }
}

/// Compares run folders.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare run folders in one Markdown table (mean ± std from --seeds runs, else each run's last metrics).")

    @Argument(help: "Run folders.") var runs: [String]

    func run() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run folder") }
        do { print(try RunComparison.markdown(runs), terminator: "") } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Lists registered components.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List registered components (built-in and plugins) with their options.")

    @Argument(help: "A kind (model, fusion, regularizer, attack, explainer, metric, dataset, optimizer, schedule, loss).")
    var kind: String?

    func run() throws {
        var kinds = ComponentKind.allCases
        if let kind {
            guard let chosen = ComponentKind(anyName: kind) else {
                let names = ComponentKind.allCases.map(\.rawValue)
                throw ValidationError("unknown kind '\(kind)'\(suggestion(for: kind, in: names)); kinds: \(names.joined(separator: ", "))")
            }
            kinds = [chosen]
        }
        let lua = try loadedState()
        print(LuaDocumentation.listing(lua.registry, kinds: kinds), terminator: "")
    }
}

/// A state with the plugins of `folders` loaded; plugin errors are recipe errors (exit 1).
func loadedState(folders: [String] = LuaPlugins.defaultFolders()) throws -> LuaState {
    do {
        let lua = try LuaState()
        try lua.loadPlugins(from: folders)
        return lua
    } catch {
        report("error: \(error)")
        throw ExitCode(1)
    }
}

/// Runs the conformance checks on a plugin file.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a Lua plugin: builds with defaults, runs its contract on small inputs, checks shapes, finiteness and gradients.")

    @Argument(help: "The plugin file (Plugins/<kind>/<name>.lua).") var plugin: String

    func run() throws {
        guard FileManager.default.isReadableFile(atPath: plugin) else { throw ValidationError("cannot read plugin \(plugin)") }
        do {
            let lua = try LuaState()
            let entry = try lua.loadPlugin(file: plugin, overriding: true)
            emit("\(entry.kind.rawValue) \(entry.name) (\(plugin)): \(entry.summary)")
            for line in try lua.checkConformance(entry) { emit("  ok  \(line)") }
            emit("passed")
        } catch {
            report("FAILED: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Writes Lua language-server annotations.
struct Stubs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write Lua language-server annotations for the API and every registered component: lucerna stubs > lucerna.d.lua")

    func run() throws { print(LuaDocumentation.stubs(try loadedState()), terminator: "") }
}

/// Writes the Lua API reference.
struct Docs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the Lua API reference from the registry (built-ins and ./Plugins): lucerna docs > docs/lua-api.md")

    func run() throws { print(LuaDocumentation.reference(try loadedState(folders: ["Plugins"])), terminator: "") }
}
