import LucernaCore
import LucernaNN

/// The checks every registered component must pass (the registry sweep test and `lucerna check` run
/// them): it builds with its defaults, runs its contract on small random inputs, and the results have
/// the right shapes, are finite and, when the component has parameters, gradients reach them.
public enum Conformance {
    /// A failed check, with the component and what went wrong.
    public struct Failure: Error, CustomStringConvertible {
        public let component: String
        public let message: String
        public var description: String { "\(component): \(message)" }
    }

    /// Runs the checks for `entry`; returns what was checked, one line each, or throws the first failure.
    /// `example` supplies inputs for models and losses when the component declares them.
    public static func check(_ entry: ComponentEntry, registry: Registry, example: ((Config) throws -> [Tensor])? = nil) throws -> [String] {
        let label = "\(entry.kind.luaGlobal).\(entry.name)"
        func fail(_ message: String) -> Failure { Failure(component: label, message: message) }
        let generator = RandomGenerator(seed: 1234)
        func random(_ shape: [Int]) throws -> Tensor { try Tensor.normal(shape, generator: generator) }
        func labels(_ count: Int, classes: Int) throws -> Tensor {
            try Tensor(shape: [count], integers: (0..<count).map { $0 % classes })
        }
        // 1. Build with defaults (required options get small stand-ins of their type).
        let probe = try Tensor.normal([3, 2], generator: generator).requiringGrad()
        var options: [String: ConfigValue] = [:]
        // Numbers grow with position (5, 10, ...), so ordered pairs such as warmup < total hold.
        for (position, option) in entry.options.filter(\.required).enumerated() {
            switch option.type {
            case .tensors: options[option.name] = .list([.tensor(probe)])
            case .object: options[option.name] = .object(try SGD(parameters: [probe], learningRate: 0.1))
            case .integer, .number: options[option.name] = .number(Double(5 * (position + 1)))
            case .component(.explainer): options[option.name] = .string("saliency")
            case .component(.metric): options[option.name] = .string("accuracy")
            default: throw fail("cannot stand in for required option \(option.name) of type \(option.type.luaType)")
            }
        }
        let config = try registry.config(for: entry, options: options)
        let instance: Any
        do { instance = try entry.build(config) } catch { throw fail("does not build with its defaults: \(error)") }
        var report = [config.values.isEmpty ? "builds (no options)" : "builds with its defaults"]

        func checkFinite(_ tensor: Tensor, _ what: String) throws {
            guard tensor.toDoubles().allSatisfy(\.isFinite) else { throw fail("\(what) is not finite") }
        }
        /// Backpropagates `output.sum()` and checks every parameter of `module` received a finite gradient.
        func checkGradients(_ output: Tensor, _ module: Module?, inputs: [Tensor]) throws {
            guard output.requiresGrad || !output.isLeaf else { throw fail("the output does not depend on the inputs or parameters (no gradient can flow)") }
            try output.sum().backward()
            for (name, parameter) in module?.namedParameters() ?? [] {
                guard let gradient = parameter.grad else { throw fail("no gradient reaches parameter \(name)") }
                try checkFinite(gradient, "the gradient of parameter \(name)")
            }
            for (position, input) in inputs.enumerated() where input.requiresGrad {
                guard let gradient = input.grad else { throw fail("no gradient reaches input \(position + 1)") }
                try checkFinite(gradient, "the gradient of input \(position + 1)")
            }
            let count = module?.namedParameters().count ?? 0
            report.append(count == 0 ? "gradients reach the inputs, finite" : "gradients reach all \(count) parameters and the inputs, finite")
        }

        // 2. The kind's contract.
        switch entry.kind {
        case .model:
            if let multimodal = instance as? MultimodalClassifier {
                // One small example per modality, from its encoder's kind.
                var inputs: [String: Tensor] = [:]
                for (name, encoder) in zip(multimodal.modalities, multimodal.encoders) {
                    let example = try exampleInput(for: encoder)
                    inputs[name] = example.dtype.isFloatingPoint ? try example.requiringGrad() : example
                }
                let output = try multimodal.forward(modalities: inputs)
                try checkFinite(output, "the output")
                report.append("forward {\(inputs.keys.sorted().map { "\($0) = \(describe(shape: inputs[$0]?.shape ?? []))" }.joined(separator: ", "))} -> \(describe(shape: output.shape))")
                try checkGradients(output, multimodal, inputs: Array(inputs.values))
                return report
            }
            guard let model = instance as? Module else { throw fail("does not build a module") }
            guard let inputs = try example?(config) else { throw fail("needs an example input (a plugin defines example(self))") }
            let input = inputs[0].dtype.isFloatingPoint ? try inputs[0].requiringGrad() : inputs[0]   // token ids carry no gradient
            let output = try model(input)
            guard output.shape.first == input.shape.first else { throw fail("output \(describe(shape: output.shape)) lost the batch axis of input \(describe(shape: input.shape))") }
            try checkFinite(output, "the output")
            report.append("forward \(describe(shape: input.shape)) -> \(describe(shape: output.shape))")
            try checkGradients(output, model, inputs: [input])
        case .fusion:
            guard let fusion = instance as? Fusion else { throw fail("does not build a fusion") }
            let inputs: [Tensor]
            if let example { inputs = try example(config) } else {
                guard case .list = config.value("input_dims") else { throw fail("needs input_dims in its defaults (or an example(self))") }
                inputs = try config.integers("input_dims").map { try random([3, $0]) }
            }
            let tracked = try inputs.map { try $0.requiringGrad() }
            let output = try fusion.fuse(tracked)
            guard output.rank == 2, output.shape[0] == 3 else { throw fail("output must be [3, d] for a batch of 3, got \(describe(shape: output.shape))") }
            try checkFinite(output, "the output")
            report.append("fuses \(tracked.map { describe(shape: $0.shape) }.joined(separator: " + ")) -> \(describe(shape: output.shape))")
            try checkGradients(output, fusion, inputs: tracked)
        case .regularizer:
            guard let regularizer = instance as? Regularizer else { throw fail("does not build a regularizer") }
            let model = try Linear(4, 3)
            let inputs = try random([6, 4]).requiringGrad()
            let logits = try model(inputs)
            let context = RegularizerContext(parameters: model.namedParameters(), inputs: inputs, logits: logits,
                                             targets: try labels(6, classes: 3), groups: try labels(6, classes: 2),
                                             attributions: try (inputs * inputs))
            let penalty = try regularizer.penalty(context)
            guard penalty.count == 1 else { throw fail("penalty must be a scalar, got \(describe(shape: penalty.shape))") }
            try checkFinite(penalty, "the penalty")
            report.append("penalty \(try penalty.item()) on a 4-3 linear model")
            guard penalty.requiresGrad || !penalty.isLeaf else { throw fail("the penalty does not depend on the parameters, inputs or logits") }
            try penalty.backward()
            let reached = model.namedParameters().filter { $0.tensor.grad != nil }.map(\.name) + (inputs.grad != nil ? ["inputs"] : [])
            for (name, parameter) in model.namedParameters() {
                if let gradient = parameter.grad { try checkFinite(gradient, "the gradient of \(name)") }
            }
            if let own = (regularizer as? ParameterOwner)?.parameters(), !own.isEmpty {
                guard own.allSatisfy({ $0.grad != nil }) else { throw fail("no gradient reaches some of the regularizer's own parameters") }
            }
            report.append("gradients reach \(reached.joined(separator: ", ")), finite")
        case .metric:
            guard let metric = instance as? Metric else { throw fail("does not build a metric") }
            if let faithfulness = metric as? FaithfulnessMetric {
                // Faithfulness: random maps over the inputs of a small CNN.
                let model = try Sequential([Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), generator: generator), ReLU(), Flatten(),
                                            Linear(32, 3, generator: generator)])
                try faithfulness.update(model: model, inputs: random([4, 1, 4, 4]), attributions: random([4, 4, 4]), targets: labels(4, classes: 3))
            } else if metric is MaskedAttributionMetric {
                // Explanation quality: random maps against a square mask.
                let mask = try Tensor(shape: [1, 6, 6], doubles: (0..<36).map { ($0 / 6) >= 2 && ($0 / 6) < 4 && ($0 % 6) >= 2 && ($0 % 6) < 4 ? 1 : 0 })
                try metric.update(predictions: random([4, 6, 6]), targets: Tensor.concatenate(Array(repeating: mask, count: 4), axis: 0), groups: nil)
            } else {
                try metric.update(predictions: random([8, 3]), targets: labels(8, classes: 3), groups: labels(8, classes: 2))
            }
            let value = try metric.compute()
            guard value.isFinite else { throw fail("compute returned \(value)") }
            metric.reset()
            report.append("update/compute/reset: \(value) on random \(metric is MaskedAttributionMetric ? "maps and a mask" : "scores")")
        case .loss:
            guard let loss = instance as? Loss else { throw fail("does not build a loss") }
            let pair = try example?(config) ?? [random([4, 3]), random([4, 3])]
            guard pair.count == 2 else { throw fail("its example must give a prediction and a target") }
            let prediction = try pair[0].requiringGrad()
            let value = try loss.loss(prediction, pair[1])
            try checkFinite(value, "the loss")
            report.append("loss \(describe(shape: prediction.shape)) -> \(describe(shape: value.shape))")
            try checkGradients(value, nil, inputs: [prediction])
        case .optimizer:
            guard let optimizer = instance as? Optimizer else { throw fail("does not build an optimizer") }
            let before = probe.toDoubles()
            try (probe * probe).sum().backward()
            try optimizer.step()
            guard probe.toDoubles().allSatisfy(\.isFinite), probe.toDoubles() != before else { throw fail("a step did not change the parameter finitely") }
            report.append("one step moves a parameter")
        case .schedule:
            guard let schedule = instance as? LearningRateSchedule else { throw fail("does not build a schedule") }
            for _ in 0..<3 { try schedule.step() }
            guard schedule.currentRate.isFinite, schedule.currentRate >= 0 else { throw fail("rate \(schedule.currentRate) after 3 steps") }
            report.append("3 steps: rate \(schedule.currentRate)")
        case .dataset:
            guard let dataset = instance as? TensorDataset else { throw fail("does not build a data set") }
            guard let count = dataset.tensors.first?.tensor.shape.first, count > 0,
                  dataset.tensors.allSatisfy({ $0.tensor.shape.first == count }) else {
                throw fail("its tensors must share a non-empty first axis, got \(dataset.tensors.map { "\($0.name) \(describe(shape: $0.tensor.shape))" })")
            }
            report.append("\(count) samples: \(dataset.tensors.map { "\($0.name) \(describe(shape: $0.tensor.shape))" }.joined(separator: ", "))")
        case .attack:
            guard let attack = instance as? Attack else { throw fail("does not build an attack") }
            if attack is TokenAttack {
                let model = try Sequential([EmbeddingBagEncoder(vocabulary: 12, dimension: 4, generator: generator), Linear(4, 3, generator: generator)])
                let tokens = try Tensor(shape: [4, 5], integers: [2, 5, 7, 0, 0, 3, 3, 9, 11, 4, 6, 2, 0, 0, 0, 10, 8, 5, 2, 7])
                let adversarial = try attack.perturb(model: model, inputs: tokens, targets: labels(4, classes: 3))
                guard adversarial.shape == tokens.shape, adversarial.dtype == .int64, adversarial.toIntegers().allSatisfy({ (0..<12).contains($0) }) else {
                    throw fail("perturbed tokens must be int64 ids of the vocabulary shaped like the input, got \(adversarial.dtype) \(describe(shape: adversarial.shape))")
                }
                let logits = try attack.adversarialLogits(model: model, inputs: tokens, targets: labels(4, classes: 3))
                guard logits.shape == [4, 3] else { throw fail("adversarial logits \(describe(shape: logits.shape)) for 4 inputs of 3 classes") }
                try checkFinite(logits, "the adversarial logits")
                report.append("perturbs [4, 5] token ids of a bag-of-embeddings classifier")
                break
            }
            let model = try Sequential([Flatten(), Linear(16, 3)])
            let inputs = try Tensor.uniform([4, 1, 4, 4], generator: generator)
            let adversarial = try attack.perturb(model: model, inputs: inputs, targets: labels(4, classes: 3))
            guard adversarial.shape == inputs.shape else { throw fail("perturbed inputs \(describe(shape: adversarial.shape)) differ in shape from \(describe(shape: inputs.shape))") }
            try checkFinite(adversarial, "the perturbed inputs")
            report.append("perturbs [4, 1, 4, 4] inputs of a linear classifier")
        case .rule:
            guard let rule = instance as? RelevanceRule else { throw fail("does not build a rule") }
            // Relevance through a Linear layer: input-shaped and finite (element-wise rules: through a ReLU).
            let linear = try Linear(6, 3, generator: generator)
            let input = try random([4, 6])
            let elementwise = rule is PassRule
            let layer = RelevanceLayer(name: "probe", module: elementwise ? ReLU() : linear)
            let relevance = try rule.inputRelevance(layer: layer, input: input, outputRelevance: random(elementwise ? [4, 6] : [4, 3]))
            guard relevance.shape == input.shape else { throw fail("relevance \(describe(shape: relevance.shape)) for input \(describe(shape: input.shape))") }
            try checkFinite(relevance, "the relevance")
            report.append("propagates [4, 3] relevance through \(elementwise ? "a ReLU" : "Linear(6, 3)") -> \(describe(shape: relevance.shape)), finite")
        case .composite:
            guard let composite = instance as? RelevanceComposite else { throw fail("does not build a composite") }
            let model = try Sequential([Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), generator: generator), BatchNorm(2, rank: 4), ReLU(),
                                        Flatten(), Linear(32, 3, generator: generator)])
            let relevance = try LayerwiseRelevancePropagation(composite: composite).attribute(
                model: model, inputs: Tensor.uniform([4, 1, 4, 4], generator: generator), targets: labels(4, classes: 3))
            guard relevance.shape == [4, 1, 4, 4] else { throw fail("relevance \(describe(shape: relevance.shape)) for inputs [4, 1, 4, 4]") }
            try checkFinite(relevance, "the relevance")
            report.append("LRP through conv-batchnorm-relu-linear: [4, 1, 4, 4] relevance, finite")
        case .explainer:
            guard let explainer = instance as? Explainer else { throw fail("does not build an explainer") }
            // A small convolutional classifier, so layer-based methods (the CAM family) have a 4-D layer.
            let model = try Sequential([Conv2d(1, 2, kernelSize: (3, 3), padding: (1, 1), generator: generator), ReLU(), Flatten(),
                                        Linear(32, 3, generator: generator)])
            let inputs = try Tensor.uniform([4, 1, 4, 4], generator: generator)
            let attributions = try explainer.attribute(model: model, inputs: inputs, targets: labels(4, classes: 3))
            guard attributions.shape.first == 4 else { throw fail("attributions \(describe(shape: attributions.shape)) lost the batch axis") }
            try checkFinite(attributions, "the attributions")
            report.append("attributes [4, 1, 4, 4] inputs of a small CNN -> \(describe(shape: attributions.shape))")
        }
        return report
    }

    /// A small input batch for an encoder of a multimodal classifier.
    static func exampleInput(for encoder: Encoder) throws -> Tensor {
        switch encoder {
        case let conv as ConvEncoder: return try Tensor.normal([2, conv.inputChannels, conv.inputSize.0, conv.inputSize.1])
        case let temporal as TemporalConvEncoder: return try Tensor.normal([2, 1, temporal.mels, 12])
        case let residual as ResidualEncoder: return try Tensor.normal([2, residual.inputChannels, 8, 8])
        default: return try Tensor(shape: [2, 5], integers: [3, 9, 1, 0, 0, 4, 4, 7, 2, 5])
        }
    }

    /// Example inputs of the built-in models and losses, by name.
    public static func builtinExample(_ entry: ComponentEntry) -> ((Config) throws -> [Tensor])? {
        switch (entry.kind, entry.name) {
        case (.model, "mlp"): return { [try Tensor.normal([2, $0.positiveInteger("in_features")])] }
        case (.model, "cnn"):
            return { config in
                let size = try config.positiveInteger("image_size")
                return [try Tensor.normal([2, config.positiveInteger("in_channels"), size, size])]
            }
        case (.model, "conv_encoder"):
            return { config in
                let size = try config.pair("input_size")
                return [try Tensor.normal([2, config.positiveInteger("in_channels"), size.0, size.1])]
            }
        case (.model, "temporal_encoder"): return { [try Tensor.normal([2, 1, $0.positiveInteger("mels"), 12])] }
        case (.model, "resnet_encoder"): return { [try Tensor.normal([2, $0.positiveInteger("in_channels"), 8, 8])] }
        case (.model, "embedding_bag_encoder"), (.model, "transformer_encoder"), (.model, "text_cnn_encoder"):
            return { _ in [try Tensor(shape: [2, 5], integers: [3, 9, 1, 0, 0, 4, 4, 7, 2, 5])] }
        case (.model, "multimodal_classifier"): return nil
        case (.loss, "cross_entropy"), (.loss, "nll"):
            return { _ in [try Tensor.normal([4, 3]).logSoftmax(axis: 1), try Tensor(shape: [4], integers: [0, 2, 1, 2])] }
        case (.loss, "bce_with_logits"): return { _ in [try Tensor.normal([4, 3]), try Tensor.uniform([4, 3])] }
        case (.loss, "kl_div"): return { _ in [try Tensor.normal([4, 3]).logSoftmax(axis: 1), try Tensor.normal([4, 3]).softmax(axis: 1)] }
        default: return nil
        }
    }
}
