import LucernaCore

/// A parameter-free elementwise layer.
public final class Activation: Module {
    /// The supported functions, named as PyTorch's classes.
    public enum Kind: Sendable, Equatable {
        case relu
        case leakyRelu(slope: Double)
        case gelu(approximate: Bool)
        case sigmoid, tanh, softplus, silu, identity
    }

    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public override func forward(_ input: Tensor) throws -> Tensor {
        switch kind {
        case .relu: return try input.relu()
        case .leakyRelu(let slope): return try input.leakyRelu(slope: slope)
        case .gelu(let approximate): return try input.gelu(approximate: approximate)
        case .sigmoid: return try input.sigmoid()
        case .tanh: return try input.tanh()
        case .softplus: return try input.softplus()
        case .silu: return try input.silu()
        case .identity: return input
        }
    }

    public override var typeName: String {
        switch kind {
        case .relu: return "ReLU"
        case .leakyRelu: return "LeakyReLU"
        case .gelu: return "GELU"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        case .softplus: return "Softplus"
        case .silu: return "SiLU"
        case .identity: return "Identity"
        }
    }
}

// swift-format-ignore: AlwaysUseLowerCamelCase
// (a factory named like the PyTorch class it stands for)
/// `ReLU()`.
public func ReLU() -> Activation { Activation(.relu) }
// swift-format-ignore: AlwaysUseLowerCamelCase
// (a factory named like the PyTorch class it stands for)
/// `LeakyReLU(slope)`.
public func LeakyReLU(_ slope: Double = 0.01) -> Activation { Activation(.leakyRelu(slope: slope)) }
// swift-format-ignore: AlwaysUseLowerCamelCase
// (a factory named like the PyTorch class it stands for)
/// `GELU()`.
public func GELU(approximate: Bool = false) -> Activation { Activation(.gelu(approximate: approximate)) }
// swift-format-ignore: AlwaysUseLowerCamelCase
// (a factory named like the PyTorch class it stands for)
/// `SiLU()`: x·σ(x).
public func SiLU() -> Activation { Activation(.silu) }
// swift-format-ignore: AlwaysUseLowerCamelCase
// (a factory named like the PyTorch class it stands for)
/// `Sigmoid()`.
public func Sigmoid() -> Activation { Activation(.sigmoid) }
// swift-format-ignore: AlwaysUseLowerCamelCase
// (a factory named like the PyTorch class it stands for)
/// `Tanh()`.
public func Tanh() -> Activation { Activation(.tanh) }
