import Foundation
import LucernaData

/// A TensorBoard event file read back for the tests: each TFRecord's length and data checked against their
/// masked CRC-32C, each `Event` decoded into its wall time, step, version string, scalars and images.
public struct TensorBoardEvent: Equatable {
    public var wallTime = 0.0
    public var step: Int64 = 0
    public var fileVersion: String?
    public var scalars: [String: Float] = [:]
    /// Images by tag: height, width, colour space and the encoded bytes.
    public var images: [String: [Int]] = [:]
    public var imageBytes: [String: [UInt8]] = [:]
}

public enum TensorBoardReader {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func events(_ data: [UInt8]) throws -> [TensorBoardEvent] {
        var events: [TensorBoardEvent] = []
        var offset = 0
        func take(_ count: Int) throws -> [UInt8] {
            guard count >= 0, offset + count <= data.count else { throw Failure(description: "truncated at \(offset)") }
            defer { offset += count }
            return Array(data[offset..<offset + count])
        }
        func integer(_ bytes: [UInt8]) -> UInt64 { bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        while offset < data.count {
            let length = try take(8)
            guard UInt32(integer(try take(4))) == TensorBoardEvents.maskedCRC32C(length) else {
                throw Failure(description: "length CRC at \(offset)")
            }
            let body = try take(Int(integer(length)))
            guard UInt32(integer(try take(4))) == TensorBoardEvents.maskedCRC32C(body) else {
                throw Failure(description: "data CRC at \(offset)")
            }
            events.append(try event(body))
        }
        return events
    }

    static func event(_ bytes: [UInt8]) throws -> TensorBoardEvent {
        var event = TensorBoardEvent()
        for (field, value) in try fields(bytes) {
            switch (field, value) {
            case (1, .fixed64(let bits)): event.wallTime = Double(bitPattern: bits)
            case (2, .varint(let step)): event.step = Int64(bitPattern: step)
            case (3, .bytes(let text)): event.fileVersion = String(decoding: text, as: UTF8.self)
            case (5, .bytes(let summary)):
                for case (1, .bytes(let entry)) in try fields(summary) {
                    var tag = ""
                    for case (1, .bytes(let text)) in try fields(entry) { tag = String(decoding: text, as: UTF8.self) }
                    for (field, value) in try fields(entry) {
                        if field == 2, case .fixed32(let bits) = value { event.scalars[tag] = Float(bitPattern: bits) }
                        if field == 4, case .bytes(let image) = value {
                            var numbers = [0, 0, 0]
                            for (index, value) in try fields(image) {
                                if case .varint(let number) = value, (1...3).contains(index) {
                                    numbers[index - 1] = Int(number)
                                }
                                if index == 4, case .bytes(let encoded) = value { event.imageBytes[tag] = encoded }
                            }
                            event.images[tag] = numbers
                        }
                    }
                }
            default: throw Failure(description: "unexpected event field \(field)")
            }
        }
        return event
    }

    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes([UInt8])
    }

    static func fields(_ bytes: [UInt8]) throws -> [(Int, Value)] {
        var result: [(Int, Value)] = []
        var offset = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < bytes.count, shift < 64 else { throw Failure(description: "bad varint") }
                let byte = bytes[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        func fixed(_ count: Int) throws -> UInt64 {
            guard offset + count <= bytes.count else { throw Failure(description: "truncated field") }
            defer { offset += count }
            return bytes[offset..<offset + count].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        while offset < bytes.count {
            let key = try varint()
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: result.append((field, .varint(try varint())))
            case 1: result.append((field, .fixed64(try fixed(8))))
            case 5: result.append((field, .fixed32(UInt32(try fixed(4)))))
            case 2:
                let count = Int(try varint())
                guard count >= 0, offset + count <= bytes.count else { throw Failure(description: "truncated bytes") }
                result.append((field, .bytes(Array(bytes[offset..<offset + count]))))
                offset += count
            default: throw Failure(description: "wire type \(key & 7)")
            }
        }
        return result
    }
}
