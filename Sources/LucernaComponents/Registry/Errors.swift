import LucernaCore

/// The concern of a configuration that cannot be used: an unknown or missing option, a value of the wrong
/// type or out of range, a bad spec table (components and `train{}` reading their options).
public enum Configuration {}
public typealias ConfigurationError = ConcernError<Configuration>

/// The concern of a registry lookup or registration that failed: an unknown kind or component (with the
/// closest names), a second registration without `override`, a factory that built another kind.
public enum Registration {}
public typealias RegistryError = ConcernError<Registration>
