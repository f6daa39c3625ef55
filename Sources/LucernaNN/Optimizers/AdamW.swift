import CKernels
import Foundation
import LucernaCore

/// Adam (Kingma & Ba) with L2 weight decay folded into the gradient, or, with `decoupled`, AdamW
/// (Loshchilov & Hutter) with decoupled weight decay; PyTorch's update order and bias correction.
///
/// Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization", 2015; Loshchilov & Hutter,
/// "Decoupled Weight Decay Regularization", 2019.
public final class Adam: Optimizer {
    public let beta1: Double, beta2: Double, epsilon: Double
    public let decoupled: Bool, amsgrad: Bool

    public init(
        parameters: [Tensor] = [], groups: [ParameterGroup]? = nil, learningRate: Double = 1e-3,
        betas: (Double, Double) = (0.9, 0.999), epsilon: Double = 1e-8, weightDecay: Double = 0,
        decoupled: Bool = false, amsgrad: Bool = false
    ) throws {
        guard betas.0 >= 0, betas.0 < 1, betas.1 >= 0, betas.1 < 1, epsilon >= 0 else {
            throw TensorError(decoupled ? "adamw" : "adam", "betas \(betas) must be in [0, 1) and epsilon non-negative")
        }
        beta1 = betas.0
        beta2 = betas.1
        self.epsilon = epsilon
        self.decoupled = decoupled
        self.amsgrad = amsgrad
        try super.init(
            parameters: parameters, groups: groups, learningRate: learningRate, weightDecay: weightDecay,
            name: decoupled ? "adamw" : "adam")
    }

    public override func update(
        _ parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int,
        state: inout [String: Tensor]
    ) throws {
        let firstMoment = buffer("exp_avg", like: parameter, in: &state)
        let secondMoment = buffer("exp_avg_sq", like: parameter, in: &state)
        let maximum = amsgrad ? buffer("max_exp_avg_sq", like: parameter, in: &state) : secondMoment
        let rate = group.learningRate
        let decay = group.weightDecay
        let (b1, b2, eps, decoupled, amsgrad) = (beta1, beta2, epsilon, self.decoupled, self.amsgrad)
        let correction1 = 1 - Foundation.pow(b1, Double(step))
        let correction2Root = (1 - Foundation.pow(b2, Double(step))).squareRoot()
        let stepSize = rate / correction1
        let constants = AdamConstants(
            rate: rate, decay: decay, beta1: b1, beta2: b2, epsilon: eps, stepSize: stepSize,
            correction2Root: correction2Root, decoupled: decoupled, amsgrad: amsgrad)
        let count = parameter.count
        func kernel<T: TensorFloat>(
            _ p: UnsafeMutablePointer<T>, _ g: UnsafeMutablePointer<T>,
            _ m: UnsafeMutablePointer<T>, _ v: UnsafeMutablePointer<T>,
            _ vMax: UnsafeMutablePointer<T>
        ) {
            Parallel.forEachChunk(count, costPerItem: 16) { range in
                adamUpdate(
                    p + range.lowerBound, g + range.lowerBound, m + range.lowerBound, v + range.lowerBound,
                    vMax + range.lowerBound, range.count, constants)
            }
        }
        withBuffers(
            [parameter, gradient, firstMoment, secondMoment, maximum],
            float32: { kernel($0[0], $0[1], $0[2], $0[3], $0[4]) },
            float64: { kernel($0[0], $0[1], $0[2], $0[3], $0[4]) })
    }
}

// swift-format-ignore: AlwaysUseLowerCamelCase
// (a factory named like the PyTorch class it stands for)
/// AdamW: Adam with decoupled weight decay (default 1e-2, as in PyTorch).
public func AdamW(
    parameters: [Tensor] = [], groups: [ParameterGroup]? = nil, learningRate: Double = 1e-3,
    betas: (Double, Double) = (0.9, 0.999), epsilon: Double = 1e-8, weightDecay: Double = 1e-2,
    amsgrad: Bool = false
) throws -> Adam {
    try Adam(
        parameters: parameters, groups: groups, learningRate: learningRate, betas: betas, epsilon: epsilon,
        weightDecay: weightDecay, decoupled: true, amsgrad: amsgrad)
}

/// Scalars of one Adam step.
struct AdamConstants {
    let rate: Double, decay: Double, beta1: Double, beta2: Double, epsilon: Double, stepSize: Double
    let correction2Root: Double, decoupled: Bool, amsgrad: Bool
}

/// The fused Adam/AdamW update over contiguous buffers (PyTorch's order of operations).
@inline(__always)
func adamUpdate<T: TensorFloat>(
    _ p: UnsafeMutablePointer<T>, _ g: UnsafeMutablePointer<T>, _ m: UnsafeMutablePointer<T>,
    _ v: UnsafeMutablePointer<T>, _ vMax: UnsafeMutablePointer<T>, _ count: Int,
    _ c: AdamConstants, vectorize: Bool = true
) {
    let shrink = T(1 - c.rate * c.decay)
    let l2 = T(c.decay)
    let (beta1, beta2) = (T(c.beta1), T(c.beta2))
    let (oneMinus1, oneMinus2) = (T(1 - c.beta1), T(1 - c.beta2))
    let (size, root2, epsilon) = (T(c.stepSize), T(c.correction2Root), T(c.epsilon))
    // Adam without weight decay is AdamW with a shrink of exactly 1, so it shares the kernel.
    if vectorize, (c.decoupled || c.decay == 0) && !c.amsgrad, T.self == Float.self {
        // The common case, eight lanes at a time (the buffers are distinct, so loads and stores do not alias).
        adamWVectorized(
            UnsafeMutableRawPointer(p), UnsafeRawPointer(g), UnsafeMutableRawPointer(m),
            UnsafeMutableRawPointer(v), count, c)
        return
    }
    if c.decoupled && !c.amsgrad {
        for i in 0..<count {
            let grad = g[i]
            let parameter = p[i] * shrink
            let first = beta1 * m[i] + oneMinus1 * grad
            let second = beta2 * v[i] + oneMinus2 * grad * grad
            m[i] = first
            v[i] = second
            p[i] = parameter - size * first / (second.squareRoot() / root2 + epsilon)
        }
        return
    }
    for i in 0..<count {
        var grad = g[i]
        if c.decoupled { p[i] *= shrink } else if c.decay != 0 { grad += l2 * p[i] }
        m[i] = beta1 * m[i] + oneMinus1 * grad
        v[i] = beta2 * v[i] + oneMinus2 * grad * grad
        var second = v[i]
        if c.amsgrad {
            vMax[i] = Swift.max(vMax[i], v[i])
            second = vMax[i]
        }
        p[i] -= size * m[i] / (second.squareRoot() / root2 + epsilon)
    }
}

/// AdamW over Float buffers through the C kernel, which uses AVX-512 or AVX2 when the CPU has them and
/// performs the same operations as the scalar loop above (so results do not depend on the machine).
func adamWVectorized(
    _ p: UnsafeMutableRawPointer, _ g: UnsafeRawPointer, _ m: UnsafeMutableRawPointer,
    _ v: UnsafeMutableRawPointer, _ count: Int, _ c: AdamConstants
) {
    lucerna_adamw_f32(
        p.assumingMemoryBound(to: Float.self), g.assumingMemoryBound(to: Float.self),
        m.assumingMemoryBound(to: Float.self), v.assumingMemoryBound(to: Float.self), count,
        Float(1 - c.rate * c.decay), Float(c.beta1), Float(c.beta2), Float(1 - c.beta1), Float(1 - c.beta2),
        Float(c.stepSize), Float(c.correction2Root), Float(c.epsilon))
}
