import LucernaCore

/// Expected calibration error: samples binned by confidence (the top probability) into `bins` equal-width
/// bins; the support-weighted mean of |accuracy − mean confidence| per bin.
public final class CalibrationError: PredictionRecord {
    static let options = [
        OptionSpec("bins", .integer, default: .number(15), "equal-width confidence bins"), scoreOption,
    ]
    let bins: Int

    init(config: Config) throws {
        bins = try config.positiveInteger("bins")
        try super.init(owner: config.owner, config: config)
    }

    public override func compute() throws -> Double {
        try requireSamples()
        var count = [Int](repeating: 0, count: bins)
        var confidence = [Double](repeating: 0, count: bins)
        var correct = confidence
        for (row, (guess, truth)) in zip(probabilities, zip(predicted, targets)) {
            let top = row[guess]
            // Bins (k/B, (k+1)/B] as torchmetrics and the paper's code; confidence 0 goes to the first.
            let bin = min(bins - 1, max(0, Int((top * Double(bins)).rounded(.up)) - 1))
            count[bin] += 1
            confidence[bin] += top
            if guess == truth { correct[bin] += 1 }
        }
        return (0..<bins).filter { count[$0] > 0 }.reduce(0) { total, bin in
            total + abs(correct[bin] - confidence[bin]) / Double(targets.count)
        }
    }
}

extension CalibrationError: RegisteredComponent {
    public static let registrations: [ComponentEntry] = [
        ComponentEntry(
            .metric, "ece", "expected calibration error over equal-width confidence bins",
            reference: "Guo, Pleiss, Sun & Weinberger, \"On Calibration of Modern Neural Networks\", ICML 2017",
            options: CalibrationError.options, build: CalibrationError.init)
    ]
}
