import LucernaCore
import LucernaNN

/// Occlusion: slide a `window` (channels × height × width) over each input with `strides`, replace it
/// by the `baseline` value and record the drop of the target score; each element's attribution is the
/// mean drop over the windows that covered it (elements no window covers get 0, where Captum gives NaN).
public final class Occlusion: Explainer {
    static let options = [
        OptionSpec(
            "window", .integers, default: .list([.number(1), .number(4), .number(4)]),
            "window shape over one input without the batch axis (e.g. {1, 4, 4})"),
        OptionSpec(
            "strides", .integers, default: .list([.number(1), .number(2), .number(2)]), "window strides per axis"),
        OptionSpec("baseline", .number, default: .number(0), "value written into the window"),
        OptionSpec(
            "batch_size", .integer, default: .number(64),
            "the most occluded inputs in one forward pass: several window positions of the batch at once, or, for a batch larger than this, slices of its samples (same maps); bounds memory"
        ),
    ]
    let window: [Int], strides: [Int], baseline: Double, batchSize: Int

    init(config: Config) throws {
        window = try config.integers("window")
        strides = try config.integers("strides")
        baseline = try config.number("baseline")
        batchSize = try config.positiveInteger("batch_size")
        guard window.count == strides.count, window.allSatisfy({ $0 > 0 }), strides.allSatisfy({ $0 > 0 }) else {
            throw config.error("window and strides must be positive and of equal length, got \(window) and \(strides)")
        }
    }

    public func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        let sampleShape = Array(inputs.shape.dropFirst())
        guard sampleShape.count == window.count, zip(sampleShape, window).allSatisfy({ $0 >= $1 }) else {
            throw TensorError(
                "occlusion",
                "window \(window) does not fit inputs \(describe(shape: inputs.shape)) (one size per axis after the batch axis)"
            )
        }
        // A batch larger than `batch_size` goes through in slices of samples, so no pass exceeds it.
        return try SampleSlices.explain(model: model, inputs: inputs, targets: targets, size: batchSize) {
            try attributeSlice(model: $0, inputs: $1, targets: $2, sampleShape: sampleShape)
        }
    }

    func attributeSlice(model: Module, inputs: Tensor, targets: Tensor?, sampleShape: [Int]) throws -> Tensor {
        try model.evaluating {
            try noGrad {
                let logits = try model(inputs)
                let classes = try ExplanationTargets.classes(targets, logits: logits, owner: "occlusion")
                let reference = logits.toDoubles()
                let classCount = logits.shape[1]
                let count = inputs.shape[0]
                let size = inputs.count / max(count, 1)
                let values = inputs.toDoubles()
                // 1. The window positions: offsets k · stride along each axis (Captum's shift counts).
                let shifts = zip(zip(sampleShape, window), strides).map { ($0.0 - $0.1) / $1 + 1 }
                let positions = shifts.reduce(1, *)
                var elementStrides = [Int](repeating: 1, count: sampleShape.count)
                for axis in stride(from: sampleShape.count - 2, through: 0, by: -1) {
                    elementStrides[axis] = elementStrides[axis + 1] * sampleShape[axis + 1]
                }
                func covered(_ position: Int) -> [Int] {
                    var remaining = position
                    var offsets = [Int](repeating: 0, count: shifts.count)
                    for axis in 0..<shifts.count {
                        offsets[axis] = (remaining % shifts[axis]) * strides[axis]
                        remaining /= shifts[axis]
                    }
                    var elements = [0]
                    for axis in 0..<shifts.count {
                        elements = elements.flatMap { base in
                            (0..<window[axis]).map { base + (offsets[axis] + $0) * elementStrides[axis] }
                        }
                    }
                    return elements
                }
                // Each window's elements, computed once and shared by every sample.
                let windows = (0..<positions).map(covered)
                var total = [Double](repeating: 0, count: inputs.count)
                var hits = [Double](repeating: 0, count: size)
                for window in windows { for element in window { hits[element] += 1 } }
                // 2. Occluded copies of the whole batch, several window positions per forward pass (rows
                //    position-major: every sample for one position, then the next), so a model that
                //    tiles other inputs along the batch (one modality of a multimodal model) lines up.
                let positionsPerPass = max(1, batchSize / max(count, 1))
                for start in stride(from: 0, to: positions, by: positionsPerPass) {
                    let group = start..<min(start + positionsPerPass, positions)
                    var batch = [Double]()
                    batch.reserveCapacity(group.count * count * size)
                    for position in group {
                        for n in 0..<count {
                            var copy = Array(values[n * size..<(n + 1) * size])
                            for element in windows[position] { copy[element] = baseline }
                            batch += copy
                        }
                    }
                    let occluded = try model(
                        Tensor(shape: [group.count * count] + sampleShape, values: batch, dtype: inputs.dtype)
                    ).toDoubles()
                    for (offset, position) in group.enumerated() {
                        for n in 0..<count {
                            let row = offset * count + n
                            let drop = reference[n * classCount + classes[n]] - occluded[row * classCount + classes[n]]
                            for element in windows[position] { total[n * size + element] += drop }
                        }
                    }
                }
                let attributions = total.indices.map { hits[$0 % size] > 0 ? total[$0] / hits[$0 % size] : 0 }
                return try Tensor(shape: inputs.shape, values: attributions, dtype: inputs.dtype)
            }
        }
    }
}

extension Occlusion: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .explainer, "occlusion", "drop of the target score when a sliding window is occluded",
            reference:
                "Zeiler & Fergus, \"Visualizing and Understanding Convolutional Networks\", ECCV 2014; Captum `Occlusion`",
            options: Occlusion.options, build: Occlusion.init)
    ]
}
