/// The contingency table of two labelings of the same samples: the count of each (first, second) label
/// pair, and each labeling's cluster sizes.
struct ContingencyTable {
    var joint: [Int: [Int: Int]] = [:]
    var rows: [Int: Int] = [:]
    var columns: [Int: Int] = [:]

    init(_ first: [Int], _ second: [Int]) {
        for (a, b) in zip(first, second) {
            joint[a, default: [:]][b, default: 0] += 1
            rows[a, default: 0] += 1
            columns[b, default: 0] += 1
        }
    }
}
