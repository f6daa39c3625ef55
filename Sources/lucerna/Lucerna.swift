import ArgumentParser
import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaLua
import LucernaRun

@main
struct Lucerna: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lucerna",
        abstract: "Explainable, bias-aware generative learning: a Swift engine scripted from Lua.",
        subcommands: [
            Run.self, SweepCommand.self, Report.self, List.self, Check.self, Stubs.self, Docs.self, TrainDemo.self,
            Bench.self,
        ])

    /// Exit codes: 0 success, 1 a recipe, data or engine error, 2 a usage error.
    static func main() {
        restartWithFasterBLASKernelsIfNeeded()
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

extension Lucerna {
    /// Starts this process again with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to its SSE3 `Prescott`
    /// kernels on a CPU with AVX2 or AVX-512 (``BLASCore``): the variable only counts when the library
    /// loads. Keeps the current kernels if the restart fails.
    static func restartWithFasterBLASKernelsIfNeeded() {
        guard let core = BLASCore.recommendedCoreTypeForThisProcess() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        var arguments: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &arguments)
        report(
            "warning: OpenBLAS uses its Prescott kernels on this CPU and restarting with OPENBLAS_CORETYPE=\(core) failed (\(String(cString: strerror(errno)))); set it yourself for 2-3x faster matrix products"
        )
        unsetenv("OPENBLAS_CORETYPE")
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

/// Compares run folders.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Compare run folders in one table (mean ± std over seeds from each run's summary.json): Markdown on standard output, and an HTML page with --html."
    )

    @Argument(help: "Run folders; with --claims, the one folder that holds the claims' run folders.") var runs: [String]
    @Option(
        help:
            "Metrics to show, comma-separated; a trailing * matches a prefix (e.g. test_*,val_f1). Default: the test metrics, else all."
    )
    var metrics: String?
    @Option(help: "Also write a self-contained HTML page (table and bar charts) to this file.") var html: String?
    @Option(
        help:
            "A claims file (Lua, returning {title = ..., claims = {...}}): each claim of a paper beside ours, with a verdict (docs/guide/reproduce.md)."
    )
    var claims: String?
    @Option(help: "For a sweep folder: order the points by this metric's mean (highest first).") var sort: String?
    @Flag(help: "With --sort: lowest first.") var ascending = false

    func run() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run folder") }
        let selected =
            metrics?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
        if runs.count == 1, claims == nil, SweepReport.isSweep(runs[0]) {
            try write {
                let sweep = try SweepReport(folder: runs[0], selected: selected, sort: sort, ascending: ascending)
                return (sweep.markdown, { sweep.html })
            }
            return
        }
        guard sort == nil, !ascending else { throw ValidationError("--sort and --ascending apply to a sweep folder") }
        if let claims {
            guard runs.count == 1 else {
                throw ValidationError("with --claims, give the one folder that holds the claims' run folders")
            }
            guard metrics == nil else {
                throw ValidationError("--metrics does not apply to --claims (each claim names its metric)")
            }
            try write {
                let comparison = try ClaimReport(claims: try LuaState().value(ofFile: claims), runsFolder: runs[0])
                return (comparison.markdown, { comparison.html })
            }
            return
        }
        try write {
            (try RunComparison.markdown(runs, selected: selected), { try RunComparison.html(runs, selected: selected) })
        }
    }

    /// Prints the report's Markdown and, with `--html`, writes its page; any error exits 1.
    func write(_ make: () throws -> (markdown: String, html: () throws -> String)) throws {
        do {
            let made = try make()
            print(made.markdown, terminator: "")
            if let html {
                try made.html().write(toFile: html, atomically: true, encoding: .utf8)
                report("html: \(html)")
            }
        } catch {
            report("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Lists registered components.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List registered components (built-in and plugins) with their options.")

    @Argument(
        help: "A kind (model, fusion, regularizer, attack, explainer, metric, dataset, optimizer, schedule, loss).")
    var kind: String?

    func run() throws {
        var kinds = ComponentKind.allCases
        if let kind {
            guard let chosen = ComponentKind(anyName: kind) else {
                let names = ComponentKind.allCases.map(\.name)
                throw ValidationError(
                    "unknown kind '\(kind)'\(suggestion(for: kind, in: names)); kinds: \(names.joined(separator: ", "))"
                )
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
        abstract:
            "Check a Lua plugin: builds with defaults, runs its contract on small inputs, checks shapes, finiteness and gradients."
    )

    @Argument(help: "The plugin file (Plugins/<kind>/<name>.lua).") var plugin: String

    func run() throws {
        guard FileManager.default.isReadableFile(atPath: plugin) else {
            throw ValidationError("cannot read plugin \(plugin)")
        }
        do {
            let lua = try LuaState()
            let entry = try lua.loadPlugin(file: plugin, overriding: true)
            emit("\(entry.kind.name) \(entry.name) (\(plugin)): \(entry.summary)")
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
        abstract:
            "Write Lua language-server annotations for the API and every registered component: lucerna stubs > lucerna.d.lua"
    )

    func run() throws { print(LuaDocumentation.stubs(try loadedState()), terminator: "") }
}

/// Writes the Lua API reference.
struct Docs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Write the Lua API reference from the registry (built-ins and ./Plugins): lucerna docs > docs/lua-api.md")

    func run() throws { print(LuaDocumentation.reference(try loadedState(folders: ["Plugins"])), terminator: "") }
}
