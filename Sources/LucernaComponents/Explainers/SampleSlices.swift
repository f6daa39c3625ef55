import LucernaCore
import LucernaNN

/// Work over a batch split into slices of samples, so that explainers and attacks that evaluate many copies
/// of their inputs (Integrated Gradients' path points, SmoothGrad's noisy copies, occlusion's windows,
/// Score-CAM's masks, the Square attack's queries) hold a bounded number of rows in one forward/backward
/// pass, whatever the size of the batch they are given. Each slice goes through the model restricted to its
/// rows (``Module/restricted(toRows:)``), so a multimodal model seen as a function of one modality holds its
/// other inputs for the same samples. A sample's result does not depend on the other samples of its pass,
/// so the slices give the maps of the whole batch (equal up to the last bits the matrix products' blocking
/// may move).
enum SampleSlices {
    /// `0..<count` in consecutive ranges of at most `size` (at least one) samples.
    static func ranges(count: Int, size: Int) -> [Range<Int>] {
        let size = max(size, 1)
        return stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
    }

    /// `explain(model, inputs, targets)` on slices of at most `size` samples, the maps joined along the batch
    /// axis; the whole batch at once when it fits.
    static func explain(
        model: Module, inputs: Tensor, targets: Tensor?, size: Int,
        _ explain: (_ model: Module, _ inputs: Tensor, _ targets: Tensor?) throws -> Tensor
    ) throws -> Tensor {
        let count = inputs.shape.first ?? 0
        guard count > size else { return try explain(model, inputs, targets) }
        let maps = try ranges(count: count, size: size).map { slice in
            try explain(
                model.restricted(toRows: Array(slice)),
                inputs.sliced(axis: 0, start: slice.lowerBound, end: slice.upperBound),
                targets.map { try $0.sliced(axis: 0, start: slice.lowerBound, end: slice.upperBound) })
        }
        return try Tensor.concatenate(maps, axis: 0)
    }

    /// `model` on `batch`, whose rows stand for the samples `samples`, in passes of at most `size` rows; the
    /// outputs joined along the batch axis.
    static func evaluate(model: Module, batch: Tensor, samples: [Int], size: Int) throws -> Tensor {
        guard samples.count > size else { return try model.restricted(toRows: samples)(batch) }
        let outputs = try ranges(count: samples.count, size: size).map { slice in
            try model.restricted(toRows: Array(samples[slice]))(
                batch.sliced(axis: 0, start: slice.lowerBound, end: slice.upperBound))
        }
        return try Tensor.concatenate(outputs, axis: 0)
    }
}
