import LucernaCore
import LucernaNN

/// Fuses one feature tensor per modality (`[N, dᵢ]` each) into one tensor `[N, d]`.
public protocol Fusion: Module {
    func fuse(_ inputs: [Tensor]) throws -> Tensor
    /// Fuses with some modalities missing (nil), each replaced by the fusion's placeholder.
    func fuse(available inputs: [Tensor?]) throws -> Tensor
}

extension ComponentKind {
    /// Fusions: modules combining one feature tensor per modality.
    public static let fusion = ComponentKind(
        name: "fusion", namespace: "fusions", protocolName: "Fusion", accepts: { $0 is Fusion },
        conformance: { instance, probe in
            let fusion = try probe.instance(instance, as: (any Fusion).self, "a fusion")
            let inputs: [Tensor]
            if let example = probe.example {
                inputs = try example(probe.config)
            } else {
                guard case .list = probe.config.value("input_dims") else {
                    throw probe.fail("needs input_dims in its defaults (or an example(self))")
                }
                inputs = try probe.config.integers("input_dims").map { try probe.random([3, $0]) }
            }
            let tracked = try inputs.map { try $0.requiringGrad() }
            let output = try fusion.fuse(tracked)
            guard output.rank == 2, output.shape[0] == 3 else {
                throw probe.fail("output must be [3, d] for a batch of 3, got \(describe(shape: output.shape))")
            }
            try probe.checkFinite(output, "the output")
            let shapes = tracked.map { describe(shape: $0.shape) }.joined(separator: " + ")
            probe.passed("fuses \(shapes) -> \(describe(shape: output.shape))")
            try probe.checkGradients(output, fusion, inputs: tracked)
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any Fusion> {
    public static var fusion: Self { TypedComponentKind(.fusion) }
}
