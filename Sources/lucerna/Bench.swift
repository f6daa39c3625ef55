import ArgumentParser
import Foundation
import LucernaCore
import LucernaNN

/// Throughput benchmarks on fixed workloads, printed as one JSON line (compare with scripts/bench/).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput of a fixed workload: \(BenchmarkWorkload.names.joined(separator: ", ")).")

    @Argument(help: "Workload name.") var name: String
    @OptionGroup var common: CommonOptions
    @Option(help: "Seconds to measure (after one warm-up second).") var seconds = 5.0

    func run() throws {
        try common.apply()
        guard let workload = BenchmarkWorkload(rawValue: name) else {
            throw ValidationError(
                "unknown benchmark \(name); choose one of \(BenchmarkWorkload.names.joined(separator: ", "))")
        }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        do {
            let throughput = try workload.measure(seconds: seconds)
            print(
                "{\"bench\":\"\(name)\",\"threads\":\(Parallel.threadCount),\"blas_core\":\"\(BLASCore.name)\",\"throughput\":\(String(format: "%.2f", throughput)),\"unit\":\"\(workload.unit)\"}"
            )
        } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8) ?? Data())
            throw ExitCode(1)
        }
    }
}
