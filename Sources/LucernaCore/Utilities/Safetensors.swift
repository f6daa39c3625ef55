import Foundation

/// Reading and writing the safetensors format (an 8-byte little-endian header length, a JSON header
/// of `name: {dtype, shape, data_offsets}`, then the raw little-endian data), interoperable with
/// Python's `safetensors` and PyTorch state dicts. Supports F32, F64 and I64.
public enum Safetensors {
    /// A malformed or unreadable file.
    public struct FormatError: Error, CustomStringConvertible {
        public let path: String
        public let message: String
        public var description: String { "safetensors: \(path): \(message)" }
    }

    static func code(_ dtype: DType) -> String {
        switch dtype {
        case .float32: return "F32"
        case .float64: return "F64"
        case .int64: return "I64"
        }
    }

    /// Serialises named tensors (in the given order) with optional string metadata.
    /// With `digest`, the metadata gets a `content_digest` of the tensor bytes, which ``decode(_:path:)``
    /// verifies: a corrupted file is an error, never a silently different tensor.
    public static func encode(
        _ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], digest: Bool = false
    ) throws -> Data {
        func appendBytes(to data: inout Data) {
            for (_, tensor) in tensors {
                data.append(Data(bytes: tensor.storage.pointer, count: tensor.count * tensor.dtype.byteWidth))
            }
        }
        // The digest is of the whole buffer, so with one the buffer is assembled first (one more copy).
        var buffer: Data?
        var metadata = metadata
        if digest {
            var bytes = Data()
            appendBytes(to: &bytes)
            metadata[digestKey] = contentDigest(of: bytes)
            buffer = bytes
        }
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var seen = Set<String>()
        for (name, tensor) in tensors {
            guard seen.insert(name).inserted, name != "__metadata__" else {
                throw FormatError(path: "<memory>", message: "duplicate or reserved tensor name \(name)")
            }
            let bytes = tensor.count * tensor.dtype.byteWidth
            header[name] = [
                "dtype": code(tensor.dtype), "shape": tensor.shape, "data_offsets": [offset, offset + bytes],
            ]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(json)
        if let buffer { data.append(buffer) } else { appendBytes(to: &data) }
        return data
    }

    /// The metadata key of the tensor bytes' digest.
    public static let digestKey = "content_digest"

    static func contentDigest(of buffer: Data) -> String {
        var digest = ContentDigest()
        buffer.withUnsafeBytes { digest.update($0) }
        return digest.hex
    }

    /// Writes atomically: to a temporary file beside `path`, then renamed over it.
    public static func write(
        _ tensors: [(name: String, tensor: Tensor)], to path: String,
        metadata: [String: String] = [:], digest: Bool = false
    ) throws {
        let data = try encode(tensors, metadata: metadata, digest: digest)
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try data.write(to: temporary)
            // rename(2) replaces the target atomically: readers see the old file or the new one.
            guard rename(temporary.path, path) == 0 else {
                throw FormatError(path: path, message: "cannot rename the temporary file into place (errno \(errno))")
            }
        } catch let error as FormatError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FormatError(path: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Reads every tensor of a file, in file order, plus its metadata.
    public static func read(_ path: String) throws -> (
        tensors: [(name: String, tensor: Tensor)], metadata: [String: String]
    ) {
        guard let data = readFile(path) else {
            throw FormatError(path: path, message: "cannot read the file (missing or unreadable)")
        }
        return try decode(data, path: path)
    }

    /// The bytes of a regular file, read with POSIX calls (FoundationEssentials' `FileManager.contents`
    /// leaks a 4 KiB buffer on some reads, which the fuzzer's leak check reports).
    static func readFile(_ path: String) -> Data? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var information = stat()
        guard fstat(descriptor, &information) == 0, information.st_mode & S_IFMT == S_IFREG else { return nil }
        var data = Data(count: Int(information.st_size))
        let complete = data.withUnsafeMutableBytes { buffer -> Bool in
            var done = 0
            while done < buffer.count, let base = buffer.baseAddress {
                let count = Glibc.read(descriptor, base + done, buffer.count - done)
                if count <= 0 { return false }
                done += count
            }
            return true
        }
        return complete ? data : nil
    }

    /// Parses safetensors bytes; `path` only labels errors.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> (
        tensors: [(name: String, tensor: Tensor)], metadata: [String: String]
    ) {
        func fail(_ message: String) -> FormatError { FormatError(path: path, message: message) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) {
            $0 | UInt64($1.element) << (8 * UInt64($1.offset))
        }
        guard headerLength <= UInt64(data.count - 8), headerLength <= 100_000_000 else {
            throw fail("header length \(headerLength) exceeds the file size \(data.count)")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        // As the reference implementation: the header starts with '{' (it may end in padding spaces).
        guard headerData.first == UInt8(ascii: "{"),
            let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any]
        else {
            throw fail("header is not a JSON object")
        }
        /// A JSON number that is a whole non-negative integer written as one (2.0, 2.5 and true are not).
        func whole(_ value: Any) -> Int? {
            // JSONSerialization marks how a number was written: "d" for 2.0 and 2.5, "c" for true.
            guard let number = value as? NSNumber else { return nil }
            let type = String(cString: number.objCType)
            guard type != "d", type != "f", type != "c", type != "B", number.int64Value >= 0 else { return nil }
            return Int(exactly: number.int64Value)
        }
        let bufferStart = 8 + Int(headerLength)
        let bufferLength = data.count - bufferStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, tensor: Tensor, begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let values = value as? [String: String] else {
                    throw fail("__metadata__ must map strings to strings")
                }
                metadata = values
                continue
            }
            guard let info = value as? [String: Any], let dtypeCode = info["dtype"] as? String,
                let shapeValues = info["shape"] as? [Any], let offsetValues = info["data_offsets"] as? [Any],
                offsetValues.count == 2
            else {
                throw fail("tensor \(name): entry needs dtype, shape and two data_offsets")
            }
            let shape = shapeValues.compactMap(whole)
            let offsets = offsetValues.compactMap(whole)
            guard shape.count == shapeValues.count, offsets.count == 2 else {
                throw fail(
                    "tensor \(name): shape \(shapeValues) and data_offsets \(offsetValues) must be non-negative integers"
                )
            }
            let dtype: DType
            switch dtypeCode {
            case "F32": dtype = .float32
            case "F64": dtype = .float64
            case "I64": dtype = .int64
            default: throw fail("tensor \(name): unsupported dtype \(dtypeCode) (F32, F64 and I64 are supported)")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor \(name): negative dimension in \(shape)") }
            let (count, overflow) = shape.reduce((1, false)) { partial, size in
                let (product, didOverflow) = partial.0.multipliedReportingOverflow(by: size)
                return (product, partial.1 || didOverflow)
            }
            guard !overflow, offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= bufferLength,
                offsets[1] - offsets[0] == count * dtype.byteWidth
            else {
                throw fail(
                    "tensor \(name): offsets \(offsets) do not hold \(dtypeCode) \(shape) within a \(bufferLength)-byte buffer (truncated file?)"
                )
            }
            let tensor = Tensor(uninitializedShape: shape, dtype: dtype)
            data.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress, count > 0 {
                    tensor.storage.pointer.copyMemory(
                        from: base + bufferStart + offsets[0], byteCount: offsets[1] - offsets[0])
                }
            }
            entries.append((name, tensor, offsets[0], offsets[1]))
        }
        entries.sort { $0.begin != $1.begin ? $0.begin < $1.begin : $0.name < $1.name }
        // The reference implementation's layout rules: tensors tile the buffer in offset order, with no gap
        // and no overlap, and the last one ends where the file ends.
        var end = 0
        for entry in entries {
            guard entry.begin == end else {
                throw fail(
                    "tensor \(entry.name) starts at byte \(entry.begin) of the buffer, not at \(end) where the one before it ends (\(entry.begin > end ? "a gap" : "overlapping data"))"
                )
            }
            end = entry.end
        }
        guard end == bufferLength else {
            throw fail(
                "the tensors end at byte \(end) of a \(bufferLength)-byte buffer (trailing bytes the header does not cover)"
            )
        }
        if let expected = metadata[digestKey], contentDigest(of: data.subdata(in: bufferStart..<data.count)) != expected
        {
            throw fail("the tensor bytes do not match the file's content digest: the file is corrupt")
        }
        return (entries.map { ($0.name, $0.tensor) }, metadata)
    }
}
