import LucernaCore
import LucernaNN

/// Saliency: the gradient of the target class score with respect to the input (its absolute value by
/// default), in evaluation mode.
///
/// Reference: Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks", ICLR-W 2014; Captum `Saliency`.
public final class Saliency: Explainer {
    static let options = [OptionSpec("absolute", .boolean, default: .boolean(true), "return |gradient| (Captum's abs=True)")]
    let absolute: Bool

    init(config: Config) throws { absolute = try config.boolean("absolute") }

    public func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        let gradient = try ExplanationTargets.evaluating(model) {
            try ExplanationTargets.inputGradient(model: model, inputs: inputs, classes: nil, targets: targets, owner: "saliency").gradient
        }
        return absolute ? try noGrad { try gradient.abs() } : gradient
    }
}
