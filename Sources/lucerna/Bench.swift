import ArgumentParser
import Foundation
import LucernaComponents
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
            let measured = try workload.measure(seconds: seconds)
            // Four decimals below 100 units/s: generator steps/s near 1 would have a resolution of 1 % at two.
            let throughputDigits = measured.throughput < 100 ? 4 : 2
            var fields: [String: ConfigValue] = [
                "bench": .string(name), "threads": .number(Double(Parallel.threadCount)),
                "blas_core": .string(BLASCore.name),
                "throughput": .number(rounded(measured.throughput, throughputDigits)),
                "unit": .string(workload.unit),
                "allocations_per_step": .number(rounded(measured.allocationsPerStep, 1)),
            ]
            if let peak = measured.peakResidentBytes {
                fields["peak_rss_mb"] = .number(rounded(ResidentMemory.mebibytes(peak), 1))
            }
            if let peak = measured.peakResidentBytes, let baseline = measured.baselineResidentBytes {
                fields["workload_rss_mb"] = .number(rounded(ResidentMemory.mebibytes(peak - baseline), 1))
            }
            if let reuse = measured.cacheReuse { fields["cache_reuse"] = .number(rounded(reuse, 3)) }
            if workload == .cnnTrain {
                fields["flops_per_sample"] = .number(Double(BenchmarkWorkload.cnnTrainFLOPsPerSample))
            }
            print(ConfigValue.table(fields).json)
        } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8) ?? Data())
            throw ExitCode(1)
        }
    }

    private func rounded(_ value: Double, _ digits: Int) -> Double {
        let scale = pow(10, Double(digits))
        return (value * scale).rounded() / scale
    }

}
