import Foundation
import LucernaCore
import LucernaNN

/// What a CAM method needs from the explained layer besides its activations.
public enum CAMRequirement: Sendable {
    /// Activations only (Score-CAM, Eigen-CAM).
    case activations
    /// The gradients of the target class scores at the layer.
    case gradients
    /// The gradients and their diagonal second and third derivatives (the exact Grad-CAM++).
    case higherDerivatives
}

/// The explained layer as a CAM method sees it (its values read once, when a method first asks).
public final class CAMLayer {
    /// The layer's module name.
    public let name: String
    /// The activations A `[N, C, h, w]` (a temporal layer's `[N, C, l]` as `[N, C, 1, l]`), detached.
    public let activations: Tensor
    /// ∂S/∂A of the summed target scores S, shaped like `activations` (nil when the method needs none).
    public let gradients: Tensor?
    /// ∂²S/∂A² and ∂³S/∂A³ at every position (``CAMRequirement/higherDerivatives`` only).
    public let secondDerivatives: [Double]?
    public let thirdDerivatives: [Double]?
    /// The model, its inputs and the explained class of each sample (for methods that re-run the model).
    public let model: Module
    public let inputs: Tensor
    public let classes: [Int]
    /// Whether the layer is temporal (`[N, C, l]`).
    public let temporal: Bool

    /// The activations' values, in order.
    public private(set) lazy var activationValues: [Double] = activations.toDoubles()
    private lazy var gradientValues: [Double]? = gradients?.toDoubles()

    public init(
        name: String, activations: Tensor, gradients: Tensor?, secondDerivatives: [Double]?,
        thirdDerivatives: [Double]?,
        model: Module, inputs: Tensor, classes: [Int], temporal: Bool
    ) {
        self.name = name
        self.activations = activations
        self.gradients = gradients
        self.secondDerivatives = secondDerivatives
        self.thirdDerivatives = thirdDerivatives
        self.model = model
        self.inputs = inputs
        self.classes = classes
        self.temporal = temporal
    }

    /// (N, C, h·w).
    public var dimensions: (count: Int, channels: Int, plane: Int) {
        (activations.shape[0], activations.shape[1], activations.shape[2] * activations.shape[3])
    }

    /// The gradients, or an error naming the method when it asked for none.
    public func requireGradients(_ method: String) throws -> [Double] {
        guard let gradientValues else {
            throw TensorError(method, "needs the gradients of the target scores (requirement .gradients)")
        }
        return gradientValues
    }
}

/// How a CAM method turns a layer into a raw map (pytorch-grad-cam's `get_cam_weights` /
/// `get_cam_image`): most methods weight channels (``CAMChannelWeighting``); element-wise ones (Layer-CAM,
/// HiResCAM) produce the map directly.
public protocol CAMWeighting: AnyObject {
    /// The method's name (`grad_cam`), for messages.
    var name: String { get }
    var requirement: CAMRequirement { get }
    /// The raw map `[N·h·w]` (before relu, normalisation and resizing).
    func map(_ layer: CAMLayer) throws -> [Double]
    /// The most samples ``map(_:)`` may be given at once (a method that evaluates the model on copies of the
    /// inputs bounds its passes this way); nil: any number.
    var rowLimit: Int? { get }
}

extension CAMWeighting {
    public var rowLimit: Int? { nil }
}

/// A CAM method that weights channels: the map is Σ_c w_c A_c.
public protocol CAMChannelWeighting: CAMWeighting {
    /// The channel weights `[N·C]`.
    func channelWeights(_ layer: CAMLayer) throws -> [Double]
}

extension CAMChannelWeighting {
    public var requirement: CAMRequirement { .gradients }

    public func map(_ layer: CAMLayer) throws -> [Double] { try layer.weightedSum(channelWeights(layer), method: name) }
}

extension CAMLayer {
    /// Σ over positions of `values` (shaped like the activations) per sample and channel, `[N·C]`.
    public func channelSums(_ values: [Double]) -> [Double] {
        let (count, channels, plane) = dimensions
        return (0..<count * channels).map { row in (0..<plane).reduce(0) { $0 + values[row * plane + $1] } }
    }

    /// Σ_c w_c A_c for channel weights `[N·C]`.
    public func weightedSum(_ weights: [Double], method: String) throws -> [Double] {
        let (count, channels, plane) = dimensions
        guard weights.count == count * channels else {
            throw TensorError(method, "channel weights must be [\(count), \(channels)], got \(weights.count) values")
        }
        let a = activationValues
        var map = [Double](repeating: 0, count: count * plane)
        for n in 0..<count {
            for c in 0..<channels {
                let weight = weights[n * channels + c]
                let base = (n * channels + c) * plane
                for p in 0..<plane { map[n * plane + p] += weight * a[base + p] }
            }
        }
        return map
    }
}
