import Foundation

/// A 128-bit digest of bytes, the same in every process and on every machine (unlike `Hasher`), for the
/// keys of cached results: two independent 64-bit lanes over 8-byte words (FNV-1a and a multiply-rotate
/// mix), every update framed by its length so that concatenations differ. Not cryptographic.
public struct ContentDigest: Sendable {
    private var first: UInt64 = 0xcbf2_9ce4_8422_2325
    private var second: UInt64 = 0x9e37_79b9_7f4a_7c15

    public init() {}

    private mutating func mix(_ word: UInt64) {
        first = (first ^ word) &* 0x0000_0100_0000_01b3
        let mixed = (second ^ (word &* 0xff51_afd7_ed55_8ccd))
        second = ((mixed << 31) | (mixed >> 33)) &* 0xc4ce_b9fe_1a85_ec53
    }

    /// Adds `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset + 8 <= bytes.count {
            mix(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian)
            offset += 8
        }
        var tail: UInt64 = 0
        for (position, index) in (offset..<bytes.count).enumerated() { tail |= UInt64(bytes[index]) << (8 * position) }
        if offset < bytes.count { mix(tail) }
        mix(UInt64(bytes.count))
    }

    /// Adds the UTF-8 bytes of `text`.
    public mutating func update(_ text: String) {
        var copy = text
        copy.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Adds a tensor: its dtype, shape and elements.
    public mutating func update(_ tensor: Tensor) {
        update("\(tensor.dtype) \(tensor.shape)")
        update(
            UnsafeRawBufferPointer(start: tensor.pointer(as: UInt8.self), count: tensor.count * tensor.dtype.byteWidth))
    }

    /// The digest as 32 hexadecimal digits.
    public var hex: String { String(format: "%016llx%016llx", first, second) }
}
