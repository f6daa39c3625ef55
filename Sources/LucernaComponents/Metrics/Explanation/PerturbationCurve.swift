import Foundation
import LucernaCore
import LucernaNN

/// The deletion and insertion curves of an attribution map: the pixels (positions over height × width,
/// attributions summed over channels) are ordered from most to least attributed; at step k of `steps`,
/// the first round(k·P/steps) of them are removed from the input (set to `baseline` in every channel:
/// deletion) or copied into an all-`baseline` image (insertion), and the softmax probability of the
/// target class is recorded. The score is the area under that curve over the removed (inserted) share,
/// by the trapezoid rule; lower deletion and higher insertion AUCs mean more faithful maps. The model runs
/// in evaluation mode, targets default to the predicted classes.
public class PerturbationCurve: MaskedAttributionMetric, FaithfulnessMetric {
    static let options = [
        OptionSpec(
            "steps", .integer, default: .number(20), "points of the curve after the start (share removed k / steps)"),
        OptionSpec(
            "baseline", .number, default: .number(0),
            "the value of removed pixels (deletion) or of the starting image (insertion)"),
    ]
    let insertion: Bool, steps: Int, baseline: Double
    /// The mean curve over samples, for the report.
    private(set) var curveSum: [Double] = []

    init(config: Config, insertion: Bool) throws {
        self.insertion = insertion
        steps = try config.positiveInteger("steps")
        baseline = try config.number("baseline")
        super.init(owner: config.owner)
    }

    public override func update(predictions: Tensor, targets: Tensor, groups: Tensor?) throws {
        throw TensorError(
            owner,
            "needs the model: metric:update_explanation(model, inputs, maps[, targets]) (Swift: update(model:inputs:attributions:targets:))"
        )
    }

    public func update(model: Module, inputs: Tensor, attributions: Tensor, targets: Tensor?) throws {
        guard inputs.rank == 4 else {
            throw TensorError(owner, "inputs must be images [N, C, H, W], got \(describe(shape: inputs.shape))")
        }
        let (count, channels, height, width) = (inputs.shape[0], inputs.shape[1], inputs.shape[2], inputs.shape[3])
        let mapShape =
            attributions.rank == 4
            ? [attributions.shape[0], attributions.shape[2], attributions.shape[3]] : attributions.shape
        guard mapShape == [count, height, width] else {
            throw TensorError(
                owner,
                "maps \(describe(shape: attributions.shape)) do not match inputs \(describe(shape: inputs.shape))")
        }
        let plane = height * width
        let mapChannels = attributions.rank == 4 ? attributions.shape[1] : 1
        let maps = attributions.toDoubles()
        let values = inputs.toDoubles()
        try model.evaluating {
            try noGrad {
                let classes = try ExplanationTargets.resolve(
                    model: model, inputs: inputs, targets: targets, owner: owner)
                for n in 0..<count {
                    // 1. Positions from most to least attributed (ties by position).
                    let map = (0..<plane).map { p in
                        (0..<mapChannels).reduce(0) { $0 + maps[(n * mapChannels + $1) * plane + p] }
                    }
                    guard map.allSatisfy(\.isFinite) else {
                        throw TensorError(owner, "the map of sample \(n + 1) has non-finite values")
                    }
                    let order = (0..<plane).sorted { map[$0] > map[$1] || (map[$0] == map[$1] && $0 < $1) }
                    // 2. The steps + 1 perturbed images of this sample, in one batch.
                    let image = Array(values[n * channels * plane..<(n + 1) * channels * plane])
                    var batch = [Double]()
                    batch.reserveCapacity((steps + 1) * image.count)
                    for k in 0...steps {
                        let changed = Int((Double(k) * Double(plane) / Double(steps)).rounded())
                        var copy = insertion ? [Double](repeating: baseline, count: image.count) : image
                        for position in order.prefix(changed) {
                            for c in 0..<channels {
                                copy[c * plane + position] = insertion ? image[c * plane + position] : baseline
                            }
                        }
                        batch += copy
                    }
                    let logits = try model(
                        Tensor(shape: [steps + 1, channels, height, width], values: batch, dtype: inputs.dtype))
                    let probabilities = try logits.softmax(axis: 1).toDoubles()
                    let classCount = logits.shape[1]
                    let curve = (0...steps).map { probabilities[$0 * classCount + classes[n]] }
                    record(curve.indices.dropLast().reduce(0) { $0 + (curve[$1] + curve[$1 + 1]) / 2 } / Double(steps))
                    curveSum = curveSum.isEmpty ? curve : zip(curveSum, curve).map(+)
                }
            }
        }
    }

    public override func reset() {
        super.reset()
        curveSum = []
    }

    override func details() -> [String: ConfigValue] {
        let samples = Double(max(scoreCount, 1))
        return ["curve": .list(curveSum.map { .number($0 / samples) }), "steps": .number(Double(steps))]
    }
}

/// Deletion AUC (lower is more faithful).
public final class DeletionAUC: PerturbationCurve {
    init(config: Config) throws { try super.init(config: config, insertion: false) }
}

/// Insertion AUC (higher is more faithful).
public final class InsertionAUC: PerturbationCurve {
    init(config: Config) throws { try super.init(config: config, insertion: true) }
}

extension DeletionAUC: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "deletion_auc",
            "area under the target probability as the most attributed pixels are removed (lower is better)",
            reference:
                "Petsiuk, Das & Saenko, \"RISE: Randomized Input Sampling for Explanation of Black-box Models\", BMVC 2018",
            options: PerturbationCurve.options, build: DeletionAUC.init)
    ]
}

extension InsertionAUC: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "insertion_auc",
            "area under the target probability as the most attributed pixels are inserted (higher is better)",
            reference:
                "Petsiuk, Das & Saenko, \"RISE: Randomized Input Sampling for Explanation of Black-box Models\", BMVC 2018",
            options: PerturbationCurve.options, build: InsertionAUC.init)
    ]
}
