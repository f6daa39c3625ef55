import CKernels
import XCTest

@testable import LucernaCore
@testable import LucernaNN

/// The C AdamW kernel (AVX-512, AVX2 or scalar, chosen at run time) performs exactly the scalar loop's
/// operations: the results agree bit for bit, on every length (vector body and tail).
final class AdamKernelTests: XCTestCase {
    func testVectorKernelEqualsTheScalarLoopBitForBit() {
        let generator = RandomGenerator(seed: 9)
        let adamW = AdamConstants(
            rate: 1e-3, decay: 1e-2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, stepSize: 1e-3 / 0.1,
            correction2Root: 0.0316, decoupled: true, amsgrad: false)
        let adam = AdamConstants(
            rate: 1e-4, decay: 0, beta1: 0, beta2: 0.9, epsilon: 1e-8, stepSize: 1e-4,
            correction2Root: 0.3, decoupled: false, amsgrad: false)
        for (constants, count) in [adamW, adam].flatMap({ c in [1, 7, 8, 15, 16, 17, 1000, 1003].map { (c, $0) } }) {
            func buffer() -> [Float] { (0..<count).map { _ in Float(generator.nextNormal()) } }
            let (p, g, m, v) = (buffer(), buffer(), buffer(), buffer().map { $0 * $0 })
            var results: [[Float]] = []
            for vectorize in [true, false] {
                var (p1, g1, m1, v1, extra) = (p, g, m, v, v)
                p1.withUnsafeMutableBufferPointer { pb in
                    g1.withUnsafeMutableBufferPointer { gb in
                        m1.withUnsafeMutableBufferPointer { mb in
                            v1.withUnsafeMutableBufferPointer { vb in
                                extra.withUnsafeMutableBufferPointer { eb in
                                    if let pp = pb.baseAddress, let gp = gb.baseAddress, let mp = mb.baseAddress,
                                        let vp = vb.baseAddress, let ep = eb.baseAddress
                                    {
                                        adamUpdate(pp, gp, mp, vp, ep, count, constants, vectorize: vectorize)
                                    }
                                }
                            }
                        }
                    }
                }
                results.append(p1 + m1 + v1)
            }
            XCTAssertEqual(
                results[0].map(\.bitPattern), results[1].map(\.bitPattern),
                "length \(count) with \(String(cString: lucerna_kernel_level()))")
        }
    }
}
