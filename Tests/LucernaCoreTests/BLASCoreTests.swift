import XCTest
import CKernels
@testable import LucernaCore

final class BLASCoreTests: XCTestCase {
    func testPrescottFallbackIsReplacedByTheFamilyTheCPUSupports() {
        XCTAssertEqual(BLASCore.recommendedCoreType(coreName: "Prescott", supportedFamily: "SkylakeX", environment: [:]), "SkylakeX")
        XCTAssertEqual(BLASCore.recommendedCoreType(coreName: "Prescott", supportedFamily: "Haswell", environment: [:]), "Haswell")
    }

    func testKernelsOpenBLASRecognisedOrTheUserChoseAreKept() {
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "SkylakeX", supportedFamily: "SkylakeX", environment: [:]))
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "Zen", supportedFamily: "Haswell", environment: [:]))
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "Prescott", supportedFamily: "SkylakeX", environment: ["OPENBLAS_CORETYPE": "Prescott"]))
        XCTAssertNil(BLASCore.recommendedCoreType(coreName: "Prescott", supportedFamily: nil, environment: [:]))
    }

    func testTheCPUsFamilyAgreesWithTheCKernelsLevel() {
        let family = BLASCore.familyForThisCPU
        XCTAssertTrue([nil, "SkylakeX", "Haswell", "Sandybridge"].contains(family))
        if family == "SkylakeX" { XCTAssertEqual(String(cString: lucerna_kernel_level()), "avx512f") }
    }

    func testTheLoadedLibraryNamesItsKernels() {
        XCTAssertFalse(BLASCore.name.isEmpty)
        XCTAssertNotEqual(BLASCore.name, "unknown")
    }
}
