import Foundation
import LucernaCore
import LucernaNN

/// Integrated Gradients: (x − x′) · ∫₀¹ ∂F(x′ + α(x − x′))/∂x dα, the integral approximated on `steps`
/// points by a Riemann rule (left, right, middle, trapezoid) or Gauss-Legendre quadrature (Captum's
/// default), from a constant baseline x′ (0 by default).
public final class IntegratedGradients: Explainer {
    static let methods = ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle"]
    static let options = [
        OptionSpec("steps", .integer, default: .number(50), "points of the path integral (Captum's n_steps)"),
        OptionSpec(
            "method", .string, default: .string("gausslegendre"),
            "quadrature rule: gausslegendre, riemann_trapezoid, riemann_left, riemann_right or riemann_middle"),
        OptionSpec("baseline", .number, default: .number(0), "the constant baseline input"),
        OptionSpec("batch_steps", .integer, default: .number(16), "path points evaluated per forward/backward pass"),
        OptionSpec(
            "internal_batch_size", .integer, default: .number(512),
            "the most rows (samples × path points) in one forward/backward pass, as Captum's option: larger batches are explained in slices of samples, with the same attributions; bounds memory"
        ),
        ExplanationTargets.layerOption,
    ]
    let steps: Int, method: String, baseline: Double, batchSteps: Int, internalBatchSize: Int, layerName: String?

    init(config: Config) throws {
        steps = try config.positiveInteger("steps")
        method = try config.choice("method", Self.methods)
        baseline = try config.number("baseline")
        batchSteps = try config.positiveInteger("batch_steps")
        internalBatchSize = try config.positiveInteger("internal_batch_size")
        layerName = config.has("layer") ? try config.string("layer") : nil
        guard method != "riemann_trapezoid" || steps >= 2 else {
            throw config.error("riemann_trapezoid needs at least 2 steps")
        }
    }

    /// (α, weight) for each path point.
    static func quadrature(_ method: String, steps n: Int) -> [(alpha: Double, weight: Double)] {
        let count = Double(n)
        switch method {
        case "riemann_left": return (0..<n).map { (Double($0) / count, 1 / count) }
        case "riemann_right": return (0..<n).map { (Double($0 + 1) / count, 1 / count) }
        case "riemann_middle": return (0..<n).map { ((Double($0) + 0.5) / count, 1 / count) }
        case "riemann_trapezoid":
            // Captum's definition: n points from 0 to 1, weights 1/n with the two ends halved (they sum to
            // (n − 1)/n, not 1; kept so attributions equal Captum's).
            return (0..<n).map { index in
                (Double(index) / (count - 1), (index == 0 || index == n - 1 ? 0.5 : 1) / count)
            }
        default:
            return legendreNodes(n).map { (0.5 * (1 + $0.node), 0.5 * $0.weight) }
        }
    }

    /// Gauss-Legendre nodes on [−1, 1] (ascending) and weights, by Newton's method on P_n.
    public static func legendreNodes(_ n: Int) -> [(node: Double, weight: Double)] {
        var result: [(node: Double, weight: Double)] = []
        for i in 1...n {
            var x = cos(Double.pi * (Double(i) - 0.25) / (Double(n) + 0.5))
            var derivative = 0.0
            for _ in 0..<100 {
                var (p0, p1) = (1.0, x)
                if n == 1 {
                    p1 = x
                } else {
                    for k in 2...n {
                        let pk = ((2 * Double(k) - 1) * x * p1 - (Double(k) - 1) * p0) / Double(k)
                        (p0, p1) = (p1, pk)
                    }
                }
                let pn = n == 1 ? x : p1
                let pnMinus1 = n == 1 ? 1.0 : p0
                derivative = Double(n) * (x * pn - pnMinus1) / (x * x - 1)
                let step = pn / derivative
                x -= step
                if abs(step) < 1e-16 { break }
            }
            result.append((x, 2 / ((1 - x * x) * derivative * derivative)))
        }
        return result.sorted { $0.node < $1.node }
    }

    /// With `layer`, the path runs over the layer's output (from the constant baseline to its value for the
    /// inputs) while the forward pass sees the inputs, as Captum's `LayerIntegratedGradients` with a
    /// baseline whose layer output is that constant (for token models: a zero embedding, e.g. padding).
    public func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        // Path points per pass, and samples per slice so that a pass holds at most `internal_batch_size` rows.
        let pointsPerPass = min(batchSteps, steps, internalBatchSize)
        return try SampleSlices.explain(
            model: model, inputs: inputs, targets: targets, size: max(1, internalBatchSize / pointsPerPass)
        ) { model, inputs, targets in
            try attributeSlice(model: model, inputs: inputs, targets: targets, pointsPerPass: pointsPerPass)
        }
    }

    func attributeSlice(model: Module, inputs: Tensor, targets: Tensor?, pointsPerPass: Int) throws -> Tensor {
        try model.evaluating {
            let layer = try ExplanationTargets.layer(layerName, in: model, owner: "integrated_gradients")
            try ExplanationTargets.requireFloatingPoint(inputs, layer: layer, owner: "integrated_gradients")
            let classes = try ExplanationTargets.resolve(
                model: model, inputs: inputs, targets: targets, owner: "integrated_gradients")
            let count = inputs.shape[0]
            let values = try ExplanationTargets.attributedValues(model: model, inputs: inputs, layer: layer)
            let base = try Tensor.full(values.shape, value: baseline, dtype: values.dtype)
            let difference = try noGrad { try values - base }
            var total = values.zerosLike()
            let points = Self.quadrature(method, steps: steps)
            for start in stride(from: 0, to: points.count, by: pointsPerPass) {
                let chunk = Array(points[start..<min(start + pointsPerPass, points.count)])
                // The chunk's path points stacked along the batch axis: [chunk · N, ...].
                let scaled = try noGrad {
                    try Tensor.concatenate(chunk.map { try base + difference * $0.alpha }, axis: 0)
                }
                let tiled =
                    layer == nil
                    ? scaled : try Tensor.concatenate(Array(repeating: inputs, count: chunk.count), axis: 0)
                let gradient = try ExplanationTargets.gradient(
                    model: model, inputs: tiled, layer: layer, point: scaled,
                    classes: Array(repeating: classes, count: chunk.count).flatMap { $0 },
                    targets: nil, owner: "integrated_gradients"
                ).gradient
                total = try noGrad {
                    var sum = total
                    for (index, point) in chunk.enumerated() {
                        sum =
                            try sum + gradient.sliced(axis: 0, start: index * count, end: (index + 1) * count)
                            * point.weight
                    }
                    return sum
                }
            }
            return try noGrad { try total * difference }
        }
    }
}

extension IntegratedGradients: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "integrated_gradients",
            "path integral of gradients from a baseline (Gauss-Legendre or Riemann rules)",
            reference:
                "Sundararajan, Taly & Yan, \"Axiomatic Attribution for Deep Networks\", ICML 2017; Captum `IntegratedGradients`",
            options: IntegratedGradients.options, build: IntegratedGradients.init)
    ]
}
