import Foundation
import LucernaCore
import LucernaNN

/// Grad-CAM++: w_c = Σ relu(g) α with α = g² / (2g² + Σ_ab(A) g³ + 1e-6), α = 0 where g = 0 (the closed
/// form under the exp(score) assumption, as pytorch-grad-cam computes it); with `exact`, α from the paper's
/// full expression for Y = exp(S): α = (g² + h) / (2(g² + h) + Σ_ab(A)(g³ + 3gh + t) + 1e-6), h and t the
/// diagonal second and third derivatives of S by A through the higher-order autodiff (they vanish for
/// piecewise-linear heads, where both forms agree; they matter after tanh, GELU, sigmoid...).
public final class GradCAMPlusPlus: CAMChannelWeighting {
    public let name = "grad_cam_pp"
    /// Exact second and third derivatives (2 extra backward passes per activation position).
    public let exact: Bool
    public init(exact: Bool = false) { self.exact = exact }

    public var requirement: CAMRequirement { exact ? .higherDerivatives : .gradients }

    static let options =
        ClassActivationMap.options + [
            OptionSpec(
                "exact", .boolean, default: .boolean(false),
                "use the exact second and third derivatives of exp(score) (higher-order autodiff; 2 backward passes per activation position) instead of the closed form"
            )
        ]

    public func channelWeights(_ layer: CAMLayer) throws -> [Double] {
        let (count, channels, plane) = layer.dimensions
        let g = try layer.requireGradients(name)
        let activationSums = layer.channelSums(layer.activationValues)
        return (0..<count * channels).map { row in
            let base = row * plane
            let activationSum = activationSums[row]
            var weight = 0.0
            // h = t = 0 is pytorch-grad-cam's closed form.
            for p in 0..<plane {
                let gradient = g[base + p]
                let h = layer.secondDerivatives?[base + p] ?? 0
                let t = layer.thirdDerivatives?[base + p] ?? 0
                let numerator = gradient * gradient + h
                guard numerator != 0 else { continue }
                let cubic = gradient * gradient * gradient + 3 * gradient * h + t
                weight += max(gradient, 0) * numerator / (2 * numerator + activationSum * cubic + 1e-6)
            }
            return weight
        }
    }
}

extension GradCAMPlusPlus: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "grad_cam_pp",
            "Grad-CAM++ (closed form, as pytorch-grad-cam; exact = true: higher-order derivatives)",
            reference: "Chattopadhay et al., \"Grad-CAM++\", WACV 2018; pytorch-grad-cam GradCAMPlusPlus",
            options: options,
            build: { try ClassActivationMap(weighting: GradCAMPlusPlus(exact: $0.boolean("exact")), config: $0) })
    ]
}
