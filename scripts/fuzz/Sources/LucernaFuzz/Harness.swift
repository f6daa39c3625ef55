import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
import LucernaTrain

/// One fuzz input: the first byte picks the target, the rest is the file. Readers may throw (that is
/// the point: a clear error); any crash, trap or sanitizer report is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let data = Data(bytes: start + 1, count: count - 1)
    switch start[0] % 7 {
    // The inflate cap is 1 MiB here, so a 64 KiB input (deflate reaches 1032:1) can pass it.
    case 0:
        _ = try? IDX.decode(
            Gzip.isCompressed(data)
                ? Gzip.decompress(data, path: "fuzz.idx.gz", maximumBytes: 1 << 20, promisedSize: IDX.promisedSize)
                : data, path: "fuzz.idx")
    case 1: _ = try? Gzip.decompress(data, path: "fuzz.gz", maximumBytes: 1 << 20)
    case 2: _ = try? WAV.decode(data, path: "fuzz.wav")
    case 3: _ = try? CSVTable(data: data, path: "fuzz.csv")
    case 4: _ = try? Safetensors.decode(data, path: "fuzz.safetensors")
    case 5: resume(from: data)
    default:
        // The resampler on whatever a WAV decodes to, to one of the rates Lucerna uses.
        if let clip = try? WAV.decode(data, path: "fuzz.wav") {
            _ = try? clip.resampled(to: [8000, 16000, 22050][Int(data.count % 3)])
        }
    }
    return 0
}

/// A training resume from the input as the last checkpoint of a tiny model: the checkpoint is read,
/// verified and loaded (or refused with an error).
func resume(from data: Data) {
    let folder = NSTemporaryDirectory() + "lucerna-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let path = "\(folder)/fuzz-last.safetensors"
    guard (try? data.write(to: URL(fileURLWithPath: path))) != nil else { return }
    defer { try? FileManager.default.removeItem(atPath: path) }
    do {
        let linear = try Linear(2, 2)
        var options = Trainer.Options()
        options.name = "fuzz"
        options.epochs = 1
        options.batchSize = 4
        options.checkpointDirectory = folder
        options.resume = true
        options.epochsBeforeResume = 1
        options.verbose = false
        let trainer = try Trainer(
            model: TrainableModel(module: linear, inputKey: "inputs"),
            optimizer: try AdamW(parameters: linear.parameters(), learningRate: 0.01), schedule: nil,
            loss: { logits, batch in try Losses.crossEntropy(logits, batch["labels"] ?? logits) }, metrics: [],
            options: options)
        trainer.print = { _ in }
        let set = TensorDataset(
            name: "fuzz",
            tensors: [
                ("inputs", try Tensor.zeros([4, 2])), ("labels", try Tensor(shape: [4], integers: [0, 1, 0, 1])),
            ])
        _ = try trainer.fit(train: set, validation: nil)
    } catch {}
}

/// libFuzzer's driver (LLVMFuzzerRunDriver), called from the entry point SwiftPM gives executables.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("LucernaFuzz_main")
func fuzzerEntry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    // Foundation allocates a 4 KiB buffer on its first file read and keeps it; reading once before fuzzing
    // keeps that one-time allocation out of libFuzzer's leak check.
    _ = FileManager.default.contents(atPath: "/proc/self/stat")
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { fuzz($0, $1) }
}
