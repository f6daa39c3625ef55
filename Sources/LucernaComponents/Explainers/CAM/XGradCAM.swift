import Foundation
import LucernaCore
import LucernaNN

/// XGrad-CAM: w_c = Σ g A / (Σ_ab(A) + 1e-7).
public final class XGradCAM: CAMChannelWeighting {
    public let name = "xgrad_cam"
    public init() {}

    public func channelWeights(_ layer: CAMLayer) throws -> [Double] {
        let (count, channels, plane) = layer.dimensions
        let a = layer.activationValues
        let g = try layer.requireGradients(name)
        let activationSums = layer.channelSums(a)
        return (0..<count * channels).map { row in
            let base = row * plane
            let activationSum = activationSums[row]
            return (0..<plane).reduce(0) { $0 + g[base + $1] * a[base + $1] / (activationSum + 1e-7) }
        }
    }
}

extension XGradCAM: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "xgrad_cam", "XGrad-CAM: gradients weighted by normalised activations",
            reference: "Fu et al., \"Axiom-based Grad-CAM\", BMVC 2020; pytorch-grad-cam XGradCAM",
            options: ClassActivationMap.options, build: { try ClassActivationMap(weighting: XGradCAM(), config: $0) })
    ]
}
