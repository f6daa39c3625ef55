import Foundation
import LucernaCore

/// The IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed): a big-endian magic
/// `0x0000_08_DD` (unsigned bytes, `DD` dimensions), the dimension sizes, then the data.
public enum IDX {
    /// The decoded contents: shape and unsigned-byte values.
    public struct Array {
        public let shape: [Int]
        public let bytes: [UInt8]
    }

    /// Reads an IDX file of unsigned bytes; the `.gz` form is detected by its magic bytes.
    public static func read(_ path: String) throws -> Array {
        guard let raw = FileManager.default.contents(atPath: path) else {
            throw DataError(path: path, message: "cannot read the file (missing or unreadable)")
        }
        return try decode(
            Gzip.isCompressed(raw) ? Gzip.decompress(raw, path: path, promisedSize: promisedSize) : raw, path: path)
    }

    /// The file size an IDX header promises (header plus values), once `prefix` holds the whole header;
    /// nil before. The inflation of a `.gz` stops there.
    public static func promisedSize(_ prefix: Data) throws -> Int? {
        guard prefix.count >= 4 else { return nil }
        let rank = Int(prefix[prefix.startIndex + 3])
        guard rank >= 1, rank <= 4 else { return nil }  // decode reports the bad header
        let headerSize = 4 + 4 * rank
        guard prefix.count >= headerSize else { return nil }
        var total = 1
        for axis in 0..<rank {
            let start = prefix.startIndex + 4 + 4 * axis
            let size = prefix[start..<(start + 4)].reduce(0) { $0 << 8 | Int($1) }
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            total = overflow ? Int.max - headerSize : product
        }
        return headerSize + total
    }

    /// Parses IDX bytes; `path` labels errors.
    public static func decode(_ data: Data, path: String) throws -> Array {
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else {
            throw DataError(path: path, message: "file of \(bytes.count) bytes has no IDX header")
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DataError(
                path: path,
                message: "bad magic \(bytes.prefix(4).map { String(format: "%02x", $0) }.joined()): not an IDX file")
        }
        guard bytes[2] == 0x08 else {
            throw DataError(
                path: path, message: "element type 0x\(String(format: "%02x", bytes[2])) is not unsigned byte (0x08)")
        }
        let rank = Int(bytes[3])
        guard rank >= 1, rank <= 4, bytes.count >= 4 + 4 * rank else {
            throw DataError(
                path: path, message: "\(rank) dimensions with a \(bytes.count)-byte file: header truncated or invalid")
        }
        var shape: [Int] = []
        for axis in 0..<rank {
            let start = 4 + 4 * axis
            shape.append(bytes[start..<(start + 4)].reduce(0) { $0 << 8 | Int($1) })
        }
        var expected = 1
        for size in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: size)
            guard !overflow else { throw DataError(path: path, message: "dimensions \(shape) are impossibly large") }
            expected = product
        }
        let available = bytes.count - 4 - 4 * rank
        guard available == expected else {
            throw DataError(
                path: path,
                message:
                    "header promises \(shape.map(String.init).joined(separator: "x")) = \(expected) values but the file holds \(available)\(available < expected ? " (truncated)" : " (trailing bytes)")"
            )
        }
        return Array(shape: shape, bytes: Swift.Array(bytes[(4 + 4 * rank)...]))
    }
}

/// Images and labels of an MNIST-format set in memory.
public struct ImageClassificationSet {
    /// `[N, 1, H, W]` Float32 in [0, 1].
    public let images: Tensor
    /// `[N]` int64.
    public let labels: Tensor
    public var count: Int { labels.count }

    public init(images: Tensor, labels: Tensor) {
        self.images = images
        self.labels = labels
    }

    /// Loads `prefix-images-idx3-ubyte(.gz)` and `prefix-labels-idx1-ubyte(.gz)` from `folder`.
    public static func loadIDX(folder: String, prefix: String) throws -> ImageClassificationSet {
        func locate(_ name: String) throws -> String {
            for candidate in ["\(folder)/\(name).gz", "\(folder)/\(name)"]
            where FileManager.default.fileExists(atPath: candidate) {
                return candidate
            }
            throw DataError(path: "\(folder)/\(name).gz", message: "not found")
        }
        let imagesPath = try locate("\(prefix)-images-idx3-ubyte")
        let labelsPath = try locate("\(prefix)-labels-idx1-ubyte")
        let images = try IDX.read(imagesPath)
        let labels = try IDX.read(labelsPath)
        guard images.shape.count == 3 else {
            throw DataError(path: imagesPath, message: "expected 3 dimensions (N, H, W), got \(images.shape)")
        }
        guard labels.shape.count == 1, labels.shape[0] == images.shape[0] else {
            throw DataError(path: labelsPath, message: "\(labels.shape) labels for \(images.shape[0]) images")
        }
        if let bad = labels.bytes.first(where: { $0 > 9 }) {
            throw DataError(path: labelsPath, message: "label \(bad) outside 0-9")
        }
        let scale: Float = 1 / 255
        let pixels = images.bytes.map { Float($0) * scale }
        return ImageClassificationSet(
            images: try Tensor(shape: [images.shape[0], 1, images.shape[1], images.shape[2]], scalars: pixels),
            labels: try Tensor(shape: [labels.shape[0]], integers: labels.bytes.map(Int.init)))
    }
}

/// Where data sets are found: `--data`/`LUCERNA_DATA`, then `./data`, then system packages.
public enum DataLocation {
    /// The folder given with `--data`, searched first by every loader (set once at start-up).
    nonisolated(unsafe) public static var root: String?

    /// Every data root in search order (for sandbox read access): explicit, `LUCERNA_DATA`, `./data`,
    /// `/usr/share/datasets`.
    public static func allRoots(explicit: String? = nil) -> [String] {
        var roots: [String] = []
        if let explicit = explicit ?? root { roots.append(explicit) }
        if let environment = ProcessInfo.processInfo.environment["LUCERNA_DATA"], !environment.isEmpty {
            roots.append(environment)
        }
        return roots + ["data", "/usr/share/datasets"]
    }

    /// Candidate folders for a data set folder name, in search order.
    public static func candidates(for name: String, explicit: String? = nil) -> [String] {
        var roots: [String] = []
        if let explicit { roots.append(explicit) } else if let root { roots.append(root) }
        if let environment = ProcessInfo.processInfo.environment["LUCERNA_DATA"], !environment.isEmpty {
            roots.append(environment)
        }
        roots.append("data")
        var folders = roots.map { "\($0)/\(name)" }
        if name == "fashion-mnist" { folders.append("/usr/share/datasets/fashion-mnist") }
        return folders
    }

    /// Loads the Fashion-MNIST `train` or `t10k` split from the first folder that has it.
    public static func fashionMNIST(split: String, explicit: String? = nil) throws -> ImageClassificationSet {
        try loadFirst(
            name: "fashion-mnist", split: split, explicit: explicit,
            hint:
                "install Debian's dataset-fashion-mnist (scripts/setup.sh does), or put its IDX files in <data>/fashion-mnist/"
        )
    }

    /// Loads the MNIST `train` or `t10k` split.
    public static func mnist(split: String, explicit: String? = nil) throws -> ImageClassificationSet {
        try loadFirst(
            name: "mnist", split: split, explicit: explicit,
            hint: "set LUCERNA_DATA or --data to a folder holding mnist/, or run scripts/fetch-data.sh")
    }

    /// Decoded sets by folder and split: after the first read, loading a set is a dictionary lookup.
    nonisolated(unsafe) static var cache: [String: ImageClassificationSet] = [:]

    static func loadFirst(name: String, split: String, explicit: String?, hint: String) throws -> ImageClassificationSet
    {
        let folders = candidates(for: name, explicit: explicit)
        for folder in folders
        where FileManager.default.fileExists(atPath: "\(folder)/\(split)-labels-idx1-ubyte.gz")
            || FileManager.default.fileExists(atPath: "\(folder)/\(split)-labels-idx1-ubyte")
        {
            if let cached = cache["\(folder)|\(split)"] { return cached }
            let set = try ImageClassificationSet.loadIDX(folder: folder, prefix: split)
            cache["\(folder)|\(split)"] = set
            return set
        }
        throw DataError(
            path: name, message: "\(split) split not found; looked in \(folders.joined(separator: ", ")); \(hint)")
    }
}
