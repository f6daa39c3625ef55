import CBLAS
import Foundation

/// Which OpenBLAS kernels the process uses, and the repair of OpenBLAS's fallback to its oldest x86-64
/// kernels on CPUs it does not recognise.
///
/// OpenBLAS built with `DYNAMIC_ARCH` (Debian's package) picks its kernels from the CPU model when the
/// library loads. Before 0.3.25 an Intel model missing from its table fell back to the SSE3 `Prescott`
/// kernels whatever the CPU supports (OpenBLAS issue 4267, fixed by pull request 4268); Debian 12 ships
/// 0.3.21, and on an Intel Xeon of model 207 (AVX-512) the `Prescott` GEMMs made the benchmark CNN's training
/// step 2.5-3 times slower than the `SkylakeX` ones. `OPENBLAS_CORETYPE` overrides the choice, but only when
/// the library loads, so the command-line tool sets it and starts itself again (``recommendedCoreType``).
public enum BLASCore {
    /// The kernel family OpenBLAS chose for this process (`openblas_get_corename`), e.g. `SkylakeX`.
    public static var name: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The `OPENBLAS_CORETYPE` to restart with, or nil to keep the current kernels: only when OpenBLAS fell
    /// back to `Prescott` (`coreName`), the user did not choose kernels (`environment` has no
    /// `OPENBLAS_CORETYPE`), and the CPU (`cpuFlags`, as in `/proc/cpuinfo`) supports a newer family:
    /// `SkylakeX` with AVX-512 F, CD, BW, DQ and VL; `Haswell` with AVX2 and FMA; `Sandybridge` with AVX.
    public static func recommendedCoreType(coreName: String, cpuFlags: Set<String>, environment: [String: String]) -> String? {
        guard coreName.lowercased() == "prescott", environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        if cpuFlags.contains("avx") { return "Sandybridge" }
        return nil
    }

    /// The flags of the first processor in `cpuinfo` (the text of `/proc/cpuinfo`); empty if it has none.
    public static func cpuFlags(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "flags" else { continue }
            return Set(parts[1].split(separator: " ").map(String.init))
        }
        return []
    }

    /// The `OPENBLAS_CORETYPE` this process should restart with (see ``recommendedCoreType``), reading
    /// the CPU's flags from `/proc/cpuinfo`; nil where that file does not exist.
    public static func recommendedCoreTypeForThisProcess() -> String? {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        return recommendedCoreType(coreName: name, cpuFlags: cpuFlags(cpuinfo: cpuinfo),
                                   environment: ProcessInfo.processInfo.environment)
    }
}
