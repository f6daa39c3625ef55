import LucernaCore
import LucernaNN

/// A multimodal classifier seen as a function of one modality, the others held at their values: any
/// explainer applied to it gives that modality's map. Its children are the classifier's own (so layer
/// names such as `encoders.image.relu2` work for CAM methods and LRP sees the same layers). When an
/// explainer evaluates several copies of the batch at once (Integrated Gradients' path points, occlusion's
/// window positions), the held modalities are tiled to match; explainers that batch rows of single samples
/// (Score-CAM) cannot explain one modality this way, and say so.
public final class ModalityView: Module {
    public let model: MultimodalClassifier, modality: String
    let held: [String: Tensor]
    let count: Int

    private init(model: MultimodalClassifier, modality: String, held: [String: Tensor], count: Int) {
        self.model = model
        self.modality = modality
        self.held = held
        self.count = count
        super.init()
        for (name, child) in model.children { registerModule(name, child) }
    }

    /// The view for the rows `rows` of its batch (attacks query the inputs they have not yet fooled).
    public override func restricted(toRows rows: [Int]) throws -> Module {
        ModalityView(
            model: model, modality: modality, held: try held.mapValues { try $0.indexSelect(axis: 0, indices: rows) },
            count: rows.count)
    }

    public init(model: MultimodalClassifier, modality: String, inputs: [String: Tensor]) throws {
        guard let explained = inputs[modality] else {
            throw TensorError(
                "explain", "no input for modality '\(modality)'; given: \(inputs.keys.sorted().joined(separator: ", "))"
            )
        }
        self.model = model
        self.modality = modality
        held = inputs.filter { $0.key != modality }.mapValues { $0.detach() }
        count = explained.shape[0]
        super.init()
        for (name, child) in model.children { registerModule(name, child) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        let rows = input.shape.first ?? 0
        guard count > 0, rows % count == 0 else {
            throw TensorError(
                "modality view",
                "queried with \(rows) rows for a batch of \(count): an explainer that batches rows of single samples cannot explain one modality of a multimodal model (use saliency, integrated_gradients, smoothgrad, occlusion, lrp or a gradient CAM)"
            )
        }
        let copies = rows / count
        var inputs = try held.mapValues {
            copies == 1 ? $0 : try Tensor.concatenate(Array(repeating: $0, count: copies), axis: 0)
        }
        inputs[modality] = input
        return try model.forward(modalities: inputs)
    }

    /// One map per modality of `inputs`, from `explainer`; a CAM method on a layer of one modality's
    /// encoder (`encoders.image.relu2`) explains that modality only.
    public static func explain(
        _ explainer: Explainer, model: MultimodalClassifier, inputs: [String: Tensor], targets: Tensor?
    ) throws -> [String: Tensor] {
        var names = inputs.keys.sorted()
        if let layer = (explainer as? ClassActivationMap)?.layer, layer.hasPrefix("encoders.") {
            let owner = String(layer.dropFirst("encoders.".count).prefix { $0 != "." })
            guard inputs[owner] != nil else {
                throw TensorError("explain", "layer \(layer) belongs to modality '\(owner)', which has no input here")
            }
            names = [owner]
        }
        var maps: [String: Tensor] = [:]
        for name in names {
            guard let input = inputs[name] else { continue }
            let view = try ModalityView(model: model, modality: name, inputs: inputs)
            maps[name] = try explainer.attribute(model: view, inputs: input, targets: targets)
        }
        return maps
    }

    /// Each modality's share of the attribution mass per sample: Σ|mapₘ| / Σₘ′ Σ|mapₘ′| (`[N]` each; 0 when
    /// every map of a sample is zero).
    public static func shares(_ maps: [String: Tensor]) throws -> [String: Tensor] {
        let names = maps.keys.sorted()
        guard let count = names.first.flatMap({ maps[$0]?.shape.first }),
            names.allSatisfy({ maps[$0]?.shape.first == count })
        else {
            throw TensorError("relevance_shares", "maps must share their batch size")
        }
        let masses = try names.map { name -> [Double] in
            guard let map = maps[name] else { return [] }
            let values = try map.to(.float64).toDoubles()
            let size = values.count / max(count, 1)
            return (0..<count).map { n in values[n * size..<(n + 1) * size].reduce(0) { $0 + abs($1) } }
        }
        var shares: [String: Tensor] = [:]
        for (position, name) in names.enumerated() {
            let values = (0..<count).map { n -> Double in
                let total = masses.reduce(0) { $0 + $1[n] }
                return total > 0 ? masses[position][n] / total : 0
            }
            shares[name] = try Tensor(shape: [count], values: values, dtype: .float32)
        }
        return shares
    }
}
