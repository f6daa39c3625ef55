import Foundation

/// An RFC 4180 CSV table: a header row and records of the same width. Fields may be quoted, with commas,
/// doubled quotes and line breaks inside quotes; lines end in LF or CRLF. Malformed input (an unclosed
/// quote, text after a closing quote, a record of the wrong width, invalid UTF-8) is an error naming
/// the file, the record and its line, never a partial table.
public struct CSVTable {
    public let header: [String]
    public let records: [[String]]

    /// Parses `data` read from `path` (named in errors).
    public init(data: Data, path: String) throws {
        var rows: [[String]] = []
        var rowLines: [Int] = []
        var row: [String] = []
        var field: [UInt8] = []
        var line = 1
        var rowStartLine = 1
        var inQuotes = false
        var afterQuote = false
        var fieldStarted = false
        let bytes = [UInt8](data)
        func text(_ bytes: [UInt8]) throws -> String {
            guard let value = String(validating: bytes, as: UTF8.self) else {
                throw DataError(
                    path: path, message: "record \(rows.count + 1) (line \(rowStartLine)): a field is not valid UTF-8")
            }
            return value
        }
        func endField() throws {
            row.append(try text(field))
            field.removeAll(keepingCapacity: true)
            afterQuote = false
            fieldStarted = false
        }
        func endRow() throws {
            try endField()
            rows.append(row)
            rowLines.append(rowStartLine)
            row = []
        }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if inQuotes {
                if byte == 0x22 {
                    if index + 1 < bytes.count && bytes[index + 1] == 0x22 {
                        field.append(0x22)
                        index += 1
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if byte == 0x0A { line += 1 }
                    field.append(byte)
                }
            } else {
                switch byte {
                case 0x2C: try endField()
                case 0x0D where index + 1 < bytes.count && bytes[index + 1] == 0x0A:
                    break  // the LF that follows ends the record
                case 0x0A:
                    try endRow()
                    line += 1
                    rowStartLine = line
                case 0x22 where !fieldStarted && field.isEmpty:
                    inQuotes = true
                    fieldStarted = true
                default:
                    if afterQuote {
                        throw DataError(
                            path: path,
                            message:
                                "record \(rows.count + 1) (line \(line)): text after a closing quote (\"\(String(decoding: [byte], as: UTF8.self))\"); quotes inside a quoted field must be doubled"
                        )
                    }
                    field.append(byte)
                    fieldStarted = true
                }
            }
            index += 1
        }
        if inQuotes {
            throw DataError(
                path: path,
                message:
                    "record \(rows.count + 1) (line \(rowStartLine)): a quoted field is never closed (the file may be truncated)"
            )
        }
        if !row.isEmpty || !field.isEmpty || fieldStarted { try endRow() }
        guard let header = rows.first else { throw DataError(path: path, message: "empty CSV file (no header row)") }
        for (position, record) in rows.enumerated().dropFirst() where record.count != header.count {
            throw DataError(
                path: path,
                message:
                    "record \(position) (line \(rowLines[position])) has \(record.count) fields, the header has \(header.count)"
            )
        }
        self.header = header
        records = Array(rows.dropFirst())
    }

    /// Reads and parses the CSV file at `path`.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(path: path, message: "not found or unreadable")
        }
        try self.init(data: data, path: path)
    }

    /// The position of column `name`, or an error naming the columns.
    public func column(_ name: String, path: String) throws -> Int {
        guard let position = header.firstIndex(of: name) else {
            throw DataError(path: path, message: "no column '\(name)'; columns: \(header.joined(separator: ", "))")
        }
        return position
    }
}

/// HTML character references in scraped text (`&amp;`, `&#128514;`, `&#x1F602;`), decoded.
public enum HTMLEntities {
    static let named: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{00A0}",
    ]

    /// `text` with every well-formed reference replaced by its character; anything else is kept as is.
    public static func decode(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var result = ""
        var rest = Substring(text)
        while let ampersand = rest.firstIndex(of: "&") {
            result += rest[..<ampersand]
            let afterAmpersand = rest.index(after: ampersand)
            guard let semicolon = rest[afterAmpersand...].prefix(12).firstIndex(of: ";") else {
                result += "&"
                rest = rest[afterAmpersand...]
                continue
            }
            let name = rest[afterAmpersand..<semicolon]
            var replacement: String?
            if name.hasPrefix("#x") || name.hasPrefix("#X") {
                replacement = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String($0) }
            } else if name.hasPrefix("#") {
                replacement = UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init).map { String($0) }
            } else {
                replacement = named[String(name)]
            }
            if let replacement {
                result += replacement
                rest = rest[rest.index(after: semicolon)...]
            } else {
                result += "&"
                rest = rest[afterAmpersand...]
            }
        }
        return result + rest
    }
}
