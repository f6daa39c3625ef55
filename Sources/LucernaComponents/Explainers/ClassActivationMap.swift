import Foundation
import LucernaCore
import LucernaNN

/// The class-activation-map family on one layer of a model (chosen by module name): one engine that takes
/// the layer's activations A (and, for gradient methods, the gradients g of the target class score) and
/// differs only in how channels are weighted:
/// - `grad_cam`: w_c = mean over positions of g;
/// - `grad_cam_pp`: w_c = Σ relu(g) α with α = g² / (2g² + Σ_ab(A) g³ + 1e-6), α = 0 where g = 0 (the closed
///   form under the exp(score) assumption, as pytorch-grad-cam computes it); with `exact = true`, α from
///   the paper's full expression for Y = exp(S): α = (g² + h) / (2(g² + h) + Σ_ab(A)(g³ + 3gh + t) + 1e-6),
///   h and t the diagonal second and third derivatives of S by A through the higher-order autodiff (they
///   vanish for piecewise-linear heads, where both forms agree; they matter after tanh, GELU, sigmoid...);
/// - `xgrad_cam`: w_c = Σ g A / (Σ_ab(A) + 1e-7);
/// - `layer_cam`: an element-wise map Σ_c relu(g) A;
/// - `score_cam`: w = softmax over channels of the target score of the input masked by each upsampled,
///   min-max normalised channel (align-corners bilinear, as nn.UpsamplingBilinear2d);
/// - `eigen_cam`: the projection of the centred activations on their first principal component.
///
/// The map is relu'd, min-max normalised per image (ε 1e-7), resized to the input's height and width
/// (bilinear, half-pixel centres, like cv2.resize) and normalised again — pytorch-grad-cam's steps. With
/// `normalize = false` the relu'd map is only resized.
///
/// Reference: Selvaraju et al., "Grad-CAM", ICCV 2017; Chattopadhay et al., "Grad-CAM++", WACV 2018;
/// Fu et al., "Axiom-based Grad-CAM", BMVC 2020; Jiang et al., "LayerCAM", IEEE TIP 2021; Wang et al.,
/// "Score-CAM", CVPR-W 2020; Muhammad & Yeasin, "Eigen-CAM", IJCNN 2020; pytorch-grad-cam (Gildenblat, 2021).
public final class ClassActivationMap: Explainer {
    public enum Method: String, CaseIterable, Sendable {
        case gradCAM = "grad_cam", gradCAMPlusPlus = "grad_cam_pp", xgradCAM = "xgrad_cam", layerCAM = "layer_cam"
        case scoreCAM = "score_cam", eigenCAM = "eigen_cam"
    }

    public let method: Method
    /// The module whose output is explained; nil picks the last non-pooling module with a 4-D output.
    public let layer: String?
    public let normalize: Bool
    /// Masked inputs per forward pass (Score-CAM).
    public let batchSize: Int
    /// Grad-CAM++ with exact second and third derivatives (2 extra backward passes per activation position).
    public let exact: Bool

    static let options = [
        OptionSpec("layer", .string, default: .null, "the module (by name, e.g. \"relu2\") whose activations are explained; default: the last non-pooling module with a 4-D output"),
        OptionSpec("normalize", .boolean, default: .boolean(true), "min-max normalise each map to [0, 1] (pytorch-grad-cam's output)"),
        OptionSpec("batch_size", .integer, default: .number(16), "score_cam: masked inputs per forward pass (rounded down to whole batches of the inputs, at least one)"),
    ]
    static let plusPlusOptions = options + [
        OptionSpec("exact", .boolean, default: .boolean(false), "use the exact second and third derivatives of exp(score) (higher-order autodiff; 2 backward passes per activation position) instead of the closed form"),
    ]

    public init(method: Method, layer: String? = nil, normalize: Bool = true, batchSize: Int = 16, exact: Bool = false) throws {
        guard batchSize > 0 else { throw TensorError(method.rawValue, "batch_size must be positive, got \(batchSize)") }
        guard !exact || method == .gradCAMPlusPlus else { throw TensorError(method.rawValue, "exact applies to grad_cam_pp only") }
        self.exact = exact
        self.method = method
        self.layer = layer
        self.normalize = normalize
        self.batchSize = batchSize
    }

    static func builder(_ method: Method) -> (Config) throws -> Any {
        { config in
            try ClassActivationMap(method: method, layer: config.has("layer") ? try config.string("layer") : nil,
                                   normalize: try config.boolean("normalize"), batchSize: try config.positiveInteger("batch_size"),
                                   exact: config.has("exact") ? try config.boolean("exact") : false)
        }
    }

    /// Maps `[N, H, W]` for `inputs` `[N, C, H, W]`, explaining `targets` (class indices `[N]`; nil: the
    /// predicted classes).
    public func attribute(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        try model.evaluating { try maps(model: model, inputs: inputs, targets: targets) }   // (as pytorch-grad-cam)
    }

    func maps(model: Module, inputs: Tensor, targets: Tensor?) throws -> Tensor {
        let name = method.rawValue
        guard inputs.rank == 3 || inputs.rank == 4 else {
            throw TensorError(name, "inputs must be images or spectrograms [N, C, H, W] (or [N, C, L]), got \(describe(shape: inputs.shape))")
        }
        let count = inputs.shape[0], width = inputs.shape[inputs.rank - 1]
        let target = try resolveLayer(model, inputs: inputs)
        // 1. Forward with the layer's output captured; the score of each sample's target class.
        var captured: Tensor?
        let hook = target.module.addForwardHook { _, _, output in captured = output }
        defer { target.module.removeForwardHook(hook) }
        let input = try inputs.detach().requiringGrad()
        let logits = try model(input)
        guard logits.rank == 2, logits.shape[0] == count else {
            throw TensorError(name, "the model must return logits [N, classes], got \(describe(shape: logits.shape))")
        }
        guard let output = captured, output.rank == 4 || output.rank == 3, output.shape[0] == count, output.rank <= inputs.rank else {
            throw TensorError(name, "layer \(target.name) must output [N, C, h, w] (or [N, C, l] for a temporal layer), got \(captured.map { describe(shape: $0.shape) } ?? "nothing")")
        }
        // A temporal layer's [N, C, l] is a map of height 1 over time, resized to the input's last axis.
        let temporal = output.rank == 3
        let activations = temporal ? try output.unsqueezed(axis: 2) : output
        let height = temporal ? 1 : inputs.shape[inputs.rank - 2]
        let classes = try ExplanationTargets.classes(targets, logits: logits, owner: name)
        // 2. The raw map [N, h, w].
        let raw: [Double]
        switch method {
        case .gradCAM, .gradCAMPlusPlus, .xgradCAM, .layerCAM:
            let score = try ExplanationTargets.score(logits, classes: classes)
            // Differentiated at the layer's own output (the 4-D view of a temporal layer is not in the graph;
            // both hold the values in the same order).
            guard let gradient = try Tensor.gradients(of: [score], withRespectTo: [output], createGraph: exact).first ?? nil else {
                throw TensorError(name, "the target scores do not depend on layer \(target.name)")
            }
            let derivatives = exact ? try Self.diagonalDerivatives(gradient: gradient, activations: output) : nil
            raw = gradientMap(activations: activations.toDoubles(), gradients: gradient.toDoubles(), shape: activations.shape,
                              second: derivatives?.second, third: derivatives?.third)
        case .scoreCAM:
            raw = try scoreMap(model: model, inputs: inputs, activations: activations.detach(), classes: classes, temporal: temporal)
        case .eigenCAM:
            raw = Self.principalProjection(activations.toDoubles(), shape: activations.shape)
        }
        // 3. relu, normalise, resize, normalise (pytorch-grad-cam's scale_cam_image twice).
        let (h, w) = (activations.shape[2], activations.shape[3])
        var maps = raw.map { max($0, 0) }
        if normalize { Self.normalizeEach(&maps, count: count, size: h * w) }
        var resized = try Tensor(shape: [count, 1, h, w], doubles: maps).upsample(size: (height, width), mode: .bilinear).toDoubles()
        if normalize {
            resized = resized.map { max($0, 0) }
            Self.normalizeEach(&resized, count: count, size: height * width)
        }
        return try Tensor(shape: temporal ? [count, width] : [count, height, width], values: resized, dtype: inputs.dtype)
    }

    /// The explained module: `layer` by name, else the last non-pooling module with a 4-D output.
    func resolveLayer(_ model: Module, inputs: Tensor) throws -> (name: String, module: Module) {
        let modules = model.namedModules().filter { !$0.name.isEmpty }
        if let layer {
            guard let module = model.module(named: layer) else {
                let names = modules.map(\.name)
                throw TensorError(method.rawValue, "the model has no module '\(layer)'\(suggestion(for: layer, in: names)); modules: \(names.joined(separator: ", "))")
            }
            return (layer, module)
        }
        var ranks: [ObjectIdentifier: Int] = [:]
        let hooks = modules.map { entry in (entry.module, entry.module.addForwardHook { module, _, output in ranks[ObjectIdentifier(module)] = output.rank }) }
        defer { for (module, hook) in hooks { module.removeForwardHook(hook) } }
        try noGrad { _ = try model(inputs.sliced(axis: 0, start: 0, end: 1)) }
        let candidates = modules.filter { !String(describing: type(of: $0.module)).contains("Pool") }
        guard let last = candidates.last(where: { ranks[ObjectIdentifier($0.module)] == 4 })
                ?? candidates.last(where: { ranks[ObjectIdentifier($0.module)] == 3 && inputs.rank >= 3 && !($0.module is Linear) }) else {
            throw TensorError(method.rawValue, "the model has no module with a 4-D output to explain; name one with layer = ...")
        }
        return last
    }

    /// ∂²S/∂A_j² and ∂³S/∂A_j³ at every activation position j (S the summed target scores; samples are
    /// independent, so one basis direction serves the whole batch): per position, the Hessian row through
    /// the gradient's graph, then the gradient of its diagonal entry. Zero when the gradient has no graph
    /// (piecewise-linear heads).
    static func diagonalDerivatives(gradient: Tensor, activations: Tensor) throws -> (second: [Double], third: [Double]) {
        let shape = activations.shape
        let positions = shape.dropFirst().reduce(1, *)
        var second = [Double](repeating: 0, count: activations.count), third = second
        guard gradient.requiresGrad else { return (second, third) }
        for position in 0..<positions {
            var basis = [Double](repeating: 0, count: positions)
            basis[position] = 1
            let direction = try Tensor(shape: [1] + shape.dropFirst(), values: basis, dtype: activations.dtype)
            let projected = try (gradient * direction).sum()
            guard projected.requiresGrad,
                  let row = try Tensor.gradients(of: [projected], withRespectTo: [activations], createGraph: true).first ?? nil else { continue }
            let rowValues = row.toDoubles()
            for sample in 0..<shape[0] { second[sample * positions + position] = rowValues[sample * positions + position] }
            let diagonal = try (row * direction).sum()
            guard diagonal.requiresGrad, let derivative = try Tensor.gradients(of: [diagonal], withRespectTo: [activations]).first ?? nil else { continue }
            let derivativeValues = derivative.toDoubles()
            for sample in 0..<shape[0] { third[sample * positions + position] = derivativeValues[sample * positions + position] }
        }
        return (second, third)
    }

    /// Grad-CAM, Grad-CAM++, XGrad-CAM and Layer-CAM from activations A and gradients g (`[N, C, h, w]`);
    /// `second`/`third`: the exact Grad-CAM++'s diagonal derivatives.
    func gradientMap(activations a: [Double], gradients g: [Double], shape: [Int], second: [Double]? = nil, third: [Double]? = nil) -> [Double] {
        let (count, channels, plane) = (shape[0], shape[1], shape[2] * shape[3])
        var map = [Double](repeating: 0, count: count * plane)
        for n in 0..<count {
            for c in 0..<channels {
                let base = (n * channels + c) * plane
                var activationSum = 0.0, gradientSum = 0.0
                for p in 0..<plane {
                    activationSum += a[base + p]
                    gradientSum += g[base + p]
                }
                var weight = 0.0
                switch method {
                case .gradCAM:
                    weight = gradientSum / Double(plane)
                case .gradCAMPlusPlus:
                    // α = (g² + h) / (2(g² + h) + Σ_ab(A)(g³ + 3gh + t) + 1e-6), 0 where the numerator is;
                    // h = t = 0 is pytorch-grad-cam's closed form.
                    for p in 0..<plane {
                        let gradient = g[base + p], h = second?[base + p] ?? 0, t = third?[base + p] ?? 0
                        let numerator = gradient * gradient + h
                        guard numerator != 0 else { continue }
                        let cubic = gradient * gradient * gradient + 3 * gradient * h + t
                        weight += max(gradient, 0) * numerator / (2 * numerator + activationSum * cubic + 1e-6)
                    }
                case .xgradCAM:
                    for p in 0..<plane { weight += g[base + p] * a[base + p] / (activationSum + 1e-7) }
                case .layerCAM:
                    for p in 0..<plane { map[n * plane + p] += max(g[base + p], 0) * a[base + p] }
                    continue
                case .scoreCAM, .eigenCAM:
                    continue
                }
                for p in 0..<plane { map[n * plane + p] += weight * a[base + p] }
            }
        }
        return map
    }

    /// Score-CAM: channel weights from the target scores of the input masked by each channel.
    /// With `temporal`, the activations are `[N, C, 1, l]` and each mask, over time only, covers every row
    /// of the input.
    func scoreMap(model: Module, inputs: Tensor, activations: Tensor, classes: [Int], temporal: Bool = false) throws -> [Double] {
        let (count, channels, h, w) = (activations.shape[0], activations.shape[1], activations.shape[2], activations.shape[3])
        let inputChannels = inputs.rank == 4 ? inputs.shape[1] : 1
        let (height, width) = (inputs.shape[inputs.rank - 2], inputs.shape[inputs.rank - 1])
        let values = activations.toDoubles()
        return try noGrad {
            let maskHeight = temporal ? 1 : height
            let upsampled = try activations.upsample(size: (maskHeight, width), mode: .bilinearAlignCorners).toDoubles()
            let plane = height * width, maskPlane = maskHeight * width
            var map = [Double](repeating: 0, count: count * h * w)
            var scores = [[Double]](repeating: [], count: count)
            let images = inputs.toDoubles()
            // Several channels per forward pass, each over the whole batch (rows channel-major, so a model
            // tiling other inputs along the batch — one modality of a multimodal model — lines up).
            let channelsPerPass = max(1, batchSize / max(count, 1))
            for start in stride(from: 0, to: channels, by: channelsPerPass) {
                let group = start..<min(start + channelsPerPass, channels)
                var masked = [Double](repeating: 0, count: group.count * count * inputChannels * plane)
                for (offset, c) in group.enumerated() {
                    for n in 0..<count {
                        let base = (n * channels + c) * maskPlane
                        let maskValues = upsampled[base..<base + maskPlane]
                        let low = maskValues.min() ?? 0, high = maskValues.max() ?? 0
                        let row = offset * count + n
                        for channel in 0..<inputChannels {
                            for p in 0..<plane {
                                let mask = (upsampled[base + (temporal ? p % width : p)] - low) / (high - low + 1e-8)
                                masked[(row * inputChannels + channel) * plane + p] = images[(n * inputChannels + channel) * plane + p] * mask
                            }
                        }
                    }
                }
                let logits = try model(Tensor(shape: [group.count * count] + inputs.shape.dropFirst(), values: masked, dtype: inputs.dtype))
                let rows = logits.toDoubles(), classCount = logits.shape[1]
                for offset in 0..<group.count {
                    for n in 0..<count { scores[n].append(rows[(offset * count + n) * classCount + classes[n]]) }
                }
            }
            for n in 0..<count {
                // Softmax over channels.
                let top = scores[n].max() ?? 0
                let exponentials = scores[n].map { exp($0 - top) }
                let total = exponentials.reduce(0, +)
                for c in 0..<channels {
                    let weight = exponentials[c] / total
                    let base = (n * channels + c) * h * w
                    for p in 0..<(h * w) { map[n * h * w + p] += weight * values[base + p] }
                }
            }
            return map
        }
    }

    /// Eigen-CAM: per sample, the `[h·w, C]` activations centred over positions, projected on their first
    /// right singular vector (power iteration on the C×C Gram matrix). The singular vector's sign is
    /// arbitrary (LAPACK's in pytorch-grad-cam); it is fixed here so the projection correlates positively
    /// with the channel-summed activations.
    public static func principalProjection(_ a: [Double], shape: [Int]) -> [Double] {
        let (count, channels, plane) = (shape[0], shape[1], shape[2] * shape[3])
        var result = [Double](repeating: 0, count: count * plane)
        for n in 0..<count {
            // 1. X[p][c], centred per channel.
            var x = [Double](repeating: 0, count: plane * channels)
            for c in 0..<channels {
                let base = (n * channels + c) * plane
                let mean = (0..<plane).reduce(0) { $0 + a[base + $1] } / Double(plane)
                for p in 0..<plane { x[p * channels + c] = a[base + p] - mean }
            }
            // 2. Gram matrix G = XᵀX and its leading eigenvector by power iteration.
            var gram = [Double](repeating: 0, count: channels * channels)
            for p in 0..<plane {
                for i in 0..<channels where x[p * channels + i] != 0 {
                    for j in 0..<channels { gram[i * channels + j] += x[p * channels + i] * x[p * channels + j] }
                }
            }
            var vector = (0..<channels).map { 1 + Double($0) * 1e-3 }
            for _ in 0..<5000 {
                var next = [Double](repeating: 0, count: channels)
                for i in 0..<channels { for j in 0..<channels { next[i] += gram[i * channels + j] * vector[j] } }
                let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 0 else { break }
                next = next.map { $0 / norm }
                let change = zip(next, vector).reduce(0) { max($0, abs($1.0 - $1.1)) }
                vector = next
                if change < 1e-13 { break }
            }
            // 3. The projection, signed to agree with the summed activations.
            var projection = (0..<plane).map { p in (0..<channels).reduce(0) { $0 + x[p * channels + $1] * vector[$1] } }
            let summed = (0..<plane).map { p in (0..<channels).reduce(0) { $0 + a[(n * channels + $1) * plane + p] } }
            if zip(projection, summed).reduce(0, { $0 + $1.0 * $1.1 }) < 0 { projection = projection.map { -$0 } }
            for p in 0..<plane { result[n * plane + p] = projection[p] }
        }
        return result
    }

    /// Per map: subtract the minimum, divide by ε + the maximum (pytorch-grad-cam's `scale_cam_image`).
    static func normalizeEach(_ values: inout [Double], count: Int, size: Int) {
        for n in 0..<count {
            let range = n * size..<(n + 1) * size
            let low = values[range].min() ?? 0
            for index in range { values[index] -= low }
            let high = values[range].max() ?? 0
            for index in range { values[index] /= 1e-7 + high }
        }
    }
}
