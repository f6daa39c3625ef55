/// An error raised by a tensor operation: it names the operation and says what was wrong,
/// including the shapes involved, e.g. `matmul: [64, 784] x [100, 10]: inner dimensions differ`.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    /// The operation that failed (`matmul`, `conv2d`, ...).
    public let operation: String
    /// What was wrong.
    public let message: String

    public init(_ operation: String, _ message: String) {
        self.operation = operation
        self.message = message
    }

    public var description: String { "\(operation): \(message)" }
}

/// Formats a shape as `[2, 3]` for error messages.
@inlinable
public func describe(shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
