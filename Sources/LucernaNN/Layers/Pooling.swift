import LucernaCore

/// 2-D max or average pooling, or adaptive average pooling to a fixed size.
public final class Pool2d: Module {
    public enum Kind: Sendable {
        case max(kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int))
        case average(kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int), countIncludePad: Bool)
        case adaptiveAverage(outputSize: (Int, Int))
    }

    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public override func forward(_ input: Tensor) throws -> Tensor {
        switch kind {
        case .max(let kernel, let stride, let padding):
            return try input.maxPool2d(kernel: kernel, stride: stride, padding: padding)
        case .average(let kernel, let stride, let padding, let countIncludePad):
            return try input.avgPool2d(
                kernel: kernel, stride: stride, padding: padding, countIncludePad: countIncludePad)
        case .adaptiveAverage(let outputSize):
            return try input.adaptiveAvgPool2d(outputSize)
        }
    }

    public override var typeName: String {
        switch kind {
        case .max: return "MaxPool2d"
        case .average: return "AvgPool2d"
        case .adaptiveAverage: return "AdaptiveAvgPool2d"
        }
    }
}

// swift-format-ignore: AlwaysUseLowerCamelCase
// (a factory named like the PyTorch class it stands for)
/// `MaxPool2d(kernel, stride)`.
public func MaxPool2d(_ kernel: Int, stride: Int? = nil, padding: Int = 0) -> Pool2d {
    Pool2d(.max(kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding)))
}
