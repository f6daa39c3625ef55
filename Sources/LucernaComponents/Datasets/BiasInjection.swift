import LucernaCore
import LucernaData

/// Controlled spurious features for bias experiments on image data sets: a bright square artifact at a
/// corner (Reveal-to-Revise's controlled artifacts) or a colour tint (Colored MNIST). Each sample gets a
/// subgroup (1 carries the feature, 0 does not). In the training split a sample of the `target` class
/// carries it with probability `correlation`, and a sample of another class with the probability that
/// makes the overall share `fraction`; in the test split the feature is `independent` of the label (each
/// sample with probability `fraction`) or `reversed` (target-class samples with 1 − correlation). Artifact
/// samples also get a mask of the patch, so explanation metrics can measure attribution on it.
///
/// Reference: Pahde et al., "Reveal to Revise", 2023 (controlled artifacts); Arjovsky et al., "Invariant
/// Risk Minimization", 2019 (Colored MNIST).
struct BiasInjection {
    enum Kind: String { case artifact, color }
    let kind: Kind
    let correlation: Double, fraction: Double
    let target: Int, size: Int, corner: String, testMode: String, seed: UInt64

    static let accepted = ["kind", "correlation", "fraction", "target", "size", "corner", "test", "seed"]

    init(_ value: ConfigValue, owner: String) throws {
        guard case .table(let fields) = value else {
            throw ConfigurationError(
                owner, "option bias must be a table such as {kind = \"artifact\", correlation = 0.9, fraction = 0.5}")
        }
        for key in fields.keys.sorted() where !Self.accepted.contains(key) {
            throw ConfigurationError(
                owner,
                "bias: unknown field '\(key)'\(suggestion(for: key, in: Self.accepted)); accepted: \(Self.accepted.joined(separator: ", "))"
            )
        }
        let config = Config(owner: "\(owner) bias", values: fields)
        func number(_ key: String, _ fallback: Double) throws -> Double {
            config.has(key) ? try config.number(key) : fallback
        }
        func text(_ key: String, _ fallback: String) throws -> String {
            config.has(key) ? try config.string(key) : fallback
        }
        guard let kind = Kind(rawValue: try text("kind", "artifact")) else {
            throw ConfigurationError(owner, "bias.kind must be artifact or color, got \(try text("kind", ""))")
        }
        self.kind = kind
        correlation = try number("correlation", 0.9)
        fraction = try number("fraction", 0.5)
        target = Int(try number("target", 0))
        size = Int(try number("size", 4))
        corner = try text("corner", "bottom_right")
        testMode = try text("test", "independent")
        seed = UInt64(truncatingIfNeeded: Int(try number("seed", 0)))
        guard (0...1).contains(correlation), (0...1).contains(fraction) else {
            throw ConfigurationError(
                owner, "bias.correlation and bias.fraction must be in [0, 1], got \(correlation) and \(fraction)")
        }
        guard ["top_left", "top_right", "bottom_left", "bottom_right"].contains(corner) else {
            throw ConfigurationError(
                owner, "bias.corner must be top_left, top_right, bottom_left or bottom_right, got \(corner)")
        }
        guard ["independent", "reversed"].contains(testMode) else {
            throw ConfigurationError(owner, "bias.test must be independent or reversed, got \(testMode)")
        }
        guard (1...14).contains(size) else {
            throw ConfigurationError(owner, "bias.size must be 1...14 pixels, got \(size)")
        }
    }

    /// The subgroup of each sample (1 carries the feature).
    func groups(labels: [Int], training: Bool) -> [Int] {
        let generator = RandomGenerator(seed: seed &+ (training ? 0 : 0x5eed))
        let targetShare = Double(labels.filter { $0 == target }.count) / Double(max(labels.count, 1))
        // P(feature | other class) so that the overall share is `fraction` (clamped to [0, 1]).
        let others = targetShare < 1 ? min(max((fraction - correlation * targetShare) / (1 - targetShare), 0), 1) : 0
        return labels.map { label in
            let probability: Double
            if training || testMode == "reversed" {
                let forTarget = training ? correlation : 1 - correlation
                let forOthers =
                    training
                    ? others : min(max((fraction - forTarget * targetShare) / max(1 - targetShare, 1e-9), 0), 1)
                probability = label == target ? forTarget : forOthers
            } else {
                probability = fraction
            }
            return generator.nextUniform() < probability ? 1 : 0
        }
    }

    /// Applies the feature to `images [N, 1, H, W]` for samples in group 1: returns the images (3 channels
    /// for colour) and, for the artifact, masks `[N, 1, H, W]` of the patch.
    func apply(to images: Tensor, groups: [Int]) throws -> (images: Tensor, masks: Tensor?) {
        let (count, height, width) = (images.shape[0], images.shape[2], images.shape[3])
        var pixels = images.toFloats()
        switch kind {
        case .artifact:
            var masks = [Float](repeating: 0, count: count * height * width)
            let top = corner.hasPrefix("top") ? 1 : height - 1 - size
            let left = corner.hasSuffix("left") ? 1 : width - 1 - size
            for (sample, group) in groups.enumerated() where group == 1 {
                for row in top..<(top + size) {
                    for column in left..<(left + size) {
                        pixels[(sample * height + row) * width + column] = 1
                        masks[(sample * height + row) * width + column] = 1
                    }
                }
            }
            return (try Tensor(shape: images.shape, scalars: pixels), try Tensor(shape: images.shape, scalars: masks))
        case .color:
            // Group 1 red (ink in the first channel), group 0 green (ink in the second), blue empty.
            let plane = height * width
            var colored = [Float](repeating: 0, count: count * 3 * plane)
            for (sample, group) in groups.enumerated() {
                let channel = group == 1 ? 0 : 1
                for offset in 0..<plane {
                    colored[(sample * 3 + channel) * plane + offset] = pixels[sample * plane + offset]
                }
            }
            return (try Tensor(shape: [count, 3, height, width], scalars: colored), nil)
        }
    }
}
