import Foundation
import LucernaData

/// One fuzz input: the first byte picks the reader, the rest is the file. Readers may throw (that is
/// the point: a clear error); any crash, trap or sanitizer report is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let data = Data(bytes: start + 1, count: count - 1)
    switch start[0] % 4 {
    case 0: _ = try? IDX.decode(data, path: "fuzz.idx")
    case 1: _ = try? Gzip.decompress(data, path: "fuzz.gz")
    case 2: _ = try? WAV.decode(data, path: "fuzz.wav")
    default: _ = try? CSVTable(data: data, path: "fuzz.csv")
    }
    return 0
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
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { fuzz($0, $1) }
}
