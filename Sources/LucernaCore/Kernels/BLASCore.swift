import CBLAS
import CKernels
import Foundation

/// Which OpenBLAS kernels the process uses, and the repair of OpenBLAS's fallback to its oldest x86-64
/// kernels on CPUs it does not recognise.
///
/// OpenBLAS built with `DYNAMIC_ARCH` (Debian's package) picks its kernels from the CPU model when the
/// library loads. Before 0.3.25 an Intel model missing from its table fell back to the SSE3 `Prescott`
/// kernels whatever the CPU supports (OpenBLAS issue 4267, fixed by pull request 4268); Debian 12 ships
/// 0.3.21, and on an Intel Xeon of model 207 (AVX-512) the `Prescott` GEMMs made training about three times
/// slower than the `SkylakeX` ones (README, "OpenBLAS kernels"). `OPENBLAS_CORETYPE` overrides the choice, but only when
/// the library loads, so the command-line tool sets it and starts itself again (``recommendedCoreType``).
public enum BLASCore {
    /// The kernel family OpenBLAS chose for this process (`openblas_get_corename`), e.g. `SkylakeX`.
    public static var name: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The newest OpenBLAS kernel family this CPU supports (`SkylakeX` with AVX-512 F, CD, BW, DQ and VL;
    /// `Haswell` with AVX2 and FMA; `Sandybridge` with AVX), from the same CPU feature checks as the C kernels.
    public static var familyForThisCPU: String? { lucerna_openblas_family().map { String(cString: $0) } }

    /// The `OPENBLAS_CORETYPE` to restart with, or nil to keep the current kernels: only when OpenBLAS fell
    /// back to `Prescott` (`coreName`), the user did not choose kernels (`environment` has no
    /// `OPENBLAS_CORETYPE`), and the CPU supports a newer family (`supportedFamily`, ``familyForThisCPU``).
    public static func recommendedCoreType(coreName: String, supportedFamily: String?, environment: [String: String])
        -> String?
    {
        guard coreName.lowercased() == "prescott", environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        return supportedFamily
    }

    /// The `OPENBLAS_CORETYPE` this process should restart with (see ``recommendedCoreType``).
    public static func recommendedCoreTypeForThisProcess() -> String? {
        recommendedCoreType(
            coreName: name, supportedFamily: familyForThisCPU, environment: ProcessInfo.processInfo.environment)
    }
}
