/// Finite-difference checks of first- and second-order gradients (like `torch.autograd.gradcheck` and
/// `gradgradcheck`), in Float64.
public enum GradientCheck {
    /// The worst disagreement found.
    public struct Report: CustomStringConvertible {
        public var order: Int
        public var input: Int
        public var element: Int
        public var analytic: Double
        public var numeric: Double
        public var passed: Bool
        public var description: String {
            passed
                ? "order \(order): ok"
                : "order \(order): input \(input) element \(element): analytic \(analytic) vs numeric \(numeric)"
        }
    }

    /// Checks `function`'s gradients at `inputs` (Float64 leaves). The output is reduced to a scalar by a
    /// fixed random projection so every output element matters. With `secondOrder`, also checks the
    /// gradient of `<∇f, v>` for a random `v` (a double backward) against finite differences of the
    /// analytic first-order gradient.
    public static func check(
        inputs: [Tensor], secondOrder: Bool = true, epsilon: Double = 1e-6, absoluteTolerance: Double = 1e-5,
        relativeTolerance: Double = 1e-3, seed: UInt64 = 7, _ function: ([Tensor]) throws -> Tensor
    ) throws -> [Report] {
        let leaves = try inputs.map { try $0.copy().requiringGrad() }
        return try check(
            leaves: leaves, secondOrder: secondOrder, epsilon: epsilon, absoluteTolerance: absoluteTolerance,
            relativeTolerance: relativeTolerance, seed: seed
        ) { try function(leaves) }
    }

    /// The same check for leaves a closure already uses, such as a module's input and parameters: each
    /// leaf is perturbed in place (and restored) to compute the finite differences.
    public static func check(
        leaves: [Tensor], secondOrder: Bool = true, epsilon: Double = 1e-6, absoluteTolerance: Double = 1e-5,
        relativeTolerance: Double = 1e-3, seed: UInt64 = 7, _ function: () throws -> Tensor
    ) throws -> [Report] {
        let generator = RandomGenerator(seed: seed)
        for leaf in leaves where leaf.dtype != .float64 || !leaf.requiresGrad || !leaf.isLeaf {
            throw TensorError("gradcheck", "leaves must be float64 leaf tensors requiring gradients, got \(leaf.dtype)")
        }
        // Evaluated with recording on: the function may itself take gradients (a gradient penalty).
        let projection = try function().shape
        let weights = try Tensor.normal(projection, dtype: .float64, generator: generator)
        func scalar() throws -> Tensor { try (function() * weights).sum() }
        func firstGradients(createGraph: Bool) throws -> [Tensor] {
            let output = try scalar()
            return try Tensor.gradients(of: [output], withRespectTo: leaves, createGraph: createGraph)
                .enumerated().map { index, gradient in gradient ?? leaves[index].zerosLike() }
        }
        // 1. First order.
        var reports: [Report] = []
        let analytic = try firstGradients(createGraph: false)
        reports.append(
            try compare(
                order: 1, leaves: leaves, analytic: analytic, epsilon: epsilon,
                absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance
            ) {
                try scalar().item()
            })
        guard secondOrder else { return reports }
        // 2. Second order: h(x) = Σ <∇ᵢ s(x), vᵢ>.
        let directions = try leaves.map { try Tensor.normal($0.shape, dtype: .float64, generator: generator) }
        func projected(createGraph: Bool) throws -> Tensor {
            let gradients = try firstGradients(createGraph: createGraph)
            var total = try Tensor.zeros([], dtype: .float64)
            for (gradient, direction) in zip(gradients, directions) { total = try total + (gradient * direction).sum() }
            return total
        }
        let h = try projected(createGraph: true)
        let secondAnalytic: [Tensor]
        if h.requiresGrad {
            secondAnalytic = try Tensor.gradients(of: [h], withRespectTo: leaves).enumerated().map {
                $0.element ?? leaves[$0.offset].zerosLike()
            }
        } else {
            secondAnalytic = leaves.map { $0.zerosLike() }
        }
        reports.append(
            try compare(
                order: 2, leaves: leaves, analytic: secondAnalytic, epsilon: epsilon,
                absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance
            ) {
                try projected(createGraph: false).item()
            })
        return reports
    }

    private static func compare(
        order: Int, leaves: [Tensor], analytic: [Tensor], epsilon: Double, absoluteTolerance: Double,
        relativeTolerance: Double, _ evaluate: () throws -> Double
    ) throws -> Report {
        var worst = Report(order: order, input: 0, element: 0, analytic: 0, numeric: 0, passed: true)
        var worstExcess = -Double.infinity
        for (position, leaf) in leaves.enumerated() {
            let gradient = analytic[position].toDoubles()
            for element in 0..<leaf.count {
                func shifted(_ delta: Double) throws -> Double {
                    let slot = leaf.pointer(as: Double.self) + element
                    let original = slot.pointee
                    slot.pointee = original + delta
                    defer { slot.pointee = original }
                    return try evaluate()
                }
                let numeric = (try shifted(epsilon) - shifted(-epsilon)) / (2 * epsilon)
                let error = Swift.abs(gradient[element] - numeric)
                let excess = error - (absoluteTolerance + relativeTolerance * Swift.abs(numeric))
                if excess > worstExcess || !error.isFinite {
                    worstExcess = error.isFinite ? excess : .infinity
                    worst = Report(
                        order: order, input: position, element: element, analytic: gradient[element],
                        numeric: numeric, passed: error.isFinite && excess <= 0)
                }
            }
        }
        return worst
    }
}
