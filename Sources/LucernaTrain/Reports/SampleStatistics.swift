import Foundation

/// Mean, sample standard deviation and Student-t confidence intervals, as papers report "mean ± std over seeds"
/// and compare methods over the same seeds.
public enum SampleStatistics {
    public static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }

    /// The sample standard deviation (n − 1); 0 for fewer than two values.
    public static func standardDeviation(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let center = mean(values)
        return (values.reduce(0) { $0 + ($1 - center) * ($1 - center) } / Double(values.count - 1)).squareRoot()
    }

    /// The two-sided `level` confidence interval of the mean of `values` from Student's t distribution with
    /// n − 1 degrees of freedom: mean ± t·s/√n (SciPy's `stats.t.interval(level, n - 1, mean, sem)`); nil for
    /// fewer than two values or a level outside (0, 1).
    public static func confidenceInterval(_ values: [Double], level: Double = 0.95) -> (
        lower: Double, upper: Double
    )? {
        guard values.count > 1, level > 0, level < 1,
            let t = studentTQuantile(0.5 + level / 2, degreesOfFreedom: Double(values.count - 1))
        else { return nil }
        let half = t * standardDeviation(values) / Double(values.count).squareRoot()
        let center = mean(values)
        return (center - half, center + half)
    }

    /// The cumulative distribution function of Student's t distribution with `degreesOfFreedom` ν > 0 at `t`:
    /// 1 − ½·I_x(ν/2, ½) with x = ν/(ν + t²) for t ≥ 0, and symmetric.
    ///
    /// Reference: Abramowitz & Stegun 26.7.1 and 26.5.2; the incomplete beta function by its continued
    /// fraction (26.5.8), evaluated with the modified Lentz method.
    public static func studentTDistribution(_ t: Double, degreesOfFreedom: Double) -> Double? {
        guard degreesOfFreedom > 0, !t.isNaN else { return nil }
        if t.isInfinite { return t > 0 ? 1 : 0 }
        let x = degreesOfFreedom / (degreesOfFreedom + t * t)
        let tail = 0.5 * regularizedIncompleteBeta(x, degreesOfFreedom / 2, 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// The `probability` quantile of Student's t distribution with `degreesOfFreedom` ν > 0 (SciPy's
    /// `stats.t.ppf`), found by bisection on the distribution function to about 1e-12 relative; nil outside
    /// 0 < probability < 1.
    public static func studentTQuantile(_ probability: Double, degreesOfFreedom: Double) -> Double? {
        guard probability > 0, probability < 1, degreesOfFreedom > 0 else { return nil }
        if probability == 0.5 { return 0 }
        if probability < 0.5 {
            return studentTQuantile(1 - probability, degreesOfFreedom: degreesOfFreedom).map { -$0 }
        }
        var (low, high) = (0.0, 1.0)
        while (studentTDistribution(high, degreesOfFreedom: degreesOfFreedom) ?? 1) < probability {
            (low, high) = (high, high * 2)
            if high > 1e300 { return .infinity }
        }
        for _ in 0..<200 {
            let middle = (low + high) / 2
            if (studentTDistribution(middle, degreesOfFreedom: degreesOfFreedom) ?? 1) < probability {
                low = middle
            } else {
                high = middle
            }
            if high - low <= 1e-13 * high { break }
        }
        return (low + high) / 2
    }

    /// I_x(a, b), the regularized incomplete beta function, for 0 ≤ x ≤ 1 and a, b > 0: the continued fraction
    /// where it converges fast (x < (a + 1)/(a + b + 2)), else through I_x(a, b) = 1 − I_{1−x}(b, a).
    static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logFront: Double = logGammas + a * log(x) + b * log(1 - x)
        if x < (a + 1) / (a + b + 2) {
            return exp(logFront) * betaContinuedFraction(x, a, b) / a
        }
        return 1 - exp(logFront) * betaContinuedFraction(1 - x, b, a) / b
    }

    /// The continued fraction of the incomplete beta function (A&S 26.5.8) by the modified Lentz method.
    static func betaContinuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var result = d
        for m in 1...500 {
            let m = Double(m)
            // The even step: d_{2m} = m(b − m)x / ((a + 2m − 1)(a + 2m)).
            var term = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + term * d
            if abs(d) < tiny { d = tiny }
            c = 1 + term / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            result *= d * c
            // The odd step: d_{2m+1} = −(a + m)(a + b + m)x / ((a + 2m)(a + 2m + 1)).
            term = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + term * d
            if abs(d) < tiny { d = tiny }
            c = 1 + term / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            result *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return result
    }
}
