import LucernaCore

/// A random transformation of training inputs, drawn afresh for every sample of every batch, as a torchvision
/// transform in a `DataLoader`'s dataset: `augment(images, generator)` returns a batch of the same shape and
/// type. The trainer applies its augmentations, in order, to the inputs of each training batch (never to
/// validation or test data), before any adversarial example is made from them.
public protocol Augmentation: AnyObject {
    /// A randomly transformed copy of `inputs` `[N, ..., H, W]` (each sample drawn on its own from `generator`).
    func augment(_ inputs: Tensor, generator: RandomGenerator) throws -> Tensor
}

/// Where each output pixel of one sample comes from, one axis at a time: the output row `y` takes input row
/// `rows[y]` and the output column `x` input column `columns[x]`; -1 on either axis takes the fill value.
/// Flips and crops (with constant, edge and reflect padding) are all separable this way.
public struct PixelSource {
    public var rows: [Int]
    public var columns: [Int]

    public init(rows: [Int], columns: [Int]) {
        self.rows = rows
        self.columns = columns
    }

    /// Every pixel where it is.
    public static func identity(height: Int, width: Int) -> PixelSource {
        PixelSource(rows: Array(0..<height), columns: Array(0..<width))
    }
}

extension Augmentation {
    /// The image size `(height, width)` of a batch `[N, ..., H, W]` an augmentation accepts: floating point, at
    /// least one sample and one pixel, not a tensor that requires gradients (augmentations transform data;
    /// their output is a new leaf).
    public static func imageSize(of inputs: Tensor, _ owner: String) throws -> (height: Int, width: Int) {
        guard inputs.rank >= 3, inputs.count > 0 else {
            throw TensorError(owner, "needs images [N, ..., H, W], got \(describe(shape: inputs.shape))")
        }
        guard inputs.dtype.isFloatingPoint else {
            throw TensorError(owner, "needs floating-point images, got \(inputs.dtype)")
        }
        guard !inputs.requiresGrad else {
            throw TensorError(owner, "augments data: the inputs must not require gradients")
        }
        return (inputs.shape[inputs.rank - 2], inputs.shape[inputs.rank - 1])
    }

    /// `inputs` `[N, ..., H, W]` rebuilt sample by sample from `sources` (one per sample; output planes of
    /// `sources[n].rows.count` × `sources[n].columns.count`, the same for every sample), `fill` where a source
    /// index is -1.
    public static func remap(_ inputs: Tensor, _ sources: [PixelSource], fill: Double, _ owner: String) throws
        -> Tensor
    {
        let (height, width) = try imageSize(of: inputs, owner)
        let samples = inputs.shape[0]
        guard sources.count == samples, let first = sources.first else {
            throw TensorError(owner, "needs one pixel source per sample: \(sources.count) for \(samples) samples")
        }
        let outputHeight = first.rows.count
        let outputWidth = first.columns.count
        for source in sources {
            guard source.rows.count == outputHeight, source.columns.count == outputWidth,
                source.rows.allSatisfy({ (-1..<height).contains($0) }),
                source.columns.allSatisfy({ (-1..<width).contains($0) })
            else { throw TensorError(owner, "a pixel source outside the \(height)×\(width) image or of another size") }
        }
        let planesPerSample = inputs.count / (samples * height * width)
        let values = inputs.toDoubles()
        var output = [Double](repeating: fill, count: samples * planesPerSample * outputHeight * outputWidth)
        for sample in 0..<samples {
            let source = sources[sample]
            for plane in 0..<planesPerSample {
                let inputPlane = (sample * planesPerSample + plane) * height * width
                let outputPlane = (sample * planesPerSample + plane) * outputHeight * outputWidth
                for (y, row) in source.rows.enumerated() where row >= 0 {
                    for (x, column) in source.columns.enumerated() where column >= 0 {
                        output[outputPlane + y * outputWidth + x] = values[inputPlane + row * width + column]
                    }
                }
            }
        }
        var shape = inputs.shape
        shape[shape.count - 2] = outputHeight
        shape[shape.count - 1] = outputWidth
        return try Tensor(shape: shape, values: output, dtype: inputs.dtype)
    }
}

extension ComponentKind {
    /// Augmentations: random transformations of each training batch's inputs (flips, padded crops).
    public static let augmentation = ComponentKind(
        name: "augmentation", namespace: "augmentations", protocolName: "Augmentation",
        accepts: { $0 is Augmentation },
        conformance: { instance, probe in
            let augmentation = try probe.instance(instance, as: (any Augmentation).self, "an augmentation")
            let images = try probe.random([4, 2, 6, 6])
            let generator = RandomGenerator(seed: 7)
            let augmented = try augmentation.augment(images, generator: generator)
            guard augmented.shape == images.shape, augmented.dtype == images.dtype else {
                throw probe.fail(
                    "augmented \(describe(shape: images.shape)) \(images.dtype) to \(describe(shape: augmented.shape)) \(augmented.dtype)"
                )
            }
            try probe.checkFinite(augmented, "the augmented images")
            // The same generator state gives the same draws.
            let again = try augmentation.augment(images, generator: RandomGenerator(seed: 7))
            guard again.toDoubles() == augmented.toDoubles() else {
                throw probe.fail("the same generator state gave different augmentations")
            }
            probe.passed("augments \(describe(shape: images.shape)), the same draws from the same seed")
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any Augmentation> {
    public static var augmentation: Self { TypedComponentKind(.augmentation) }
}
