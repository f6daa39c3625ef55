import Foundation
import LucernaCore
import LucernaNN

/// Layer-CAM: the element-wise map Σ_c relu(g) A.
public final class LayerCAM: CAMWeighting {
    public let name = "layer_cam"
    public let requirement = CAMRequirement.gradients
    public init() {}

    public func map(_ layer: CAMLayer) throws -> [Double] {
        let (count, channels, plane) = layer.dimensions
        let a = layer.activationValues
        let g = try layer.requireGradients(name)
        var map = [Double](repeating: 0, count: count * plane)
        for n in 0..<count {
            for c in 0..<channels {
                let base = (n * channels + c) * plane
                for p in 0..<plane { map[n * plane + p] += max(g[base + p], 0) * a[base + p] }
            }
        }
        return map
    }
}

extension LayerCAM: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "layer_cam", "Layer-CAM: element-wise positive gradients times activations",
            reference: "Jiang et al., \"LayerCAM\", IEEE TIP 2021; pytorch-grad-cam LayerCAM",
            options: ClassActivationMap.options, build: { try ClassActivationMap(weighting: LayerCAM(), config: $0) })
    ]
}
