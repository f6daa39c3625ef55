import LucernaCore
import LucernaNN

/// Saliency: the gradient of the target class score with respect to the input, or to the output of
/// `layer` (its absolute value by default), in evaluation mode.
public final class Saliency: Explainer {
    static let options = [
        OptionSpec("absolute", .boolean, default: .boolean(true), "return |gradient| (Captum's abs=True)"),
        ExplanationTargets.layerOption,
    ]
    let absolute: Bool, layerName: String?

    init(config: Config) throws {
        absolute = try config.boolean("absolute")
        layerName = config.has("layer") ? try config.string("layer") : nil
    }

    public func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        let gradient = try model.evaluating {
            let layer = try ExplanationTargets.layer(layerName, in: model, owner: "saliency")
            try ExplanationTargets.requireFloatingPoint(inputs, layer: layer, owner: "saliency")
            let point = try ExplanationTargets.attributedValues(model: model, inputs: inputs, layer: layer)
            return try ExplanationTargets.gradient(
                model: model, inputs: inputs, layer: layer, point: point, classes: nil, targets: targets,
                owner: "saliency"
            ).gradient
        }
        return absolute ? try noGrad { try gradient.abs() } : gradient
    }
}

extension Saliency: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "saliency", "|gradient| of the target score with respect to the input",
            reference:
                "Simonyan, Vedaldi & Zisserman, \"Deep Inside Convolutional Networks\", ICLR-W 2014; Captum `Saliency`",
            options: Saliency.options, build: Saliency.init)
    ]
}
