import CKernels
import XCTest

@testable import LucernaCore
@testable import LucernaNN

final class ModuleTests: XCTestCase {
    func testNamesFollowPyTorch() throws {
        let model = try CNN()
        XCTAssertEqual(
            model.children.map(\.name), ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2"])
        XCTAssertEqual(
            model.namedParameters().map(\.name),
            [
                "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
            ])
        XCTAssertEqual(model.conv1.weight.shape, [32, 1, 3, 3])
        XCTAssertEqual(model.fc1.weight.shape, [128, 3136])
        XCTAssertEqual(try ConvTranspose2d(128, 64, kernelSize: (4, 4)).weight.shape, [128, 64, 4, 4])
        let sequential = Sequential([try Linear(2, 3), ReLU(), try BatchNorm(3, rank: 2)])
        XCTAssertEqual(
            sequential.stateDict().map(\.name),
            [
                "0.weight", "0.bias", "2.weight", "2.bias", "2.running_mean",
                "2.running_var", "2.num_batches_tracked",
            ])
    }

    func testDefaultInitialisationBounds() throws {
        let layer = try Linear(400, 50, generator: RandomGenerator(seed: 4))
        let weights = layer.weight.toDoubles()
        let bound = 1 / 20.0
        XCTAssert(weights.allSatisfy { abs($0) <= bound })
        // U(-b, b) has variance b²/3.
        let variance = weights.map { $0 * $0 }.reduce(0, +) / Double(weights.count)
        XCTAssertEqual(variance, bound * bound / 3, accuracy: bound * bound / 30)
        XCTAssert(layer.bias?.toDoubles().allSatisfy { abs($0) <= bound } ?? false)
    }

    func testForwardHooksSeeActivationsAndRetainedGradients() throws {
        let model = try CNN(channels: (2, 2), hidden: 4)
        var captured: Tensor?
        let hook = try XCTUnwrap(model.module(named: "relu2")).addForwardHook { _, _, output in
            output.retainGrad()
            captured = output
        }
        let input = try Tensor.uniform([2, 1, 28, 28])
        try model(input).sum().backward()
        XCTAssertEqual(captured?.shape, [2, 2, 14, 14])
        XCTAssertEqual(captured?.grad?.shape, [2, 2, 14, 14])
        model.module(named: "relu2")?.removeForwardHook(hook)
        captured = nil
        _ = try model(input)
        XCTAssertNil(captured)
    }

    /// Bit patterns, so that NaN compares equal to NaN.
    func bits(_ tensor: Tensor?) -> [UInt32] { (tensor?.toFloats() ?? []).map(\.bitPattern) }

    func testAReLUBeforeMaxPoolingRunsSwappedWithTheSameValuesAndGradients() throws {
        try assertSwappedReLUAndPoolingMatchAsWritten(withNaN: true)
        try assertSwappedReLUAndPoolingMatchAsWritten(withNaN: false)
    }

    /// 2 × 3 planes of 8 × 8: a window all ≤ 0 (with −0), one with a tie of positive maxima, one with zeros,
    /// and with `withNaN` a NaN (the max-pooling kernel then hands the pooling to the exact loop, and the ReLU
    /// runs after it; without, the kernel applies the ReLU and its backward itself).
    func assertSwappedReLUAndPoolingMatchAsWritten(withNaN: Bool) throws {
        let generator = RandomGenerator(seed: 3)
        var values = (0..<(2 * 3 * 8 * 8)).map { _ in Float(generator.nextNormal()) }
        (values[0], values[1], values[8], values[9]) = (-1, -0.0, -0.5, -3)
        (values[2], values[3], values[10], values[11]) = (0.7, 0.7, 0.1, 0.7)
        (values[4], values[5], values[12], values[13]) = (0, -1, 0, -2)
        if withNaN { values[100] = .nan }
        let weights = try Tensor.uniform([2, 3, 4, 4], generator: generator)
        func pass(_ model: (Tensor) throws -> Tensor) throws -> (output: Tensor, gradient: Tensor?) {
            let input = try Tensor(shape: [2, 3, 8, 8], scalars: values).requiringGrad()
            let output = try model(input)
            let gradient = try Tensor.gradients(of: [(output * weights).sum()], withRespectTo: [input])[0]
            return (output, gradient)
        }
        let manual = try pass { try $0.relu().maxPool2d(kernel: (2, 2)) }
        let swapped = try pass(Sequential([ReLU(), MaxPool2d(2)]).callAsFunction)
        // Where the CPU has AVX2 (the max-pooling kernel) and no NaN sends the pooling to the exact loop, one
        // fused operation; else the pooling, then the ReLU.
        let kernelTakesIt = !withNaN && lucerna_max_pool_2x2_available() == 1
        XCTAssertEqual(
            swapped.output.operationName, kernelTakesIt ? "max_pool2d_relu" : "relu", "the pooling ran first")
        XCTAssertEqual(bits(swapped.output), bits(manual.output))
        XCTAssertEqual(bits(swapped.gradient), bits(manual.gradient))
        XCTAssertEqual(swapped.gradient?.toFloats()[0...1], [0, 0], "no gradient through a window all ≤ 0")
        XCTAssertEqual(swapped.gradient?.toFloats()[2], 1 * weights.toFloats()[1], "the first of tied maxima")

        // A hook on the ReLU sees its full-size output: the pair runs as written, with the same results.
        let watched = Sequential([ReLU(), MaxPool2d(2)])
        var seen: [Int] = []
        _ = try XCTUnwrap(watched.module(named: "0")).addForwardHook { _, _, output in seen = output.shape }
        let hooked = try pass(watched.callAsFunction)
        XCTAssertEqual(seen, [2, 3, 8, 8])
        XCTAssertEqual(hooked.output.operationName, "max_pool2d")
        XCTAssertEqual(bits(hooked.output), bits(manual.output))
        XCTAssertEqual(bits(hooked.gradient), bits(manual.gradient))
    }

    func testTheSwappedReLUAndPoolingDifferentiateTwiceAsWritten() throws {
        // A convolution's weight gradient of the squared input-gradient norm (the shape of a gradient penalty).
        let generator = RandomGenerator(seed: 4)
        let convolution = try Conv2d(2, 3, kernelSize: (3, 3), padding: (1, 1), generator: generator)
        let weights = try Tensor.uniform([2, 3, 4, 4], generator: generator)
        let input = try Tensor.uniform([2, 2, 8, 8], low: -1, high: 1, generator: generator)
        func penaltyGradient(_ rest: (Tensor) throws -> Tensor) throws -> [UInt32] {
            let image = try input.detach().requiringGrad()
            let output = try rest(try convolution(image))
            let inputGradient = try XCTUnwrap(
                Tensor.gradients(of: [(output * weights).sum()], withRespectTo: [image], createGraph: true)[0])
            let penalty = try (inputGradient * inputGradient).sum()
            return bits(try Tensor.gradients(of: [penalty], withRespectTo: [convolution.weight])[0])
        }
        let manual = try penaltyGradient { try $0.relu().maxPool2d(kernel: (2, 2)) }
        XCTAssertEqual(try penaltyGradient(Sequential([ReLU(), MaxPool2d(2)]).callAsFunction), manual)
        XCTAssertTrue(manual.contains { $0 != 0 })
    }

    func testForwardCapturingALayerReturnsItsOutputAndLeavesNoHook() throws {
        let model = try CNN(channels: (2, 2), hidden: 4)
        let input = try Tensor.uniform([2, 1, 28, 28])
        let relu1 = try XCTUnwrap(model.module(named: "relu1"))
        let conv1 = try XCTUnwrap(model.module(named: "conv1"))
        let (output, activations) = try model.forward(input, capturing: relu1, owner: "test", layerName: "relu1")
        XCTAssertEqual(output.toDoubles(), try model(input).toDoubles())
        XCTAssertEqual(activations.toDoubles(), try conv1(input).relu().toDoubles())
        // No hook stays behind, after a capture or a failed one.
        XCTAssertEqual(relu1.forwardHookCount, 0)
        // A layer outside the model is an error naming the owner and the layer.
        let stray = ReLU()
        XCTAssertThrowsError(try model.forward(input, capturing: stray, owner: "test", layerName: "stray")) { error in
            XCTAssert("\(error)".contains("test") && "\(error)".contains("layer stray did not run"), "\(error)")
        }
        XCTAssertEqual(stray.forwardHookCount, 0)
    }

    func testOutputTransformsReplaceTheOutputUntilRemoved() throws {
        let layer = ReLU()
        let input = try Tensor(shape: [2], doubles: [-1, 2])
        var seen: [Double] = []
        layer.addForwardHook { _, _, output in seen = output.toDoubles() }
        let identifier = layer.addOutputTransform { _, input, output in try output + input }
        XCTAssertEqual(try layer(input).toDoubles(), [-1, 4])
        XCTAssertEqual(seen, [-1, 4], "hooks see the transformed output")
        layer.removeOutputTransform(identifier)
        XCTAssertEqual(try layer(input).toDoubles(), [0, 2])
    }

    func testTrainAndEvalModesReachChildren() throws {
        let model = Sequential([try Dropout(0.5), try BatchNorm(3, rank: 2)])
        model.eval()
        XCTAssert(model.namedModules().allSatisfy { !$0.module.isTraining })
        let input = try Tensor.ones([4, 3])
        XCTAssertEqual(try model(input).toFloats(), try model(input).toFloats(), "eval mode is deterministic")
        model.train()
        XCTAssert(model.namedModules().allSatisfy { $0.module.isTraining })
    }

    func testParameterGroupsUseTheirOwnLearningRates() throws {
        let (a, b) = (
            try Tensor(shape: [1], doubles: [1]).requiringGrad(), try Tensor(shape: [1], doubles: [1]).requiringGrad()
        )
        let optimizer = try SGD(groups: [
            ParameterGroup(parameters: [a], learningRate: 0.1, weightDecay: 0),
            ParameterGroup(parameters: [b], learningRate: 0.01, weightDecay: 0),
        ])
        try (a + b).sum().backward()
        try optimizer.step()
        XCTAssertEqual(try a.item(), 0.9, accuracy: 1e-12)
        XCTAssertEqual(try b.item(), 0.99, accuracy: 1e-12)
    }

    func testLoadStateDictRejectsMismatches() throws {
        let model = try Linear(3, 2)
        XCTAssertThrowsError(try model.loadStateDict(["weight": try Tensor.zeros([2, 3])])) { error in
            XCTAssert("\(error)".contains("missing keys [\"bias\"]"), "\(error)")
        }
        XCTAssertThrowsError(
            try model.loadStateDict(["weight": try Tensor.zeros([3, 3]), "bias": try Tensor.zeros([2])])
        ) { error in
            XCTAssert("\(error)".contains("weight: checkpoint shape [3, 3]"), "\(error)")
        }
    }
}
