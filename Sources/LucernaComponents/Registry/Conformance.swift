import LucernaCore
import LucernaNN

/// The checks every registered component must pass (the registry sweep test and `lucerna check` run
/// them): it builds with its defaults, runs its kind's contract (``ComponentKind``'s conformance) on small
/// random inputs, and the results have the right shapes, are finite and, when the component has
/// parameters, gradients reach them.
public enum Conformance {
    /// A failed check, with the component and what went wrong.
    public struct Failure: Error, CustomStringConvertible {
        public let component: String
        public let message: String
        public var description: String { "\(component): \(message)" }
    }

    /// Runs the checks for `entry`; returns what was checked, one line each, or throws the first failure.
    /// `example` supplies inputs for models and losses when the component declares them.
    public static func check(
        _ entry: ComponentEntry, registry: Registry, example: ((Config) throws -> [Tensor])? = nil
    ) throws -> [String] {
        let probe = ConformanceProbe(component: entry.qualifiedName)
        // 1. Build with defaults (required options get small stand-ins of their type).
        let parameter = try probe.random([3, 2]).requiringGrad()
        var options: [String: ConfigValue] = [:]
        // Numbers grow with position (5, 10, ...), so ordered pairs such as warmup < total hold.
        for (position, option) in entry.options.filter(\.required).enumerated() {
            if case .null = option.standIn {
            } else {
                options[option.name] = option.standIn
                continue
            }
            switch option.type {
            case .tensors: options[option.name] = .list([.tensor(parameter)])
            case .object: options[option.name] = .object(try SGD(parameters: [parameter], learningRate: 0.1))
            case .integer, .number: options[option.name] = .number(Double(5 * (position + 1)))
            case .component(.explainer): options[option.name] = .string("saliency")
            case .component(.metric): options[option.name] = .string("accuracy")
            // A vector of two: the channel count of the regularizer probe's 4-D layer (a concept direction).
            case .tensor: options[option.name] = .tensor(try probe.random([2]))
            default: throw probe.fail("cannot stand in for required option \(option.name) of type \(option.type)")
            }
        }
        let config = try registry.config(for: entry, options: options)
        let instance: Any
        do { instance = try entry.instance(config) } catch {
            throw probe.fail("does not build with its defaults: \(error)")
        }
        probe.report.append(config.values.isEmpty ? "builds (no options)" : "builds with its defaults")
        probe.config = config
        probe.example = example
        probe.parameter = parameter
        // 2. The kind's contract.
        try entry.kind.conformance(instance, probe)
        return probe.report
    }

    /// A small input batch for an encoder of a multimodal classifier.
    static func exampleInput(for encoder: Encoder) throws -> Tensor {
        switch encoder {
        case let conv as ConvEncoder:
            return try Tensor.normal([2, conv.inputChannels, conv.inputSize.0, conv.inputSize.1])
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
            return { _ in
                [try Tensor.normal([4, 3]).logSoftmax(axis: 1), try Tensor(shape: [4], integers: [0, 2, 1, 2])]
            }
        case (.loss, "bce_with_logits"): return { _ in [try Tensor.normal([4, 3]), try Tensor.uniform([4, 3])] }
        case (.loss, "kl_div"):
            return { _ in [try Tensor.normal([4, 3]).logSoftmax(axis: 1), try Tensor.normal([4, 3]).softmax(axis: 1)] }
        default: return nil
        }
    }
}

/// What a kind's conformance check works with: the component's name for failures, its configuration and
/// example, a seeded generator, helpers for the common checks, and the report lines it adds to.
public final class ConformanceProbe {
    public let component: String
    public let generator = RandomGenerator(seed: 1234)
    public internal(set) var config = Config(owner: "", values: [:])
    /// Example inputs the component declares (models and losses), if any.
    public internal(set) var example: ((Config) throws -> [Tensor])?
    /// A `[3, 2]` parameter the stand-in options refer to (an optimizer's `params`).
    public internal(set) var parameter: Tensor?
    /// What was checked, one line each.
    public internal(set) var report: [String] = []

    init(component: String) { self.component = component }

    /// Adds a line to the report.
    public func passed(_ line: String) { report.append(line) }

    public func fail(_ message: String) -> Conformance.Failure {
        Conformance.Failure(component: component, message: message)
    }

    /// The built instance as `T`, or a failure saying it does not build one.
    public func instance<T>(_ value: Any, as type: T.Type, _ what: String) throws -> T {
        guard let typed = value as? T else { throw fail("does not build \(what)") }
        return typed
    }

    public func random(_ shape: [Int]) throws -> Tensor { try Tensor.normal(shape, generator: generator) }

    public func labels(_ count: Int, classes: Int) throws -> Tensor {
        try Tensor(shape: [count], integers: (0..<count).map { $0 % classes })
    }

    public func checkFinite(_ tensor: Tensor, _ what: String) throws {
        guard tensor.toDoubles().allSatisfy(\.isFinite) else { throw fail("\(what) is not finite") }
    }

    /// Backpropagates `output.sum()` and checks every parameter of `module` and every tracked input received
    /// a finite gradient.
    public func checkGradients(_ output: Tensor, _ module: Module?, inputs: [Tensor]) throws {
        guard output.requiresGrad || !output.isLeaf else {
            throw fail("the output does not depend on the inputs or parameters (no gradient can flow)")
        }
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
        report.append(
            count == 0
                ? "gradients reach the inputs, finite"
                : "gradients reach all \(count) parameters and the inputs, finite")
    }
}
