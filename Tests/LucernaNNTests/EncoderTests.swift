import LucernaCore
import LucernaNN
import XCTest

/// Encoders: shapes of pooled and token outputs, Conv1d as a height-1 Conv2d, and text encoders' handling
/// of padding.
final class EncoderTests: XCTestCase {
    func testConv1dIsAHeightOneConv2d() throws {
        let generator = RandomGenerator(seed: 1)
        let conv = try Conv1d(
            3, 4, kernelSize: 3, stride: 2, padding: 1, dilation: 1, dtype: .float64, generator: generator)
        let input = try Tensor.normal([2, 3, 9], dtype: .float64, generator: generator)
        let planar = try input.unsqueezed(axis: 2).conv2d(
            weight: conv.weight.reshaped([4, 3, 1, 3]), bias: conv.bias, stride: (1, 2), padding: (0, 1),
            dilation: (1, 1))
        XCTAssertEqual(try conv(input).toDoubles(), try planar.squeezed(axis: 2).toDoubles())
        XCTAssertEqual(try conv(input).shape, [2, 4, 5])
        XCTAssertThrowsError(try conv(Tensor.normal([2, 2, 9])))
    }

    func testEncodersGivePooledVectorsOrTokens() throws {
        let image = try ConvEncoder(channels: [4, 8], dimension: 16)
        XCTAssertEqual(try image(Tensor.normal([3, 1, 28, 28])).shape, [3, 16])
        XCTAssertEqual(
            try ConvEncoder(channels: [4, 8], dimension: 16, outputsTokens: true)(Tensor.normal([3, 1, 28, 28])).shape,
            [3, 49, 16])
        XCTAssertThrowsError(try image(Tensor.normal([3, 1, 40, 32])))
        let spectrogram = try ConvEncoder(inputSize: (40, 32), channels: [4, 8], dimension: 16, outputsTokens: true)
        XCTAssertEqual(try spectrogram(Tensor.normal([3, 1, 40, 32])).shape, [3, 80, 16])
        RandomGenerator.shared.reseed(3)
        let temporalTokens = try TemporalConvEncoder(
            mels: 40, channels: [8, 8], kernelSize: 5, dimension: 16, outputsTokens: true)
        RandomGenerator.shared.reseed(3)
        let temporal = try TemporalConvEncoder(mels: 40, channels: [8, 8], kernelSize: 5, dimension: 16)
        XCTAssertEqual(try temporalTokens(Tensor.normal([3, 1, 40, 32])).shape, [3, 16, 16])
        XCTAssertEqual(try temporal(Tensor.normal([3, 40, 32])).shape, [3, 16])
        // The pooled vector is the mean of the tokens (same weights, from the same seed).
        let input = try Tensor.normal([2, 1, 40, 32])
        let pooled = try temporal(input).toDoubles()
        let tokens = try temporalTokens(input).mean(axes: [1]).toDoubles()
        for (a, b) in zip(pooled, tokens) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testResidualEncoderShapesAndBlocks() throws {
        let encoder = try ResidualEncoder(channels: [4, 8, 8], blocks: 2, dimension: 12)
        XCTAssertEqual(try encoder(Tensor.normal([2, 1, 28, 28])).shape, [2, 12])
        XCTAssertEqual(
            try ResidualEncoder(channels: [4, 8], dimension: 6, outputsTokens: true)(Tensor.normal([2, 1, 40, 32]))
                .shape, [2, 20 * 16, 6])
        XCTAssertEqual(encoder.namedModules().filter { $0.module is BasicBlock }.count, 6)
        XCTAssertNotNil(encoder.module(named: "blocks.2.downsample"), "a stride-2 block has a projection shortcut")
        XCTAssertNil(encoder.module(named: "blocks.1.downsample"), "an identity block has none")
        // An identity block with zero convolutions passes its input through relu.
        let block = try BasicBlock(3, 3, stride: 1)
        for parameter in block.parameters() where parameter.rank == 4 { parameter.fill(0) }
        block.eval()
        let input = try Tensor.normal([1, 3, 4, 4])
        XCTAssertEqual(try block(input).toDoubles(), try input.relu().toDoubles())
    }

    func testTextEncodersIgnorePadding() throws {
        let generator = RandomGenerator(seed: 2)
        let bag = try EmbeddingBagEncoder(vocabulary: 12, dimension: 4, dtype: .float64, generator: generator)
        let transformer = try TransformerTextEncoder(
            vocabulary: 12, dimension: 8, heads: 2, layers: 2, feedForward: 16, maxLength: 10,
            dropout: 0, dtype: .float64, generator: generator)
        transformer.eval()
        let textCNN = try TextConvEncoder(
            vocabulary: 12, embeddingDimension: 4, filters: 3, kernels: [3, 2], dtype: .float64, generator: generator)
        XCTAssertEqual(textCNN.featureDimension, 6)
        let short = try Tensor(shape: [1, 3], integers: [5, 2, 7])
        let padded = try Tensor(shape: [1, 6], integers: [5, 2, 7, 0, 0, 0])
        XCTAssertEqual(
            try TextConvEncoder(
                vocabulary: 12, embeddingDimension: 4, filters: 3, kernels: [3, 4], outputsTokens: true)(padded).shape,
            [1, 6, 6])
        for encoder in [bag as Encoder, transformer, textCNN] {
            let a = try encoder(short).toDoubles()
            let b = try encoder(padded).toDoubles()
            for (x, y) in zip(a, b) {
                XCTAssertEqual(x, y, accuracy: 1e-12, "\(type(of: encoder)): padding changes the pooled vector")
            }
        }
        // The embedding bag's pooled vector is the mean of the real tokens' embeddings.
        let embedding = try XCTUnwrap(bag.module(named: "embedding") as? Embedding)
        let rows = embedding.weight.toDoubles()
        var expected = [Double](repeating: 0, count: 4)
        for token in [5, 2, 7] { for d in 0..<4 { expected[d] += rows[token * 4 + d] / 3 } }
        for (x, y) in zip(try bag(padded).toDoubles(), expected) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        let tokens = try TransformerTextEncoder(
            vocabulary: 12, dimension: 8, heads: 2, layers: 1, feedForward: 16, maxLength: 10, dropout: 0,
            outputsTokens: true)
        XCTAssertEqual(try tokens(padded).shape, [1, 6, 8])
        // All-padding rows stay finite; too long and non-integer inputs are errors.
        XCTAssert(try transformer(Tensor(shape: [1, 3], integers: [0, 0, 0])).toDoubles().allSatisfy(\.isFinite))
        XCTAssertThrowsError(try transformer(Tensor(shape: [1, 11], integers: Array(repeating: 1, count: 11))))
        XCTAssertThrowsError(try bag(Tensor.normal([1, 3])))
    }
}
