import LucernaCore

/// Pads each sample's image by `padding` pixels on every side and cuts out a window of `size` (the input's
/// own size by default) at a position drawn uniformly per sample: the random translation of torchvision's
/// `RandomCrop(size, padding)`. Padding is `constant` (`fill`), `edge` (the border pixel repeated), `reflect`
/// (mirrored without repeating the border) or `symmetric` (mirrored with it), as `torch.nn.functional.pad` and
/// NumPy name them.
///
/// Reference: torchvision `transforms.RandomCrop` (`get_params`, `F.pad`, `F.crop`); the pad-4 crop of
/// He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
public final class RandomCrop: Augmentation {
    public static let paddingModes = ["constant", "edge", "reflect", "symmetric"]
    public static let options = [
        OptionSpec("padding", .integer, default: .number(4), "pixels added on every side before cropping"),
        OptionSpec(
            "size", .pair, "the output's height and width (an integer or {height, width}; default: the input's)"),
        OptionSpec(
            "padding_mode", .string, default: .string("constant"), "constant, edge, reflect or symmetric"),
        OptionSpec("fill", .number, default: .number(0), "the value of constant padding"),
    ]
    public let padding: Int
    public let size: (height: Int, width: Int)?
    public let paddingMode: String
    public let fill: Double

    public init(
        padding: Int, size: (height: Int, width: Int)? = nil, paddingMode: String = "constant", fill: Double = 0
    )
        throws
    {
        let owner = "augmentations.random_crop"
        guard padding >= 0, padding <= 10_000 else {
            throw ConfigurationError(owner, "padding must be a non-negative integer, got \(padding)")
        }
        if let size, !(size.height >= 1 && size.width >= 1) {
            throw ConfigurationError(owner, "size must be positive, got \(size.height)×\(size.width)")
        }
        guard Self.paddingModes.contains(paddingMode) else {
            throw ConfigurationError(
                owner,
                "padding_mode must be one of \(Self.paddingModes.joined(separator: ", ")), got \"\(paddingMode)\"")
        }
        guard fill.isFinite else { throw ConfigurationError(owner, "fill must be finite, got \(fill)") }
        self.padding = padding
        self.size = size
        self.paddingMode = paddingMode
        self.fill = fill
    }

    public convenience init(config: Config) throws {
        let size = config.has("size") ? try config.pair("size") : nil
        try self.init(
            padding: try config.integer("padding"), size: size.map { (height: $0.0, width: $0.1) },
            paddingMode: try config.choice("padding_mode", Self.paddingModes), fill: try config.number("fill"))
    }

    public func augment(_ inputs: Tensor, generator: RandomGenerator) throws -> Tensor {
        let (height, width) = try outputSize(of: inputs)
        // 1. The window's top-left corner in the padded image, per sample (rows first, as torchvision).
        var tops: [Int] = []
        var lefts: [Int] = []
        let image = try Self.imageSize(of: inputs, "augmentations.random_crop")
        for _ in 0..<inputs.shape[0] {
            tops.append(generator.nextInt(below: image.height + 2 * padding - height + 1))
            lefts.append(generator.nextInt(below: image.width + 2 * padding - width + 1))
        }
        // 2. The windows.
        return try crop(inputs, tops: tops, lefts: lefts)
    }

    /// The windows of the padded images at `tops`, `lefts` (one each per sample, in padded coordinates).
    public func crop(_ inputs: Tensor, tops: [Int], lefts: [Int]) throws -> Tensor {
        let owner = "augmentations.random_crop"
        let image = try Self.imageSize(of: inputs, owner)
        let (height, width) = try outputSize(of: inputs)
        guard tops.count == inputs.shape[0], lefts.count == inputs.shape[0],
            tops.allSatisfy({ (0...(image.height + 2 * padding - height)).contains($0) }),
            lefts.allSatisfy({ (0...(image.width + 2 * padding - width)).contains($0) })
        else { throw TensorError(owner, "needs one window inside the padded image per sample") }
        let sources = zip(tops, lefts).map { top, left in
            PixelSource(
                rows: (0..<height).map { source(top + $0 - padding, size: image.height) },
                columns: (0..<width).map { source(left + $0 - padding, size: image.width) })
        }
        return try Self.remap(inputs, sources, fill: fill, owner)
    }

    /// The output size for `inputs`, checked against the padded image.
    private func outputSize(of inputs: Tensor) throws -> (height: Int, width: Int) {
        let image = try Self.imageSize(of: inputs, "augmentations.random_crop")
        let output = size ?? image
        guard output.height <= image.height + 2 * padding, output.width <= image.width + 2 * padding else {
            throw TensorError(
                "augmentations.random_crop",
                "a \(output.height)×\(output.width) window does not fit the \(image.height)×\(image.width) images padded by \(padding)"
            )
        }
        return output
    }

    /// The input index along an axis of `size` pixels that padded index `index` (relative to the image's first
    /// pixel) reads, or -1 for the fill value.
    private func source(_ index: Int, size: Int) -> Int {
        if (0..<size).contains(index) { return index }
        switch paddingMode {
        case "edge": return min(max(index, 0), size - 1)
        case "reflect":
            guard size > 1 else { return 0 }
            let period = 2 * (size - 1)
            let folded = ((index % period) + period) % period
            return folded < size ? folded : period - folded
        case "symmetric":
            let period = 2 * size
            let folded = ((index % period) + period) % period
            return folded < size ? folded : period - 1 - folded
        default: return -1
        }
    }
}

extension RandomCrop: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .augmentation, "random_crop",
            "pad every side, then cut a window at a random position per sample (torchvision's RandomCrop)",
            reference: "torchvision transforms.RandomCrop; He et al., \"Deep Residual Learning\", CVPR 2016",
            options: options, build: RandomCrop.init)
    ]
}
