import LucernaCore

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
/// following PyTorch's update (the first step initialises the momentum buffer with the gradient).
///
/// Reference: Sutskever et al., "On the importance of initialization and momentum in deep learning", 2013.
public final class SGD: Optimizer {
    public let momentum: Double, dampening: Double, nesterov: Bool

    public init(
        parameters: [Tensor] = [], groups: [ParameterGroup]? = nil, learningRate: Double = 1e-2,
        momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0, nesterov: Bool = false
    ) throws {
        guard momentum >= 0, !(nesterov && (momentum <= 0 || dampening != 0)) else {
            throw TensorError("sgd", "momentum must be non-negative; Nesterov needs momentum > 0 and zero dampening")
        }
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        try super.init(
            parameters: parameters, groups: groups, learningRate: learningRate, weightDecay: weightDecay,
            name: "sgd")
    }

    public override func update(
        _ parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int,
        state: inout [String: Tensor]
    ) throws {
        let momentumBuffer = momentum != 0 ? buffer("momentum_buffer", like: parameter, in: &state) : parameter
        let (rate, decay, momentum, dampening, nesterov) = (
            group.learningRate, group.weightDecay, momentum, dampening, nesterov
        )
        let count = parameter.count
        let first = step == 1
        func kernel<T: TensorFloat>(
            _ p: UnsafeMutablePointer<T>, _ g: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>
        ) {
            let (l2, mu, keep, lr) = (T(decay), T(momentum), T(1 - dampening), T(rate))
            for i in 0..<count {
                var grad = g[i] + l2 * p[i]
                if momentum != 0 {
                    b[i] = first ? grad : mu * b[i] + keep * grad
                    grad = nesterov ? grad + mu * b[i] : b[i]
                }
                p[i] -= lr * grad
            }
        }
        withBuffers(
            [parameter, gradient, momentumBuffer],
            float32: { kernel($0[0], $0[1], $0[2]) }, float64: { kernel($0[0], $0[1], $0[2]) })
    }
}

/// RMSprop with optional momentum and centering, following PyTorch's update.
///
/// Reference: Hinton, "Neural Networks for Machine Learning", lecture 6e, 2012.
public final class RMSprop: Optimizer {
    public let alpha: Double, epsilon: Double, momentum: Double, centered: Bool

    public init(
        parameters: [Tensor] = [], groups: [ParameterGroup]? = nil, learningRate: Double = 1e-2,
        alpha: Double = 0.99, epsilon: Double = 1e-8, weightDecay: Double = 0, momentum: Double = 0,
        centered: Bool = false
    ) throws {
        guard alpha >= 0, epsilon >= 0, momentum >= 0 else {
            throw TensorError("rmsprop", "alpha, epsilon and momentum must be non-negative")
        }
        self.alpha = alpha
        self.epsilon = epsilon
        self.momentum = momentum
        self.centered = centered
        try super.init(
            parameters: parameters, groups: groups, learningRate: learningRate, weightDecay: weightDecay,
            name: "rmsprop")
    }

    public override func update(
        _ parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int,
        state: inout [String: Tensor]
    ) throws {
        let squareAverage = buffer("square_avg", like: parameter, in: &state)
        let gradientAverage = centered ? buffer("grad_avg", like: parameter, in: &state) : squareAverage
        let momentumBuffer = momentum > 0 ? buffer("momentum_buffer", like: parameter, in: &state) : squareAverage
        let (rate, decay, alpha, eps, momentum, centered) = (
            group.learningRate, group.weightDecay, alpha, epsilon, momentum, centered
        )
        let count = parameter.count
        func kernel<T: TensorFloat>(
            _ p: UnsafeMutablePointer<T>, _ g: UnsafeMutablePointer<T>, _ s: UnsafeMutablePointer<T>,
            _ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>
        ) {
            let (l2, keep, mix, epsilon, mu, lr) = (T(decay), T(alpha), T(1 - alpha), T(eps), T(momentum), T(rate))
            for i in 0..<count {
                let grad = g[i] + l2 * p[i]
                s[i] = keep * s[i] + mix * grad * grad
                var average: T
                if centered {
                    a[i] = keep * a[i] + mix * grad
                    average = T.squareRoot(s[i] - a[i] * a[i]) + epsilon
                } else {
                    average = T.squareRoot(s[i]) + epsilon
                }
                if momentum > 0 {
                    b[i] = mu * b[i] + grad / average
                    p[i] -= lr * b[i]
                } else {
                    p[i] -= lr * grad / average
                }
            }
        }
        withBuffers(
            [parameter, gradient, squareAverage, gradientAverage, momentumBuffer],
            float32: { kernel($0[0], $0[1], $0[2], $0[3], $0[4]) },
            float64: { kernel($0[0], $0[1], $0[2], $0[3], $0[4]) })
    }
}
