import LucernaCore

/// The adjusted Rand index of two labelings (Hubert & Arabie 1985; scikit-learn's `adjusted_rand_score`):
/// 1 for the same partition whatever the label names, about 0 for independent ones.
public func adjustedRandIndex(_ first: [Int], _ second: [Int]) throws -> Double {
    guard first.count == second.count, !first.isEmpty else {
        throw TensorError(
            "adjusted_rand_index", "needs two labelings of the same samples, got \(first.count) and \(second.count)")
    }
    let counts = ContingencyTable(first, second)
    let (table, rows, columns) = (counts.joint, counts.rows, counts.columns)
    func pairs(_ count: Int) -> Double { Double(count) * Double(count - 1) / 2 }
    let index = table.values.flatMap(\.values).reduce(0) { $0 + pairs($1) }
    let rowPairs = rows.values.reduce(0) { $0 + pairs($1) }
    let columnPairs = columns.values.reduce(0) { $0 + pairs($1) }
    let expected = rowPairs * columnPairs / pairs(first.count)
    let maximum = (rowPairs + columnPairs) / 2
    // sklearn: identical trivial partitions (one cluster, or all singletons) score 1.
    guard maximum != expected else { return 1 }
    return (index - expected) / (maximum - expected)
}
