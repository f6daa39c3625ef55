/// An error of one concern, naming what raised it and saying what was wrong: `owner: message`. Each
/// concern is its own type — ``TensorError`` here, the components' `ConfigurationError` and `RegistryError`,
/// the run layer's `RunError`, the Lua bridge's `ScriptError` (and the data layer's `DataError`, which names
/// a file) — so a caller can tell them apart, while the messages read alike.
public struct ConcernError<Concern>: Error, CustomStringConvertible, Equatable {
    /// What raised it: the operation (`matmul`), the component (`fusions.concat`), the option's owner (`train`).
    public let owner: String
    /// What was wrong.
    public let message: String

    public init(_ owner: String, _ message: String) {
        self.owner = owner
        self.message = message
    }

    public var description: String { "\(owner): \(message)" }
}

/// The concern of a tensor operation that cannot be carried out: it names the operation and says what was
/// wrong, including the shapes involved, e.g. `matmul: [64, 784] x [100, 10]: inner dimensions differ`.
public enum TensorOperation {}
public typealias TensorError = ConcernError<TensorOperation>

/// Formats a shape as `[2, 3]` for error messages.
@inlinable
public func describe(shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
