/// Mean and sample standard deviation, as papers report "mean ± std over seeds".
public enum SampleStatistics {
    public static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }

    /// The sample standard deviation (n − 1); 0 for fewer than two values.
    public static func standardDeviation(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let center = mean(values)
        return (values.reduce(0) { $0 + ($1 - center) * ($1 - center) } / Double(values.count - 1)).squareRoot()
    }
}
