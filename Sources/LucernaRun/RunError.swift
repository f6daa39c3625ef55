import LucernaCore

/// The concern of a run that cannot go on: its folder cannot be written, its records or summaries cannot be
/// read, its seeds logged nothing to aggregate.
public enum RunFolder {}
public typealias RunError = ConcernError<RunFolder>
