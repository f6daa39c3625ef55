import LucernaCore

/// The base of the explanation-quality metrics that compare an attribution map with a ground-truth mask
/// (the object mask of a data set, or the artifact mask of a biased one): `update(maps, masks)` scores
/// each sample, `compute()` is the mean over the samples whose score is defined, and `report()` adds the
/// count, the sample standard deviation and the samples left out (empty masks, constant maps).
///
/// Maps are `[N, H, W]` (CAM family) or `[N, C, H, W]` (input attributions, summed over channels); masks
/// `[N, H, W]` or `[N, 1, H, W]`, non-zero inside. The third argument (groups) is ignored.
public class MaskedAttributionMetric: Metric {
    let owner: String
    /// The width of the maps being scored (for rules that look at the grid, such as IoU-XAI's box rule).
    private(set) var width = 0
    private(set) var scores: [Double] = []
    private(set) var skipped = 0

    init(owner: String) { self.owner = owner }

    /// One sample's score from its map and mask (same length), or nil when undefined.
    func score(map: [Double], mask: [Bool]) -> Double? { nil }

    /// Extra report fields (the thresholding rule of IoU-XAI).
    func details() -> [String: ConfigValue] { [:] }

    /// Adds one sample's score (for subclasses that score differently).
    func record(_ value: Double?) {
        if let value { scores.append(value) } else { skipped += 1 }
    }

    /// Samples scored so far.
    var scoreCount: Int { scores.count }

    public func update(predictions maps: Tensor, targets masks: Tensor, groups: Tensor?) throws {
        let mapShape = maps.rank == 4 ? [maps.shape[0], maps.shape[2], maps.shape[3]] : maps.shape
        let maskShape =
            masks.rank == 4 && masks.shape[1] == 1 ? [masks.shape[0], masks.shape[2], masks.shape[3]] : masks.shape
        guard mapShape.count == 3, maskShape == mapShape else {
            throw TensorError(
                owner,
                "expects maps [N, H, W] (or [N, C, H, W]) and masks [N, H, W] (or [N, 1, H, W]) of the same size, got \(describe(shape: maps.shape)) and \(describe(shape: masks.shape))"
            )
        }
        let (count, plane) = (mapShape[0], mapShape[1] * mapShape[2])
        width = mapShape[2]
        let channels = maps.rank == 4 ? maps.shape[1] : 1
        let values = maps.toDoubles()
        let inside = masks.toDoubles().map { $0 != 0 }
        for n in 0..<count {
            var map = [Double](repeating: 0, count: plane)
            for c in 0..<channels {
                let base = (n * channels + c) * plane
                for p in 0..<plane { map[p] += values[base + p] }
            }
            guard map.allSatisfy(\.isFinite) else {
                throw TensorError(owner, "the map of sample \(n + 1) has non-finite values")
            }
            record(score(map: map, mask: Array(inside[n * plane..<(n + 1) * plane])))
        }
    }

    public func compute() throws -> Double {
        guard !scores.isEmpty else {
            throw TensorError(
                owner,
                skipped > 0
                    ? "no sample had a defined score (\(skipped) left out: empty masks or constant maps)"
                    : "no samples: call update first")
        }
        return scores.reduce(0, +) / Double(scores.count)
    }

    public func reset() {
        scores = []
        skipped = 0
    }

    public func report() throws -> [String: ConfigValue] {
        let mean = try compute()
        let deviation =
            scores.count > 1
            ? (scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(scores.count - 1)).squareRoot() : 0
        return [
            "value": .number(mean), "count": .number(Double(scores.count)), "std": .number(deviation),
            "skipped": .number(Double(skipped)),
        ].merging(details()) { a, _ in a }
    }
}
