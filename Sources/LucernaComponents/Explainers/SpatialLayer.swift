import LucernaCore
import LucernaNN

/// The default layer of the CAM explainers and the CAM penalties: the last module that is not a pooling
/// layer whose output is `[N, C, h, w]`, found by the output ranks of one forward pass (pytorch-grad-cam
/// users name `model.layer4[-1]`, the last convolutional block); with `temporal`, else the last such module
/// (not a linear layer) with a `[N, C, L]` output, for one-dimensional convolutions over time.
enum SpatialLayer {
    static func last(
        among layers: [(name: String, module: Module)], temporal: Bool, run: () throws -> Void
    ) throws -> (name: String, module: Module)? {
        var ranks: [ObjectIdentifier: Int] = [:]
        let hooks = layers.map { entry in
            (
                entry.module,
                entry.module.addForwardHook { module, _, output in ranks[ObjectIdentifier(module)] = output.rank }
            )
        }
        defer { for (module, hook) in hooks { module.removeForwardHook(hook) } }
        try noGrad { try run() }
        let candidates = layers.filter { !String(describing: type(of: $0.module)).contains("Pool") }
        return candidates.last { ranks[ObjectIdentifier($0.module)] == 4 }
            ?? (temporal
                ? candidates.last { ranks[ObjectIdentifier($0.module)] == 3 && !($0.module is Linear) } : nil)
    }
}
