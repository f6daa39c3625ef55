import CZlib
import Foundation

/// Gzip decompression through zlib (Foundation on Linux cannot gunzip).
public enum Gzip {
    /// Whether `data` starts with the gzip magic bytes.
    public static func isCompressed(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// The most any reader inflates: 4 GiB, or a quarter of this machine's memory if that is less.
    public static let maximumBytes = Int(min(UInt64(4) << 30, ProcessInfo.processInfo.physicalMemory / 4))

    /// Inflates a complete gzip stream (concatenated members included), in 1 MiB chunks; throws on
    /// truncated or corrupt input, and once the output passes `maximumBytes` or the size the format's own
    /// header promises (`promisedSize` reads it from the first inflated bytes; nil until there are enough),
    /// so a small file that inflates to gigabytes (a "zip bomb") is an error, not an allocation failure.
    public static func decompress(
        _ data: Data, path: String, maximumBytes: Int = Gzip.maximumBytes,
        promisedSize: ((Data) throws -> Int?)? = nil
    ) throws -> Data {
        var cap = maximumBytes
        var capIsPromised = false
        func checkSize(_ output: Data) throws {
            if !capIsPromised, let promisedSize, let promised = try promisedSize(output) {
                guard promised <= maximumBytes else {
                    throw DataError(
                        path: path,
                        message:
                            "its header promises \(promised) bytes, more than the \(maximumBytes) a reader inflates")
                }
                cap = promised
                capIsPromised = true
            }
            guard output.count <= cap else {
                throw DataError(
                    path: path,
                    message: capIsPromised
                        ? "inflates to more than the \(cap) bytes its header promises"
                        : "inflates to more than \(cap) bytes, the most a reader inflates")
            }
        }
        var stream = z_stream()
        var status = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw DataError(path: path, message: "zlib could not start (code \(status))") }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunkSize = 1 << 20
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let base = input.bindMemory(to: UInt8.self).baseAddress else {
                throw DataError(path: path, message: "empty gzip stream")
            }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(input.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(chunkSize)
                    status = inflate(&stream, Z_NO_FLUSH)
                    if status == Z_STREAM_END && stream.avail_in > 0 {
                        // Another gzip member follows.
                        if let start = buffer.baseAddress {
                            output.append(start, count: chunkSize - Int(stream.avail_out))
                        }
                        try checkSize(output)
                        guard inflateReset(&stream) == Z_OK else {
                            throw DataError(
                                path: path, message: "corrupt gzip stream (cannot reset for the next member)")
                        }
                        status = Z_OK
                        return
                    }
                    guard status == Z_OK || status == Z_STREAM_END else {
                        let reason = stream.msg.map { String(cString: $0) } ?? "code \(status)"
                        throw DataError(
                            path: path, message: "corrupt gzip stream (\(reason)) after \(output.count) bytes")
                    }
                    if let start = buffer.baseAddress { output.append(start, count: chunkSize - Int(stream.avail_out)) }
                    try checkSize(output)
                }
                if status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw DataError(
                        path: path, message: "truncated gzip stream after \(output.count) decompressed bytes")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}

/// A data file that is missing, truncated or malformed.
public struct DataError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}
