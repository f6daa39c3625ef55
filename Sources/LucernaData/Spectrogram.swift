import Foundation

/// Log-mel spectrograms, as torchaudio's `MelSpectrogram` (periodic Hann window, centred frames with
/// reflect padding, power 2, HTK mel scale, no filter normalisation) followed by `log(x + 1e-6)`.
///
/// Reference: Stevens, Volkmann & Newman, 1937 (the mel scale); torchaudio.transforms.MelSpectrogram.
public struct MelSpectrogram: Sendable {
    public let sampleRate: Int, fftSize: Int, hop: Int, mels: Int
    public let minimumFrequency: Double, maximumFrequency: Double
    /// `[mels, fftSize / 2 + 1]` triangular filters, row-major.
    let filters: [Double]
    let window: [Double]

    public init(
        sampleRate: Int, fftSize: Int = 256, hop: Int = 128, mels: Int = 40, minimumFrequency: Double = 0,
        maximumFrequency: Double? = nil
    ) throws {
        let top = maximumFrequency ?? Double(sampleRate) / 2
        guard sampleRate > 0, fftSize >= 8, fftSize <= 1 << 16, hop > 0, mels > 0, mels <= fftSize / 2 + 1,
            minimumFrequency >= 0, top > minimumFrequency, top <= Double(sampleRate) / 2 + 1e-9
        else {
            throw DataError(
                path: "mel_spectrogram",
                message:
                    "invalid settings: rate \(sampleRate), n_fft \(fftSize), hop \(hop), mels \(mels), f_min \(minimumFrequency), f_max \(top)"
            )
        }
        self.sampleRate = sampleRate
        self.fftSize = fftSize
        self.hop = hop
        self.mels = mels
        self.minimumFrequency = minimumFrequency
        self.maximumFrequency = top
        window = (0..<fftSize).map { 0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(fftSize)) }
        // HTK mel points, then triangles over the FFT bin frequencies (torchaudio.functional.melscale_fbanks).
        func mel(_ hertz: Double) -> Double { 2595 * log10(1 + hertz / 700) }
        func hertz(_ mel: Double) -> Double { 700 * (pow(10, mel / 2595) - 1) }
        let bins = fftSize / 2 + 1
        let low = mel(minimumFrequency)
        let high = mel(top)
        let points = (0..<(mels + 2)).map { hertz(low + (high - low) * Double($0) / Double(mels + 1)) }
        var filters = [Double](repeating: 0, count: mels * bins)
        for band in 0..<mels {
            for bin in 0..<bins {
                let frequency = Double(sampleRate) / 2 * Double(bin) / Double(bins - 1)
                let rising = (frequency - points[band]) / (points[band + 1] - points[band])
                let falling = (points[band + 2] - frequency) / (points[band + 2] - points[band + 1])
                filters[band * bins + bin] = max(0, min(rising, falling))
            }
        }
        self.filters = filters
    }

    /// `[mels, frames]` log-mel energies of `samples`, with `frames = 1 + samples / hop`.
    public func logMel(_ samples: [Float]) -> [[Float]] {
        let bins = fftSize / 2 + 1
        let padding = fftSize / 2
        // Reflect padding (torch.stft center=True, pad_mode="reflect"); short clips repeat reflections.
        func reflected(_ index: Int) -> Double {
            guard samples.count > 1 else { return samples.isEmpty ? 0 : Double(samples[0]) }
            let period = 2 * (samples.count - 1)
            var position = index % period
            if position < 0 { position += period }
            return Double(samples[position < samples.count ? position : period - position])
        }
        let frames = 1 + samples.count / hop
        var real = [Double](repeating: 0, count: fftSize)
        var imaginary = [Double](repeating: 0, count: fftSize)
        var output = [[Float]](repeating: [Float](repeating: 0, count: frames), count: mels)
        var power = [Double](repeating: 0, count: bins)
        for frame in 0..<frames {
            let start = frame * hop - padding
            for offset in 0..<fftSize {
                real[offset] = reflected(start + offset) * window[offset]
                imaginary[offset] = 0
            }
            FFT.transform(&real, &imaginary)
            for bin in 0..<bins { power[bin] = real[bin] * real[bin] + imaginary[bin] * imaginary[bin] }
            for band in 0..<mels {
                var energy = 0.0
                let row = band * bins
                for bin in 0..<bins where filters[row + bin] != 0 { energy += filters[row + bin] * power[bin] }
                output[band][frame] = Float(log(energy + 1e-6))
            }
        }
        return output
    }
}

/// In-place discrete Fourier transform: radix-2 for power-of-two sizes, a direct sum otherwise.
enum FFT {
    static func transform(_ real: inout [Double], _ imaginary: inout [Double]) {
        let count = real.count
        guard count > 1 else { return }
        guard count & (count - 1) == 0 else {
            let (inputReal, inputImaginary) = (real, imaginary)
            for k in 0..<count {
                var sumReal = 0.0
                var sumImaginary = 0.0
                for n in 0..<count {
                    let angle = -2 * Double.pi * Double(k * n % count) / Double(count)
                    sumReal += inputReal[n] * cos(angle) - inputImaginary[n] * sin(angle)
                    sumImaginary += inputReal[n] * sin(angle) + inputImaginary[n] * cos(angle)
                }
                real[k] = sumReal
                imaginary[k] = sumImaginary
            }
            return
        }
        // 1. Bit-reversal permutation.
        var j = 0
        for i in 1..<count {
            var bit = count >> 1
            while j & bit != 0 {
                j ^= bit
                bit >>= 1
            }
            j |= bit
            if i < j {
                real.swapAt(i, j)
                imaginary.swapAt(i, j)
            }
        }
        // 2. Butterflies.
        var length = 2
        while length <= count {
            let angle = -2 * Double.pi / Double(length)
            let stepReal = cos(angle)
            let stepImaginary = sin(angle)
            var start = 0
            while start < count {
                var twiddleReal = 1.0
                var twiddleImaginary = 0.0
                for offset in 0..<(length / 2) {
                    let even = start + offset
                    let odd = even + length / 2
                    let productReal = real[odd] * twiddleReal - imaginary[odd] * twiddleImaginary
                    let productImaginary = real[odd] * twiddleImaginary + imaginary[odd] * twiddleReal
                    real[odd] = real[even] - productReal
                    imaginary[odd] = imaginary[even] - productImaginary
                    real[even] += productReal
                    imaginary[even] += productImaginary
                    let nextReal = twiddleReal * stepReal - twiddleImaginary * stepImaginary
                    twiddleImaginary = twiddleReal * stepImaginary + twiddleImaginary * stepReal
                    twiddleReal = nextReal
                }
                start += length
            }
            length <<= 1
        }
    }
}
