import LucernaCore

/// Seeded, stratified splits and mini-batch orders over sample indices.
public enum DataSplits {
    /// Splits `0..<keys.count` into (kept, held out) with `fraction` of each stratum (samples sharing a key,
    /// e.g. a label or a label × subgroup pair) held out, rounded per stratum, so every stratum's share is
    /// within one sample of exact. Both parts are sorted; the same generator state gives the same split.
    public static func stratified<Key: Hashable & Comparable>(
        keys: [Key], fraction: Double,
        generator: RandomGenerator
    ) -> (kept: [Int], heldOut: [Int]) {
        var strata: [Key: [Int]] = [:]
        for (index, key) in keys.enumerated() { strata[key, default: []].append(index) }
        var kept: [Int] = []
        var heldOut: [Int] = []
        for key in strata.keys.sorted() {
            let members = strata[key] ?? []
            let order = generator.permutation(members.count).map { members[$0] }
            let held = Int((Double(members.count) * fraction).rounded())
            heldOut += order.prefix(held)
            kept += order.dropFirst(held)
        }
        return (kept.sorted(), heldOut.sorted())
    }

    /// Batches of `indices` in a seeded random order (or in order), optionally dropping a short last batch.
    public static func batches(
        _ indices: [Int], size: Int, shuffle: Bool, dropLast: Bool = false,
        generator: RandomGenerator
    ) -> [[Int]] {
        let order = shuffle ? generator.permutation(indices.count).map { indices[$0] } : indices
        var result: [[Int]] = []
        var start = 0
        while start < order.count {
            let end = min(start + size, order.count)
            if end - start == size || !dropLast { result.append(Array(order[start..<end])) }
            start = end
        }
        return result
    }

    /// A short, stable digest of an index list (FNV-1a), for run records.
    public static func digest(_ indices: [Int]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for index in indices {
            var value = UInt64(truncatingIfNeeded: index)
            for _ in 0..<8 {
                hash = (hash ^ (value & 0xff)) &* 0x100_0000_01b3
                value >>= 8
            }
        }
        return String(hash, radix: 16)
    }
}
