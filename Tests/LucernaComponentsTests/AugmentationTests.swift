import LucernaCore
import LucernaTestSupport
import XCTest

@testable import LucernaComponents

/// The augmentations against torchvision's functional transforms once their random draws are fixed
/// (`scripts/golden/make_augmentation_golden.py`), and their draws: per sample, uniform, reproducible.
final class AugmentationTests: XCTestCase {
    func testHorizontalFlipMatchesTorchvision() throws {
        let fixture = try Fixture("augmentations.safetensors")
        let flipped = try HorizontalFlip().flip(try fixture["x"], where: [true, false, true])
        XCTAssertEqual(flipped.shape, [3, 2, 5, 6])
        XCTAssertEqual(flipped.toDoubles(), try fixture["flip"].toDoubles())
    }

    func testRandomCropMatchesTorchvisionInEveryPaddingMode() throws {
        let fixture = try Fixture("augmentations.safetensors")
        let x = try fixture["x"]
        let tops = try fixture["crop_tops"].toIntegers()
        let lefts = try fixture["crop_lefts"].toIntegers()
        for (mode, fill) in [("constant", 0.5), ("edge", 0), ("reflect", 0), ("symmetric", 0)] {
            let crop = try RandomCrop(padding: 2, paddingMode: mode, fill: fill)
            let cropped = try crop.crop(x, tops: tops, lefts: lefts)
            XCTAssertEqual(cropped.shape, [3, 2, 5, 6], mode)
            XCTAssertEqual(cropped.toDoubles(), try fixture["crop_\(mode)"].toDoubles(), mode)
        }
        let small = try RandomCrop(padding: 0, size: (height: 4, width: 5))
        let cropped = try small.crop(
            x, tops: try fixture["crop_small_tops"].toIntegers(), lefts: try fixture["crop_small_lefts"].toIntegers())
        XCTAssertEqual(cropped.shape, [3, 2, 4, 5])
        XCTAssertEqual(cropped.toDoubles(), try fixture["crop_small"].toDoubles())
    }

    func testDrawsArePerSampleUniformAndReproducible() throws {
        // One pixel set per sample: where it lands after the crop tells the window's position.
        let samples = 4000
        var values = [Double](repeating: 0, count: samples * 5 * 5)
        for sample in 0..<samples { values[sample * 25 + 2 * 5 + 2] = 1 }
        let images = try Tensor(shape: [samples, 1, 5, 5], values: values, dtype: .float32)
        let crop = try RandomCrop(padding: 1)
        let cropped = try crop.augment(images, generator: RandomGenerator(seed: 11)).toDoubles()
        var offsets: [Int: Int] = [:]
        for sample in 0..<samples {
            let plane = Array(cropped[(sample * 25)..<(sample * 25 + 25)])
            XCTAssertEqual(plane.reduce(0, +), 1, "the pixel stays inside a 1-pixel shift")
            let position = try XCTUnwrap(plane.firstIndex(of: 1))
            offsets[position, default: 0] += 1
        }
        // Shifts of -1, 0, +1 on each axis: nine positions, each about 1/9 of the samples.
        XCTAssertEqual(offsets.count, 9)
        for count in offsets.values { XCTAssertEqual(Double(count) / Double(samples), 1.0 / 9, accuracy: 0.02) }
        let again = try crop.augment(images, generator: RandomGenerator(seed: 11)).toDoubles()
        XCTAssertEqual(again, cropped)
        let other = try crop.augment(images, generator: RandomGenerator(seed: 12)).toDoubles()
        XCTAssertNotEqual(other, cropped)

        // Flips: about p of the samples, each decided on its own; p = 0 and p = 1 are exact.
        let ramp = try Tensor(
            shape: [samples, 1, 1, 2], values: (0..<samples).flatMap { _ in [0.0, 1.0] }, dtype: .float64)
        for probability in [0.0, 0.3, 1.0] {
            let flipped = try HorizontalFlip(probability: probability).augment(
                ramp, generator: RandomGenerator(seed: 3))
            let firsts = stride(from: 0, to: 2 * samples, by: 2).map { flipped.toDoubles()[$0] }
            XCTAssertEqual(flipped.dtype, .float64)
            XCTAssertEqual(firsts.reduce(0, +) / Double(samples), probability, accuracy: 0.025)
        }
    }

    func testBadInputsAndOptionsAreErrors() throws {
        let crop = try RandomCrop(padding: 1)
        XCTAssertThrowsError(try crop.augment(try Tensor.zeros([4, 5]), generator: RandomGenerator(seed: 1)))
        XCTAssertThrowsError(
            try crop.augment(
                try Tensor(shape: [1, 1, 2, 2], integers: [0, 1, 2, 3]), generator: RandomGenerator(seed: 1)))
        XCTAssertThrowsError(
            try crop.augment(try Tensor.zeros([2, 1, 3, 3]).requiringGrad(), generator: RandomGenerator(seed: 1)))
        XCTAssertThrowsError(
            try RandomCrop(padding: 0, size: (height: 4, width: 4)).augment(
                try Tensor.zeros([2, 1, 3, 3]), generator: RandomGenerator(seed: 1))
        ) { XCTAssertTrue("\($0)".contains("does not fit"), "\($0)") }
        XCTAssertThrowsError(try crop.crop(try Tensor.zeros([2, 1, 3, 3]), tops: [0, 3], lefts: [0, 0]))
        XCTAssertThrowsError(try RandomCrop(padding: -1))
        XCTAssertThrowsError(try RandomCrop(padding: 1, paddingMode: "wrap"))
        XCTAssertThrowsError(try HorizontalFlip(probability: 1.5))
        let registry = Registry.standard()
        XCTAssertThrowsError(
            try registry.build(.augmentation, "random_crop", options: ["padding_mode": .string("wrap")])
        ) {
            XCTAssertTrue("\($0)".contains("constant, edge, reflect, symmetric"), "\($0)")
        }
        let built = try registry.build(.augmentation, "horizontal_flip", options: ["p": .number(1)])
        let image = try Tensor(shape: [1, 1, 1, 3], scalars: [1, 2, 3])
        XCTAssertEqual(try built.augment(image, generator: RandomGenerator(seed: 1)).toDoubles(), [3, 2, 1])
    }
}
