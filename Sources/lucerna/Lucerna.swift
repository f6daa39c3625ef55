import ArgumentParser
import Foundation
import LucernaCore

@main
struct Lucerna: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lucerna",
        abstract: "Explainable, bias-aware generative learning: a Swift engine scripted from Lua.",
        subcommands: [TrainDemo.self, Bench.self])
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
