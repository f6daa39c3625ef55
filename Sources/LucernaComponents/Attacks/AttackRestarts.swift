/// Restarts shared by the attacks: each attempt runs on the inputs not yet fooled, and an input keeps the
/// values of the first attempt that fools the model.
enum AttackRestarts {
    /// Up to `times` attempts on the rows in `pending` of a flat batch of `sampleSize` values per row;
    /// `attempt` gets those rows (in order) and returns their new values and which it fooled; fooled rows get
    /// their values in `result` and leave `pending`, which is returned.
    static func keepFirstSuccess(
        result: inout [Double], sampleSize: Int, pending: [Int], times: Int,
        attempt: (_ rows: [Int]) throws -> (values: [Double], fooled: [Bool])
    ) rethrows -> [Int] {
        var pending = pending
        for _ in 0..<times where !pending.isEmpty {
            let (values, fooled) = try attempt(pending)
            for (position, sample) in pending.enumerated() where fooled[position] {
                for index in 0..<sampleSize {
                    result[sample * sampleSize + index] = values[position * sampleSize + index]
                }
            }
            pending = pending.enumerated().filter { !fooled[$0.offset] }.map(\.element)
        }
        return pending
    }
}
