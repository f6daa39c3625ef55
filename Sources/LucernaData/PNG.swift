import CZlib
import Foundation
import LucernaCore

/// A minimal PNG encoder (8-bit grayscale or RGB, no interlace) over zlib, for the image grids of run
/// reports: the signature, IHDR, one zlib-compressed IDAT of filter-0 scanlines and IEND, each chunk
/// with its CRC-32.
///
/// Reference: PNG (Portable Network Graphics) Specification, Third Edition, W3C 2025.
public enum PNG {
    /// Encodes `pixels` (row-major, `channels` bytes per pixel: 1 gray, 3 RGB) as a PNG file.
    public static func encode(pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> Data {
        guard width > 0, height > 0, width < 1 << 20, height < 1 << 20, channels == 1 || channels == 3 else {
            throw TensorError(
                "png", "need 1 or 3 channels and a positive size below 2^20, got \(width)x\(height)x\(channels)")
        }
        guard pixels.count == width * height * channels else {
            throw TensorError("png", "\(pixels.count) bytes for \(width)x\(height)x\(channels) pixels")
        }
        // 1. Scanlines, each prefixed by filter type 0 (none).
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        for row in 0..<height {
            raw.replaceSubrange(
                row * (stride + 1) + 1..<(row + 1) * (stride + 1), with: pixels[row * stride..<(row + 1) * stride])
        }
        // 2. The zlib stream.
        var bound = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(bound))
        let status = compress2(&compressed, &bound, raw, uLong(raw.count), 9)
        guard status == Z_OK else { throw TensorError("png", "zlib compress2 failed (code \(status))") }
        compressed.removeSubrange(Int(bound)...)
        // 3. The chunks.
        var file = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.append(bigEndian: UInt32(width))
        header.append(bigEndian: UInt32(height))
        // Depth 8, colour type, deflate, filter 0, no interlace.
        header.append(contentsOf: [8, channels == 1 ? 0 : 2, 0, 0, 0])
        appendChunk("IHDR", header, to: &file)
        appendChunk("IDAT", Data(compressed), to: &file)
        appendChunk("IEND", Data(), to: &file)
        return file
    }

    /// The size and channel count (1 grey, 2 grey and alpha, 3 RGB, 4 RGBA; nil for a palette image) that a
    /// PNG file's IHDR chunk states, or nil when `file` does not start with a PNG signature and an IHDR.
    public static func header(_ file: Data) -> (width: Int, height: Int, channels: Int)? {
        let bytes = [UInt8](file.prefix(26))
        guard bytes.count == 26, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
            Array(bytes[12..<16]) == Array("IHDR".utf8)
        else { return nil }
        func integer(_ offset: Int) -> Int { bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) } }
        let channels: Int? = [0: 1, 4: 2, 2: 3, 6: 4][bytes[25]]
        guard let channels, integer(16) > 0, integer(20) > 0 else { return nil }
        return (width: integer(16), height: integer(20), channels: channels)
    }

    static func appendChunk(_ type: String, _ body: Data, to file: inout Data) {
        file.append(bigEndian: UInt32(body.count))
        let typed = Data(type.utf8) + body
        file.append(typed)
        let checksum = typed.withUnsafeBytes { buffer in
            crc32(0, buffer.bindMemory(to: Bytef.self).baseAddress, uInt(buffer.count))
        }
        file.append(bigEndian: UInt32(truncatingIfNeeded: checksum))
    }

    /// A grid of images from a tensor `[N, H, W]`, `[N, 1, H, W]` or `[N, 3, H, W]` (values scaled from
    /// their own min–max to 0–255, or from `range`), `columns` wide with a `padding`-pixel gap.
    public static func grid(_ images: Tensor, columns: Int = 8, padding: Int = 2, range: (Double, Double)? = nil) throws
        -> Data
    {
        let shape = images.rank == 3 ? [images.shape[0], 1, images.shape[1], images.shape[2]] : images.shape
        guard shape.count == 4, shape[0] > 0, shape[1] == 1 || shape[1] == 3, shape[2] > 0, shape[3] > 0 else {
            throw TensorError(
                "png grid",
                "expected images [N, H, W] or [N, C, H, W] with C 1 or 3, got \(describe(shape: images.shape))")
        }
        guard columns > 0, padding >= 0, padding < 64 else {
            throw TensorError("png grid", "columns must be positive and padding in [0, 64)")
        }
        let (count, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let values = images.toDoubles()
        let finite = values.filter(\.isFinite)
        let low = range?.0 ?? finite.min() ?? 0
        let high = range?.1 ?? finite.max() ?? 1
        let scale = high > low ? 255 / (high - low) : 0
        let across = min(columns, count)
        let down = (count + across - 1) / across
        let gridWidth = across * width + (across + 1) * padding
        let gridHeight = down * height + (down + 1) * padding
        guard gridWidth * gridHeight <= 1 << 26 else {
            throw TensorError("png grid", "a \(gridWidth)x\(gridHeight) grid is too large")
        }
        var pixels = [UInt8](repeating: 255, count: gridWidth * gridHeight * channels)
        for image in 0..<count {
            let left = padding + (image % across) * (width + padding)
            let top = padding + (image / across) * (height + padding)
            for y in 0..<height {
                for x in 0..<width {
                    for channel in 0..<channels {
                        let value = values[((image * channels + channel) * height + y) * width + x]
                        let byte = value.isFinite ? UInt8(max(0, min(255, ((value - low) * scale).rounded()))) : 0
                        pixels[((top + y) * gridWidth + left + x) * channels + channel] = byte
                    }
                }
            }
        }
        return try encode(pixels: pixels, width: gridWidth, height: gridHeight, channels: channels)
    }
}

extension Data {
    mutating func append(bigEndian value: UInt32) {
        append(contentsOf: [
            UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF),
        ])
    }
}
