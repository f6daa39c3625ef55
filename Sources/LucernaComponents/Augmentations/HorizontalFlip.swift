import LucernaCore

/// Mirrors each sample left to right with probability `p`, drawn per sample (torchvision's
/// `RandomHorizontalFlip` applied per sample in a dataset). For data whose classes are mirror-symmetric:
/// Fashion-MNIST's garments and shoes, CIFAR's objects; not digits or text.
///
/// Reference: torchvision `transforms.RandomHorizontalFlip` (`F.hflip`); Krizhevsky, Sutskever & Hinton,
/// "ImageNet Classification with Deep Convolutional Neural Networks", NeurIPS 2012.
public final class HorizontalFlip: Augmentation {
    public static let options = [
        OptionSpec("p", .number, default: .number(0.5), "the probability that a sample is mirrored (0 to 1)")
    ]
    public let probability: Double

    public init(probability: Double = 0.5) throws {
        guard probability >= 0, probability <= 1 else {
            throw ConfigurationError("augmentations.horizontal_flip", "p must be in [0, 1], got \(probability)")
        }
        self.probability = probability
    }

    public convenience init(config: Config) throws {
        try self.init(probability: try config.number("p"))
    }

    public func augment(_ inputs: Tensor, generator: RandomGenerator) throws -> Tensor {
        _ = try Self.imageSize(of: inputs, "augmentations.horizontal_flip")
        let flipped = (0..<inputs.shape[0]).map { _ in generator.nextUniform() < probability }
        return try flip(inputs, where: flipped)
    }

    /// `inputs` with the samples where `flipped` is true mirrored left to right.
    public func flip(_ inputs: Tensor, where flipped: [Bool]) throws -> Tensor {
        let (height, width) = try Self.imageSize(of: inputs, "augmentations.horizontal_flip")
        let identity = PixelSource.identity(height: height, width: width)
        let mirrored = PixelSource(rows: identity.rows, columns: identity.columns.reversed())
        return try Self.remap(
            inputs, flipped.map { $0 ? mirrored : identity }, fill: 0, "augmentations.horizontal_flip")
    }
}

extension HorizontalFlip: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .augmentation, "horizontal_flip",
            "mirror each sample left to right with probability p (torchvision's RandomHorizontalFlip)",
            reference: "torchvision transforms.RandomHorizontalFlip; Krizhevsky et al., NeurIPS 2012",
            options: options, build: HorizontalFlip.init)
    ]
}
