import Foundation
import LucernaCore
import LucernaNN

/// Grad-CAM: w_c = the mean over positions of the gradient g.
public final class GradCAM: CAMChannelWeighting {
    public let name = "grad_cam"
    public init() {}

    public func channelWeights(_ layer: CAMLayer) throws -> [Double] {
        let plane = Double(layer.dimensions.plane)
        return layer.channelSums(try layer.requireGradients(name)).map { $0 / plane }
    }
}

extension GradCAM: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "grad_cam", "Grad-CAM: channels weighted by the mean gradient",
            reference: "Selvaraju et al., \"Grad-CAM\", ICCV 2017; pytorch-grad-cam GradCAM",
            options: ClassActivationMap.options, build: { try ClassActivationMap(weighting: GradCAM(), config: $0) })
    ]
}
