import LucernaCore
import LucernaNN

/// The Square attack (L∞): a score-based random search that needs no gradients. From vertical stripes of ±ε,
/// each query changes one random square window (side from the fraction `p_init` of the image, shrinking on
/// the reference schedule) of each not-yet-fooled input to a random ±2ε per channel, projected onto the ball
/// and the valid range, and keeps the change when the margin loss z_y − maxⱼ≠y zⱼ drops (or the input is
/// fooled). Inputs already misclassified are left alone. Images `[N, C, H, W]`.
public final class SquareAttack: RangeBoundedAttack {
    static let options = [
        OptionSpec("eps", .number, default: .number(8.0 / 255), "L∞ budget"),
        OptionSpec("queries", .integer, default: .number(5000), "model queries per input and restart"),
        OptionSpec("p_init", .number, default: .number(0.8), "initial fraction of the image a window covers"),
        OptionSpec("restarts", .integer, default: .number(1), "runs on the inputs not yet fooled"),
        OptionSpec("clamp_min", .number, default: .number(0), "lowest valid input value"),
        OptionSpec("clamp_max", .number, default: .number(1), "highest valid input value"),
        OptionSpec(
            "batch_size", .integer, default: .number(512),
            "the most inputs in one forward pass: a query of more goes through in slices (same result); bounds memory"
        ),
    ]
    let eps: Double, queries: Int, initialFraction: Double, restarts: Int, batchSize: Int
    public let validRange: ValidRange
    public var budget: Double? { eps }

    init(config: Config) throws {
        eps = try config.number("eps")
        queries = try config.positiveInteger("queries")
        initialFraction = try config.number("p_init")
        restarts = try config.positiveInteger("restarts")
        batchSize = try config.positiveInteger("batch_size")
        let (low, high) = (try config.number("clamp_min"), try config.number("clamp_max"))
        guard low < high else { throw config.error("clamp_min must be below clamp_max") }
        validRange = ValidRange(low: low, high: high)
        guard eps >= 0, initialFraction > 0, initialFraction <= 1 else {
            throw config.error("eps must be non-negative and p_init in (0, 1]")
        }
    }

    public var label: String {
        "square Linf eps=\(eps) queries=\(queries) p_init=\(initialFraction) restarts=\(restarts)"
    }

    /// The window fraction at query `step` (the reference schedule for 10,000 queries, rescaled).
    func fraction(at step: Int) -> Double {
        let scaled = Int(Double(step) / Double(queries) * 10000)
        let bounds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        let halvings = bounds.filter { scaled > $0 }.count
        return initialFraction / Double(1 << halvings)
    }

    /// z_y − maxⱼ≠y zⱼ per input.
    static func margins(_ logits: Tensor, labels: [Int]) -> [Double] {
        let classes = logits.shape[1]
        let values = logits.toDoubles()
        return labels.enumerated().map { row, label in
            var other = -Double.infinity
            for k in 0..<classes where k != label { other = max(other, values[row * classes + k]) }
            return values[row * classes + label] - other
        }
    }

    public func perturb(model: Module, inputs: Tensor, targets labels: Tensor, within range: ValidRange) throws
        -> Tensor
    {
        guard inputs.rank == 4, inputs.dtype.isFloatingPoint, labels.count == inputs.shape[0] else {
            throw TensorError(
                "attacks.square",
                "needs images [N, C, H, W] and one label per image, got \(describe(shape: inputs.shape)) and \(labels.count) labels"
            )
        }
        return try model.evaluating {
            try noGrad {
                let (count, channels, height, width) = (
                    inputs.shape[0], inputs.shape[1], inputs.shape[2], inputs.shape[3]
                )
                let size = channels * height * width
                let x = inputs.toDoubles()
                let truth = labels.toIntegers()
                try range.check(x, size: size, owner: "attacks.square")
                let generator = RandomGenerator.shared
                /// Margins of the inputs `values` standing for the samples `samples`.
                func query(_ values: [Double], samples: [Int]) throws -> [Double] {
                    let batch = try Tensor(
                        shape: [samples.count, channels, height, width], values: values, dtype: inputs.dtype)
                    return Self.margins(
                        try SampleSlices.evaluate(model: model, batch: batch, samples: samples, size: batchSize),
                        labels: samples.map { truth[$0] })
                }
                var result = x
                let correct = zip(try query(x, samples: Array(0..<count)), 0..<count).filter { $0.0 > 0 }.map(\.1)
                _ = try AttackRestarts.keepFirstSuccess(
                    result: &result, sampleSize: size, pending: correct, times: restarts
                ) { unfooled in
                    let rows = unfooled.count
                    let original = unfooled.flatMap { x[$0 * size..<($0 + 1) * size] }
                    // 1. Vertical stripes of ±ε.
                    var best = original
                    for row in 0..<rows {
                        for channel in 0..<channels {
                            for column in 0..<width {
                                let sign: Double = generator.next() % 2 == 0 ? -1 : 1
                                for line in 0..<height {
                                    let index = row * size + (channel * height + line) * width + column
                                    best[index] = range.clamp(original[index] + eps * sign, index: index, size: size)
                                }
                            }
                        }
                    }
                    var margin = try query(best, samples: unfooled)
                    // 2. Random squares, kept when the margin drops.
                    for step in 0..<queries {
                        let active = (0..<rows).filter { margin[$0] > 0 }
                        guard !active.isEmpty else { break }
                        let side = min(
                            max(Int((fraction(at: step) * Double(size) / Double(channels)).squareRoot().rounded()), 1),
                            min(height, width))
                        var candidate = [Double]()
                        candidate.reserveCapacity(active.count * size)
                        for row in active {
                            var image = Array(best[row * size..<(row + 1) * size])
                            let top = Int(generator.next() % UInt64(height - side + 1))
                            let left = Int(generator.next() % UInt64(width - side + 1))
                            for channel in 0..<channels {
                                let sign: Double = generator.next() % 2 == 0 ? -1 : 1
                                for line in top..<(top + side) {
                                    for column in left..<(left + side) {
                                        let local = (channel * height + line) * width + column
                                        let index = row * size + local
                                        let moved = image[local] + 2 * eps * sign
                                        image[local] = range.clamp(
                                            min(max(moved, original[index] - eps), original[index] + eps),
                                            feature: local)
                                    }
                                }
                            }
                            candidate += image
                        }
                        let candidateMargins = try query(candidate, samples: active.map { unfooled[$0] })
                        for (position, row) in active.enumerated()
                        where candidateMargins[position] < margin[row] || candidateMargins[position] <= 0 {
                            margin[row] = candidateMargins[position]
                            for local in 0..<size { best[row * size + local] = candidate[position * size + local] }
                        }
                    }
                    return (best, margin.map { $0 <= 0 })
                }
                return try Tensor(shape: inputs.shape, values: result, dtype: inputs.dtype)
            }
        }
    }
}

extension SquareAttack: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .attack, "square", "score-based random search over square windows (no gradients), L∞",
            reference:
                "Andriushchenko, Croce, Flammarion & Hein, \"Square Attack: a query-efficient black-box adversarial attack via random search\", ECCV 2020 (per-image windows, as the authors' code); torchattacks `Square`",
            options: SquareAttack.options, build: SquareAttack.init)
    ]
}
