import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64): the same seed gives the
/// same stream on every machine and thread count.
public final class RandomGenerator: @unchecked Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// The process-wide generator used when none is passed (`lucerna.manual_seed` reseeds it).
    nonisolated(unsafe) public static var shared = RandomGenerator(seed: 0)

    public init(seed: UInt64) { reseed(seed) }

    /// Restarts the stream from `seed`.
    public func reseed(_ seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The full generator state, for checkpoints.
    public var stateWords: [UInt64] {
        get { [state.0, state.1, state.2, state.3] }
        set { if newValue.count == 4 { state = (newValue[0], newValue[1], newValue[2], newValue[3]) } }
    }

    /// The next 64 random bits.
    @inline(__always)
    public func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotate(state.3, 45)
        return result
    }

    @inline(__always) private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box–Muller, one value per call).
    public func nextNormal() -> Double {
        var u = nextUniform()
        while u <= .leastNormalMagnitude { u = nextUniform() }
        let v = nextUniform()
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)
    }

    /// Uniform integer in `0..<bound` without modulo bias.
    public func nextInt(below bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        let limit = UInt64(bound)
        let threshold = (0 &- limit) % limit
        while true {
            let value = next()
            let (high, low) = value.multipliedFullWidth(by: limit)
            if low >= threshold { return Int(high) }
        }
    }

    /// A random permutation of `0..<count` (Fisher–Yates).
    public func permutation(_ count: Int) -> [Int] {
        var values = Array(0..<max(count, 0))
        if values.count > 1 {
            for index in stride(from: values.count - 1, to: 0, by: -1) {
                values.swapAt(index, nextInt(below: index + 1))
            }
        }
        return values
    }

    /// A sample from the categorical distribution with (unnormalised, non-negative) `weights`.
    public func categorical(_ weights: [Double]) throws -> Int {
        let total = weights.reduce(0, +)
        guard total > 0, total.isFinite, weights.allSatisfy({ $0 >= 0 }) else {
            throw TensorError("categorical", "weights must be non-negative with a positive finite sum")
        }
        var target = nextUniform() * total
        for (index, weight) in weights.enumerated() {
            target -= weight
            if target < 0 { return index }
        }
        return weights.lastIndex(where: { $0 > 0 }) ?? 0
    }
}

extension Tensor {
    /// Uniform values in `[low, high)`.
    public static func uniform(
        _ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws -> Tensor {
        try validate(shape: shape, dtype: dtype, operation: "uniform")
        let values = (0..<shape.reduce(1, *)).map { _ in low + (high - low) * generator.nextUniform() }
        return try Tensor(shape: shape, values: values, dtype: dtype)
    }

    /// Normal values with `mean` and `standardDeviation`.
    public static func normal(
        _ shape: [Int], mean: Double = 0, standardDeviation: Double = 1, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws -> Tensor {
        try validate(shape: shape, dtype: dtype, operation: "normal")
        let values = (0..<shape.reduce(1, *)).map { _ in mean + standardDeviation * generator.nextNormal() }
        return try Tensor(shape: shape, values: values, dtype: dtype)
    }

    /// 1 with probability `probability`, else 0.
    public static func bernoulli(
        _ shape: [Int], probability: Double, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws -> Tensor {
        guard probability >= 0, probability <= 1 else {
            throw TensorError("bernoulli", "probability \(probability) outside [0, 1]")
        }
        try validate(shape: shape, dtype: dtype, operation: "bernoulli")
        let values = (0..<shape.reduce(1, *)).map { _ in generator.nextUniform() < probability ? 1.0 : 0.0 }
        return try Tensor(shape: shape, values: values, dtype: dtype)
    }
}
