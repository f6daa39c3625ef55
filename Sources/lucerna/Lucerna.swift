import ArgumentParser
import Foundation
import LucernaCore
import LucernaLua

@main
struct Lucerna: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lucerna",
        abstract: "Explainable, bias-aware generative learning: a Swift engine scripted from Lua.",
        subcommands: [Run.self, TrainDemo.self, Bench.self])

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

/// Runs a Lua recipe.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Lua experiment recipe (the Lua API is growing: tensors, autograd so far; see README).")

    @Argument(help: "The recipe file.") var recipe: String
    @OptionGroup var common: CommonOptions
    @Option(help: "Seed for lucerna's random generator.") var seed: Int = 0

    func run() throws {
        try common.apply()
        RandomGenerator.shared.reseed(UInt64(truncatingIfNeeded: seed))
        do {
            let lua = try LuaState(dataDirectory: common.data)
            try lua.run(file: recipe)
        } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8) ?? Data())
            throw ExitCode(1)
        }
    }
}
