import XCTest
@testable import LucernaCore

final class BLASCoreTests: XCTestCase {
    let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]

    func testPrescottFallbackOnANewerCPUIsReplacedByTheBestFamilyItSupports() {
        XCTAssertEqual(BLASCore.recommendedCoreType(coreName: "Prescott", cpuFlags: avx512, environment: [:]), "SkylakeX")
        XCTAssertEqual(BLASCore.recommendedCoreType(coreName: "Prescott", cpuFlags: ["sse3", "avx", "avx2", "fma"], environment: [:]), "Haswell")
        XCTAssertEqual(BLASCore.recommendedCoreType(coreName: "Prescott", cpuFlags: ["sse3", "avx"], environment: [:]), "Sandybridge")
        // AVX-512 F alone (Knights Landing) is not enough for the SkylakeX kernels.
        XCTAssertEqual(BLASCore.recommendedCoreType(coreName: "Prescott", cpuFlags: ["avx", "avx2", "fma", "avx512f"], environment: [:]), "Haswell")
    }

    func testKernelsOpenBLASRecognisedOrTheUserChoseAreKept() {
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "SkylakeX", cpuFlags: avx512, environment: [:]))
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "Zen", cpuFlags: avx512, environment: [:]))
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "Prescott", cpuFlags: avx512, environment: ["OPENBLAS_CORETYPE": "Prescott"]))
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "Prescott", cpuFlags: ["sse3", "ssse3"], environment: [:]))
    }

    func testCPUFlagsAreReadFromTheFirstProcessor() {
        let cpuinfo = """
            processor\t: 0
            vendor_id\t: GenuineIntel
            flags\t\t: fpu sse3 avx2 fma
            bugs\t\t: spectre_v1

            processor\t: 1
            flags\t\t: fpu sse3
            """
        XCTAssertEqual(BLASCore.cpuFlags(cpuinfo: cpuinfo), ["fpu", "sse3", "avx2", "fma"])
        XCTAssertEqual(BLASCore.cpuFlags(cpuinfo: "processor\t: 0\n"), [])
    }

    func testTheLoadedLibraryNamesItsKernels() {
        XCTAssertFalse(BLASCore.name.isEmpty)
        XCTAssertNotEqual(BLASCore.name, "unknown")
    }
}
