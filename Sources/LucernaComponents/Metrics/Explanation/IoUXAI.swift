import Foundation
import LucernaCore

/// IoU-XAI: the intersection over union of the binarised attribution map with the ground-truth mask,
/// averaged over samples. The map is binarised by one recorded rule: the top `fraction` of its pixels
/// (`top_k`, ties at the cut included), a fixed `value` (pixels ≥ value), or Otsu's threshold on a
/// 256-bin histogram (`otsu`). Samples whose union is empty are left out.
public final class IoUXAI: MaskedAttributionMetric {
    static let options = [
        OptionSpec("threshold", .string, default: .string("top_k"), "top_k, value or otsu"),
        OptionSpec("fraction", .number, default: .number(0.2), "top_k: the share of pixels kept"),
        OptionSpec("value", .number, default: .number(0.5), "value: pixels at or above it are kept"),
    ]
    let rule: String, fraction: Double, value: Double

    init(config: Config) throws {
        rule = try config.choice("threshold", ["top_k", "value", "otsu"])
        fraction = try config.number("fraction")
        value = try config.number("value")
        guard fraction > 0, fraction <= 1 else { throw config.error("fraction must be in (0, 1], got \(fraction)") }
        super.init(owner: config.owner)
    }

    /// The kept pixels of `map` under the rule.
    func binarize(_ map: [Double]) -> [Bool] {
        switch rule {
        case "value": return map.map { $0 >= value }
        case "otsu":
            let threshold = IoUXAI.otsuThreshold(map)
            return map.map { $0 >= threshold }
        default:
            let keep = max(1, Int((fraction * Double(map.count)).rounded()))
            let cut = map.sorted(by: >)[keep - 1]
            return map.map { $0 >= cut }
        }
    }

    /// Otsu's threshold: the bin edge of a 256-bin histogram over [min, max] that maximises the
    /// between-class variance.
    static func otsuThreshold(_ map: [Double]) -> Double {
        guard let low = map.min(), let high = map.max(), high > low else { return map.first ?? 0 }
        let bins = 256
        let width = (high - low) / Double(bins)
        var histogram = [Double](repeating: 0, count: bins)
        for value in map { histogram[min(Int((value - low) / width), bins - 1)] += 1 }
        let total = Double(map.count)
        let centres = (0..<bins).map { low + (Double($0) + 0.5) * width }
        let grandSum = zip(histogram, centres).reduce(0) { $0 + $1.0 * $1.1 }
        var best = (variance: -1.0, threshold: low)
        var weight = 0.0
        var sum = 0.0
        for bin in 0..<(bins - 1) {
            weight += histogram[bin]
            sum += histogram[bin] * centres[bin]
            guard weight > 0, weight < total else { continue }
            let meanBelow = sum / weight
            let meanAbove = (grandSum - sum) / (total - weight)
            let variance = weight * (total - weight) * (meanBelow - meanAbove) * (meanBelow - meanAbove)
            if variance > best.variance { best = (variance, low + Double(bin + 1) * width) }
        }
        return best.threshold
    }

    override func score(map: [Double], mask: [Bool]) -> Double? {
        let kept = binarize(map)
        let intersection = zip(kept, mask).filter { $0 && $1 }.count
        let union = zip(kept, mask).filter { $0 || $1 }.count
        return union == 0 ? nil : Double(intersection) / Double(union)
    }

    override func details() -> [String: ConfigValue] {
        var fields: [String: ConfigValue] = ["threshold": .string(rule)]
        if rule == "top_k" { fields["fraction"] = .number(fraction) }
        if rule == "value" { fields["threshold_value"] = .number(value) }
        return fields
    }
}

extension IoUXAI: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "iou_xai", "IoU of the binarised map (top-k %, value or Otsu) with the mask",
            reference:
                "the IoU evaluation of attribution maps against object masks (e.g. Zhang et al., \"Top-down Neural Attention by Excitation Backprop\", 2018); Otsu, \"A Threshold Selection Method from Gray-Level Histograms\", 1979",
            options: IoUXAI.options, build: IoUXAI.init)
    ]
}
