import LucernaCore
import LucernaNN

/// What the registered fusions share: one input per modality (`[N, dᵢ]` features, or `[N, Lᵢ, dᵢ]` token
/// sequences for fusions that take them), checked against `input_dims`, and a placeholder for a modality
/// missing at inference (`missing = "zero"`: zeros; `"learned"`: a trained vector per modality,
/// `placeholders.i`), so that robustness to a dropped modality can be measured with any fusion.
open class ModalityFusion: Module, Fusion {
    public enum Missing: String, CaseIterable, Sendable { case zero, learned }

    public static let commonOptions = [
        OptionSpec(
            "input_dims", .integers, default: .list([.number(64), .number(64)]), "feature size of each modality"),
        OptionSpec("missing", .string, default: .string("zero"), "placeholder for a missing modality: zero or learned"),
        OptionSpec("dtype", .string, default: .string("float32"), "parameter precision: float32 or float64"),
    ]

    /// The `dtype` option of a fusion's configuration.
    public static func parameterType(_ config: Config) throws -> DType {
        try config.choice("dtype", ["float32", "float64"]) == "float64" ? .float64 : .float32
    }

    public let inputDimensions: [Int]
    public let missing: Missing
    /// The learned placeholders (`missing = "learned"`), one `[dᵢ]` per modality.
    public let placeholders: [Tensor]
    /// Whether inputs may be token sequences `[N, L, d]` (else `[N, d]` only).
    public let acceptsSequences: Bool
    /// The parameters' precision.
    public let dtype: DType
    let operation: String

    public init(config: Config, acceptsSequences: Bool = false, minimumModalities: Int = 1) throws {
        operation = config.owner
        inputDimensions = try config.integers("input_dims")
        guard inputDimensions.count >= minimumModalities, inputDimensions.allSatisfy({ $0 > 0 }) else {
            throw config.error(
                "input_dims must list at least \(minimumModalities) positive sizes, got \(inputDimensions)")
        }
        missing = Missing(rawValue: try config.choice("missing", Missing.allCases.map(\.rawValue))) ?? .zero
        self.acceptsSequences = acceptsSequences
        let dtype = try Self.parameterType(config)
        self.dtype = dtype
        placeholders = missing == .learned ? try inputDimensions.map { try Tensor.zeros([$0], dtype: dtype) } : []
        super.init()
        if !placeholders.isEmpty {
            let container = registerModule("placeholders", Module())
            for (position, placeholder) in placeholders.enumerated() {
                container.registerParameter("\(position)", placeholder)
            }
        }
    }

    /// Fuses present inputs; subclasses define it.
    open func combine(_ inputs: [Tensor]) throws -> Tensor {
        throw TensorError(operation, "combine is not defined for this fusion")
    }

    public func fuse(_ inputs: [Tensor]) throws -> Tensor { try fuse(available: inputs.map { Optional($0) }) }

    public func fuse(available inputs: [Tensor?]) throws -> Tensor {
        guard inputs.count == inputDimensions.count else {
            throw TensorError(
                operation,
                "expected \(inputDimensions.count) modality inputs (input_dims = \(inputDimensions)), got \(inputs.count)"
            )
        }
        guard let reference = inputs.compactMap({ $0 }).first else {
            throw TensorError(operation, "every modality is missing")
        }
        let count = reference.shape[0]
        var filled: [Tensor] = []
        for (position, (input, dimension)) in zip(inputs, inputDimensions).enumerated() {
            if let input {
                let isSequence = input.rank == 3 && acceptsSequences
                guard input.rank == 2 || isSequence, input.shape.last == dimension, input.shape[0] == count else {
                    throw TensorError(
                        operation,
                        "input \(position + 1) must be [N, \(dimension)]\(acceptsSequences ? " or [N, L, \(dimension)]" : "") with the batch size of the others, got \(describe(shape: input.shape))"
                    )
                }
                filled.append(input)
            } else {
                let shape = [count, dimension]
                filled.append(
                    missing == .learned
                        ? try placeholders[position].expanded(to: shape)
                        : try Tensor.zeros(shape, dtype: reference.dtype))
            }
        }
        return try combine(filled)
    }

    public override var summary: String { "input_dims=\(inputDimensions), missing=\(missing.rawValue)" }

    /// A container of one linear projection per modality to `dimension` (`projections.i`).
    func registerProjections(to dimension: Int) throws -> [Linear] {
        let projections = try inputDimensions.map { try Linear($0, dimension, dtype: dtype) }
        let container = registerModule("projections", Module())
        for (position, projection) in projections.enumerated() { container.registerModule("\(position)", projection) }
        return projections
    }
}
