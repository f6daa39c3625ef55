import CKernels
import XCTest

@testable import LucernaCore

final class BLASCoreTests: XCTestCase {
    func testPrescottFallbackIsReplacedByTheFamilyTheCPUSupports() {
        XCTAssertEqual(
            BLASCore.recommendedCoreType(coreName: "Prescott", supportedFamily: "SkylakeX", environment: [:]),
            "SkylakeX")
        XCTAssertEqual(
            BLASCore.recommendedCoreType(coreName: "Prescott", supportedFamily: "Haswell", environment: [:]), "Haswell")
    }

    func testKernelsOpenBLASRecognisedOrTheUserChoseAreKept() {
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "SkylakeX", supportedFamily: "SkylakeX", environment: [:]))
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "Zen", supportedFamily: "Haswell", environment: [:]))
        XCTAssertNil(
            BLASCore.recommendedCoreType(
                coreName: "Prescott", supportedFamily: "SkylakeX", environment: ["OPENBLAS_CORETYPE": "Prescott"]))
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "Prescott", supportedFamily: nil, environment: [:]))
    }

    func testTheCPUsFamilyAgreesWithTheCKernelsLevel() {
        let family = BLASCore.familyForThisCPU
        XCTAssertTrue([nil, "SkylakeX", "Haswell", "Sandybridge"].contains(family))
        if family == "SkylakeX" { XCTAssertEqual(String(cString: lucerna_kernel_level()), "avx512f") }
    }

    /// An independent oracle: the family the kernel's flags in /proc/cpuinfo call for (Linux only).
    func testTheCPUsFamilyMatchesTheFlagsTheKernelReports() throws {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else {
            throw XCTSkip("no /proc/cpuinfo flags here")
        }
        let flags = Set(line.split(separator: ":", maxSplits: 1).last?.split(separator: " ").map(String.init) ?? [])
        let expected: String?
        if flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) {
            expected = "SkylakeX"
        } else if flags.isSuperset(of: ["avx2", "fma"]) {
            expected = "Haswell"
        } else if flags.contains("avx") {
            expected = "Sandybridge"
        } else {
            expected = nil
        }
        XCTAssertEqual(
            BLASCore.familyForThisCPU, expected,
            "flags: \(flags.sorted().filter { $0.hasPrefix("avx") || $0 == "fma" })")
    }

    func testTheLoadedLibraryNamesItsKernels() {
        XCTAssertFalse(BLASCore.name.isEmpty)
        XCTAssertNotEqual(BLASCore.name, "unknown")
    }
}
