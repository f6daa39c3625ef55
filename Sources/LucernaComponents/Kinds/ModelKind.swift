import LucernaCore
import LucernaNN

extension ComponentKind {
    /// Models: modules mapping an input batch (or, for a multimodal classifier, named modalities) to outputs.
    public static let model = ComponentKind(
        name: "model", namespace: "models", protocolName: "Module", accepts: { $0 is Module },
        conformance: { instance, probe in
            if let multimodal = instance as? MultimodalClassifier {
                // One small example per modality, from its encoder's kind.
                var inputs: [String: Tensor] = [:]
                for (name, encoder) in zip(multimodal.modalities, multimodal.encoders) {
                    let example = try Conformance.exampleInput(for: encoder)
                    inputs[name] = example.dtype.isFloatingPoint ? try example.requiringGrad() : example
                }
                let output = try multimodal.forward(modalities: inputs)
                try probe.checkFinite(output, "the output")
                let shapes = inputs.keys.sorted().map { "\($0) = \(describe(shape: inputs[$0]?.shape ?? []))" }
                probe.passed("forward {\(shapes.joined(separator: ", "))} -> \(describe(shape: output.shape))")
                try probe.checkGradients(output, multimodal, inputs: Array(inputs.values))
                return
            }
            if let conditional = instance as? ConditionalModel {
                // A conditional network: its own example of an input and a condition.
                let (example, condition) = try conditional.example(batch: 2, generator: probe.generator)
                let input = try example.requiringGrad()
                let output = try conditional.forward(input, condition: condition)
                try probe.checkFinite(output, "the output")
                probe.passed(
                    "forward \(describe(shape: input.shape)) given \(describe(shape: condition.shape)) -> \(describe(shape: output.shape))"
                )
                try probe.checkGradients(output, conditional, inputs: [input])
                return
            }
            let model = try probe.instance(instance, as: Module.self, "a module")
            guard let inputs = try probe.example?(probe.config), let first = inputs.first else {
                throw probe.fail("needs an example input (a plugin defines example(self))")
            }
            let input = first.dtype.isFloatingPoint ? try first.requiringGrad() : first  // token ids carry no gradient
            let output = try model(input)
            guard output.shape.first == input.shape.first else {
                throw probe.fail(
                    "output \(describe(shape: output.shape)) lost the batch axis of input \(describe(shape: input.shape))"
                )
            }
            try probe.checkFinite(output, "the output")
            probe.passed("forward \(describe(shape: input.shape)) -> \(describe(shape: output.shape))")
            try probe.checkGradients(output, model, inputs: [input])
        })
}

extension ComponentKindKey where Self == TypedComponentKind<Module> {
    public static var model: Self { TypedComponentKind(.model) }
}
