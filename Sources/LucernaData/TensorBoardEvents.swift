import Foundation

/// TensorBoard event files: the TFRecord framing (a little-endian 64-bit length, the masked CRC-32C of those
/// 8 bytes, the data, the masked CRC-32C of the data) around `Event` protocol buffers with scalar and image
/// summaries, as TensorFlow's and `tensorboard`'s event writers produce them, so `tensorboard --logdir` and
/// its event reader read what Lucerna writes.
///
/// Reference: tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto,
/// tensorflow/core/lib/hash/crc32c.h (the mask) and tensorboard/summary/writer/record_writer.py (the framing).
public enum TensorBoardEvents {
    /// The `file_version` of the first event of every file.
    public static let fileVersion = "brain.Event:2"

    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord checks records with.
    public static func crc32c<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = (crc >> 8) ^ crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC: rotated right by 15 bits plus a constant, so a CRC stored inside the data it
    /// covers does not check itself.
    public static func maskedCRC32C<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        let crc = crc32c(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
    public static func record(_ data: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(data.count))
        return length + littleEndian(maskedCRC32C(length)) + data + littleEndian(maskedCRC32C(data))
    }

    /// The first event of a file: its wall time and `file_version`.
    public static func versionEvent(wallTime: Double) -> [UInt8] {
        var writer = ProtocolBufferWriter()
        writer.double(1, wallTime)
        writer.string(3, fileVersion, always: true)
        return writer.bytes
    }

    /// An event holding scalar summaries (`Summary.Value.simple_value`, a 32-bit float), one per tag.
    public static func scalarEvent(wallTime: Double, step: Int64, scalars: [(tag: String, value: Float)]) -> [UInt8] {
        var summary = ProtocolBufferWriter()
        for (tag, value) in scalars {
            var entry = ProtocolBufferWriter()
            entry.string(1, tag)
            entry.float(2, value)
            summary.message(1, entry.bytes)
        }
        return event(wallTime: wallTime, step: step, summary: summary.bytes)
    }

    /// An event holding one image summary: an encoded PNG with its size and colour space (1 grey, 3 RGB,
    /// 4 RGBA).
    public static func imageEvent(
        wallTime: Double, step: Int64, tag: String, png: [UInt8], height: Int, width: Int, colorspace: Int
    ) -> [UInt8] {
        var image = ProtocolBufferWriter()
        image.varint(1, UInt64(height))
        image.varint(2, UInt64(width))
        image.varint(3, UInt64(colorspace))
        image.bytes(4, png)
        var entry = ProtocolBufferWriter()
        entry.string(1, tag)
        entry.message(4, image.bytes, always: true)
        var summary = ProtocolBufferWriter()
        summary.message(1, entry.bytes, always: true)
        return event(wallTime: wallTime, step: step, summary: summary.bytes)
    }

    private static func event(wallTime: Double, step: Int64, summary: [UInt8]) -> [UInt8] {
        var writer = ProtocolBufferWriter()
        writer.double(1, wallTime)
        writer.varint(2, UInt64(bitPattern: step))
        writer.message(5, summary, always: true)
        return writer.bytes
    }

    private static func littleEndian<Value: FixedWidthInteger>(_ value: Value) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    private static let crcTable: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }
}

/// The protocol-buffer wire format for the few field kinds an event needs. Fields are written in the order
/// called (the event writers write them in field-number order); proto3 leaves a field at its default value
/// out unless it belongs to a `oneof` (`always`), as the reference serializers do.
struct ProtocolBufferWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ field: Int, _ value: UInt64, always: Bool = false) {
        guard value != 0 || always else { return }
        key(field, wireType: 0)
        append(varint: value)
    }

    mutating func double(_ field: Int, _ value: Double, always: Bool = false) {
        guard value != 0 || always else { return }
        key(field, wireType: 1)
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
    }

    /// A `float` field; `simple_value` is in a `oneof`, so it is written even when zero.
    mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
    }

    mutating func string(_ field: Int, _ value: String, always: Bool = false) {
        bytes(field, Array(value.utf8), always: always)
    }

    mutating func bytes(_ field: Int, _ value: [UInt8], always: Bool = false) {
        guard !value.isEmpty || always else { return }
        key(field, wireType: 2)
        append(varint: UInt64(value.count))
        bytes += value
    }

    mutating func message(_ field: Int, _ value: [UInt8], always: Bool = false) {
        bytes(field, value, always: always)
    }

    private mutating func key(_ field: Int, wireType: UInt64) {
        append(varint: UInt64(field) << 3 | wireType)
    }

    private mutating func append(varint value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}
