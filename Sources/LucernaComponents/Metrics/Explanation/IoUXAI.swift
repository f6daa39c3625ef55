import Foundation
import LucernaCore

/// IoU-XAI: the intersection over union of the binarised attribution map with the ground-truth mask,
/// averaged over samples. The map is binarised by one recorded rule: the top `fraction` of its pixels
/// (`top_k`, ties at the cut included), a fixed `value` (pixels ≥ value), or Otsu's threshold on a
/// 256-bin histogram (`otsu`) — or, with `box`, the weakly supervised localisation protocol of CAM and
/// Grad-CAM: the pixels at or above `relative` × the map's maximum, the bounding box of their largest
/// 8-connected component (most pixels; the first in raster order on a tie), and the IoU of that box with the
/// bounding box of the mask's pixels (boxes counted in whole pixels). Samples whose union is empty are left out.
public final class IoUXAI: MaskedAttributionMetric {
    static let options = [
        OptionSpec("threshold", .string, default: .string("top_k"), "top_k, value, otsu or box"),
        OptionSpec("fraction", .number, default: .number(0.2), "top_k: the share of pixels kept"),
        OptionSpec("value", .number, default: .number(0.5), "value: pixels at or above it are kept"),
        OptionSpec(
            "relative", .number, default: .number(0.15),
            "box: pixels at or above this share of the map's maximum (Grad-CAM's 15 %)"),
    ]
    let rule: String, fraction: Double, value: Double, relative: Double

    init(config: Config) throws {
        rule = try config.choice("threshold", ["top_k", "value", "otsu", "box"])
        fraction = try config.number("fraction")
        value = try config.number("value")
        relative = try config.number("relative")
        guard fraction > 0, fraction <= 1 else { throw config.error("fraction must be in (0, 1], got \(fraction)") }
        guard relative > 0, relative <= 1 else { throw config.error("relative must be in (0, 1], got \(relative)") }
        super.init(owner: config.owner)
    }

    /// A box of whole pixels: rows `top...bottom`, columns `left...right`.
    struct Box: Equatable {
        var top: Int, left: Int, bottom: Int, right: Int
        var area: Int { (bottom - top + 1) * (right - left + 1) }

        /// The box around `pixels` (flat indices in rows of `width`), or nil for none.
        init?(_ pixels: [Int], width: Int) {
            guard let first = pixels.first else { return nil }
            (top, left, bottom, right) = (first / width, first % width, first / width, first % width)
            for pixel in pixels {
                let (row, column) = (pixel / width, pixel % width)
                (top, bottom) = (min(top, row), max(bottom, row))
                (left, right) = (min(left, column), max(right, column))
            }
        }

        init(top: Int, left: Int, bottom: Int, right: Int) {
            (self.top, self.left, self.bottom, self.right) = (top, left, bottom, right)
        }

        func intersectionOverUnion(_ other: Box) -> Double {
            let rows = min(bottom, other.bottom) - max(top, other.top) + 1
            let columns = min(right, other.right) - max(left, other.left) + 1
            let overlap = rows > 0 && columns > 0 ? rows * columns : 0
            return Double(overlap) / Double(area + other.area - overlap)
        }
    }

    /// The pixels of the largest 8-connected component of `kept` (rows of `width`); on a tie the component
    /// whose first pixel comes first in raster order.
    static func largestComponent(_ kept: [Bool], width: Int) -> [Int] {
        var seen = [Bool](repeating: false, count: kept.count)
        var best: [Int] = []
        for start in kept.indices where kept[start] && !seen[start] {
            var component = [start]
            seen[start] = true
            var next = 0
            while next < component.count {
                let pixel = component[next]
                next += 1
                let (row, column) = (pixel / width, pixel % width)
                for dr in -1...1 {
                    for dc in -1...1 where dr != 0 || dc != 0 {
                        let (r, c) = (row + dr, column + dc)
                        guard r >= 0, c >= 0, c < width, r * width + c < kept.count else { continue }
                        let neighbour = r * width + c
                        if kept[neighbour] && !seen[neighbour] {
                            seen[neighbour] = true
                            component.append(neighbour)
                        }
                    }
                }
            }
            if component.count > best.count { best = component }
        }
        return best
    }

    /// The box rule's IoU, or nil when the mask is empty or the map has no positive maximum.
    func boxScore(map: [Double], mask: [Bool]) -> Double? {
        guard let peak = map.max(), peak > 0, width > 0,
            let truth = Box(mask.indices.filter { mask[$0] }, width: width)
        else { return nil }
        let kept = map.map { $0 >= relative * peak }
        guard let found = Box(Self.largestComponent(kept, width: width), width: width) else { return nil }
        return found.intersectionOverUnion(truth)
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
        if rule == "box" { return boxScore(map: map, mask: mask) }
        let kept = binarize(map)
        let intersection = zip(kept, mask).filter { $0 && $1 }.count
        let union = zip(kept, mask).filter { $0 || $1 }.count
        return union == 0 ? nil : Double(intersection) / Double(union)
    }

    override func details() -> [String: ConfigValue] {
        var fields: [String: ConfigValue] = ["threshold": .string(rule)]
        if rule == "top_k" { fields["fraction"] = .number(fraction) }
        if rule == "value" { fields["threshold_value"] = .number(value) }
        if rule == "box" { fields["relative"] = .number(relative) }
        return fields
    }
}

extension IoUXAI: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "iou_xai",
            "IoU of the binarised map (top-k %, value or Otsu) with the mask, or of its box with the mask's box",
            reference:
                "the IoU evaluation of attribution maps against object masks (e.g. Zhang et al., \"Top-down Neural Attention by Excitation Backprop\", 2018); Otsu, \"A Threshold Selection Method from Gray-Level Histograms\", 1979; box: Zhou et al., \"Learning Deep Features for Discriminative Localization\" (CAM), CVPR 2016, and Selvaraju et al., \"Grad-CAM\", ICCV 2017 (localisation at 15 % of the maximum)",
            options: IoUXAI.options, build: IoUXAI.init)
    ]
}
