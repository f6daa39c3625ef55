import Foundation

/// `e^x` over a buffer, sixteen lanes at a time for `Float` (the softmax and `exp` kernels' hot loop).
///
/// Each lane computes Cephes' `expf`: n = round(x·log₂e) by the 1.5·2²³ rounding trick, r = x − n·ln 2 in two
/// parts (Cody–Waite), e^r by its degree-6 minimax polynomial, and 2ⁿ from the exponent bits — within
/// 2 ulp of the C library's `expf` on [−87, 88]. A block holding anything outside that range (±∞, NaN,
/// overflow, subnormal results) is computed lane by lane with `expf`, so masked entries (−∞) give exactly 0
/// and NaN propagates. `Double` buffers use the C library throughout.
///
/// Reference: S. L. Moshier, Cephes Mathematical Library, `expf.c`; W. J. Cody and W. Waite, "Software
/// Manual for the Elementary Functions", 1980.
enum VectorExponential {
    typealias Lanes = SIMD16<Float>

    /// `output[i] = e^{input[i] − shift}` for `count` elements; returns their sum (accumulated in Float
    /// lanes, then added in Double). `input` and `output` may be the same buffer.
    @discardableResult
    static func exponentials(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, shift: Float = 0
    ) -> Double {
        var total = Lanes(repeating: 0)
        var index = 0
        let shifts = Lanes(repeating: shift)
        while index + Lanes.scalarCount <= count {
            let x = UnsafeRawPointer(input + index).loadUnaligned(as: Lanes.self)
            let value = exponential(x - shifts)
            UnsafeMutableRawPointer(output + index).storeBytes(of: value, as: Lanes.self)
            total += value
            index += Lanes.scalarCount
        }
        var sum = Double(total.sum())
        while index < count {
            let value = expf(input[index] - shift)
            output[index] = value
            sum += Double(value)
            index += 1
        }
        return sum
    }

    /// The largest of `count` elements (−∞ for none; NaN elements are skipped — they reach the softmax's
    /// sum through their exponential instead), with four running maxima so the comparisons overlap.
    static func maximum(_ input: UnsafePointer<Float>, count: Int) -> Float {
        var (first, second, third, fourth) = (-Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity)
        var index = 0
        while index + 4 <= count {
            if input[index] > first { first = input[index] }
            if input[index + 1] > second { second = input[index + 1] }
            if input[index + 2] > third { third = input[index + 2] }
            if input[index + 3] > fourth { fourth = input[index + 3] }
            index += 4
        }
        while index < count {
            if input[index] > first { first = input[index] }
            index += 1
        }
        return Swift.max(Swift.max(first, second), Swift.max(third, fourth))
    }

    @inline(__always)
    static func exponential(_ x: Lanes) -> Lanes {
        let inRange = (x .>= Lanes(repeating: -87)) .& (x .<= Lanes(repeating: 88))
        guard all(inRange) else {
            var result = Lanes()
            for lane in 0..<Lanes.scalarCount { result[lane] = expf(x[lane]) }
            return result
        }
        let magic: Float = 12_582_912  // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p = Lanes(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let polynomial = p * (r * r) + r + 1
        let integers = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((integers &+ 127) &<< 23, to: Lanes.self)
        return polynomial * scale
    }

}
