import LucernaCore

/// The benchmark MLP: `fc1` (in→h1), ReLU, `fc2` (h1→h2), ReLU, `fc3` (h2→classes). Inputs of any shape
/// `[N, ...]` are flattened. State-dict names match a PyTorch module with attributes fc1, fc2, fc3.
public final class MLP: Module {
    public let fc1: Linear, fc2: Linear, fc3: Linear

    public init(
        inputFeatures: Int = 784, hidden: (Int, Int) = (256, 128), classes: Int = 10, dtype: DType = .float32,
        generator: RandomGenerator = .shared
    ) throws {
        fc1 = try Linear(inputFeatures, hidden.0, dtype: dtype, generator: generator)
        fc2 = try Linear(hidden.0, hidden.1, dtype: dtype, generator: generator)
        fc3 = try Linear(hidden.1, classes, dtype: dtype, generator: generator)
        super.init()
        registerModule("fc1", fc1)
        registerModule("fc2", fc2)
        registerModule("fc3", fc3)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        let flat = input.rank > 2 ? try input.flattened(from: 1) : input
        return try fc3(fc2(fc1(flat).relu()).relu())
    }
}

/// The benchmark CNN for 1×28×28 images: `conv1` (1→32, 3×3, pad 1), `relu1`, `pool1` (2×2), `conv2`
/// (32→64, 3×3, pad 1), `relu2`, `pool2`, flatten, `fc1` (3136→128), `relu3`, `fc2` (128→classes).
/// Submodules are named so explainers can target `relu2` and state dicts load into the equivalent
/// PyTorch module.
public final class CNN: Module {
    public let conv1: Conv2d, conv2: Conv2d, fc1: Linear, fc2: Linear
    public let inputChannels: Int, imageSize: Int

    public init(
        inputChannels: Int = 1, imageSize: Int = 28, channels: (Int, Int) = (32, 64), hidden: Int = 128,
        classes: Int = 10, dtype: DType = .float32, generator: RandomGenerator = .shared
    ) throws {
        guard imageSize >= 4, imageSize % 4 == 0 else {
            throw TensorError("cnn", "image size must be a positive multiple of 4, got \(imageSize)")
        }
        self.inputChannels = inputChannels
        self.imageSize = imageSize
        conv1 = try Conv2d(
            inputChannels, channels.0, kernelSize: (3, 3), padding: (1, 1), dtype: dtype, generator: generator)
        conv2 = try Conv2d(
            channels.0, channels.1, kernelSize: (3, 3), padding: (1, 1), dtype: dtype, generator: generator)
        let flat = channels.1 * (imageSize / 4) * (imageSize / 4)
        fc1 = try Linear(flat, hidden, dtype: dtype, generator: generator)
        fc2 = try Linear(hidden, classes, dtype: dtype, generator: generator)
        super.init()
        registerModule("conv1", conv1)
        registerModule("relu1", ReLU())
        registerModule("pool1", MaxPool2d(2))
        registerModule("conv2", conv2)
        registerModule("relu2", ReLU())
        registerModule("pool2", MaxPool2d(2))
        registerModule("fc1", fc1)
        registerModule("relu3", ReLU())
        registerModule("fc2", fc2)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        let image = input.rank == 2 ? try input.reshaped([input.shape[0], inputChannels, imageSize, imageSize]) : input
        guard image.rank == 4, image.shape[1] == inputChannels, image.shape[2] == imageSize, image.shape[3] == imageSize
        else {
            throw TensorError(
                "cnn", "expected [N, \(inputChannels), \(imageSize), \(imageSize)], got \(describe(shape: input.shape))"
            )
        }
        return try runChildren(image) { name, value in name == "fc1" ? try value.flattened(from: 1) : value }
    }
}
