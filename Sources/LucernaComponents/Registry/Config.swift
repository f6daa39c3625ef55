import Foundation
import LucernaCore

/// A configuration value: what a Lua options table, a spec table (`{type = "cosine", t_max = 50}`), a
/// `--set` override or a JSON config holds. Tensors and engine objects (a model, an optimizer) travel as
/// references so factories such as `optim.adamw{params = model:parameters()}` can take them.
public indirect enum ConfigValue: CustomStringConvertible {
    case null
    case boolean(Bool)
    case number(Double)
    case string(String)
    case list([ConfigValue])
    case table([String: ConfigValue])
    case tensor(Tensor)
    case object(AnyObject)

    /// The value's kind as shown in errors (`number`, `string`, `table`, `tensor [2, 3]`).
    public var kindName: String {
        switch self {
        case .null: "nil"
        case .boolean: "boolean"
        case .number: "number"
        case .string: "string"
        case .list: "list"
        case .table: "table"
        case .tensor(let tensor): "tensor \(describe(shape: tensor.shape))"
        case .object(let object): String(describing: type(of: object))
        }
    }

    public var description: String {
        switch self {
        case .null: "nil"
        case .boolean(let value): "\(value)"
        case .number(let value): value.rounded() == value && abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
        case .string(let value): "\"\(value)\""
        case .list(let values): "{" + values.map(\.description).joined(separator: ", ") + "}"
        case .table(let fields):
            "{" + fields.keys.sorted().map { "\($0) = \(fields[$0]?.description ?? "nil")" }.joined(separator: ", ")
                + "}"
        case .tensor(let tensor): "tensor \(describe(shape: tensor.shape))"
        case .object(let object): String(describing: type(of: object))
        }
    }

    /// The value as JSON (tensors and objects as descriptive strings), for resolved-config files.
    public var json: String {
        switch self {
        case .null: "null"
        case .boolean(let value): value ? "true" : "false"
        case .number(let value):
            value.isFinite ? (value.rounded() == value && abs(value) < 1e15 ? "\(Int(value))" : "\(value)") : "null"
        case .string(let value): jsonString(value)
        case .list(let values): "[" + values.map(\.json).joined(separator: ", ") + "]"
        case .table(let fields):
            "{"
                + fields.keys.sorted().map { "\(jsonString($0)): \(fields[$0]?.json ?? "null")" }.joined(
                    separator: ", ") + "}"
        case .tensor, .object: jsonString(description)
        }
    }
}

extension ConfigValue {
    /// The value of a `JSONSerialization` object (numbers, strings, booleans, arrays, dictionaries, null).
    public init(jsonObject: Any) {
        switch jsonObject {
        case let number as NSNumber:
            // JSON booleans come back as NSNumbers of Objective-C type "c" (char), on Linux and Darwin alike.
            self = String(cString: number.objCType) == "c" ? .boolean(number.boolValue) : .number(number.doubleValue)
        case let text as String: self = .string(text)
        case let items as [Any]: self = .list(items.map(ConfigValue.init(jsonObject:)))
        case let fields as [String: Any]: self = .table(fields.mapValues(ConfigValue.init(jsonObject:)))
        default: self = .null
        }
    }

    /// Parses JSON text (as written by ``json``). Numbers go through `Double(String)`, so values written
    /// by ``json`` come back bit for bit (Foundation's parser may round the last digit).
    public init(parsingJSON text: String) throws {
        var parser = JSONParser(scalars: Array(text.unicodeScalars))
        self = try parser.document()
    }

    /// The number, if this is one.
    public var numberValue: Double? { if case .number(let value) = self { value } else { nil } }
}

/// A strict recursive-descent JSON reader for ``ConfigValue/init(parsingJSON:)``.
private struct JSONParser {
    let scalars: [Unicode.Scalar]
    var position = 0

    init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

    func fail(_ message: String) -> ConfigurationError {
        ConfigurationError("json", "\(message) at character \(position)")
    }

    mutating func skipSpace() {
        while position < scalars.count, [" ", "\n", "\r", "\t"].contains(scalars[position]) { position += 1 }
    }

    mutating func document() throws -> ConfigValue {
        let result = try value(depth: 0)
        skipSpace()
        guard position == scalars.count else { throw fail("unexpected trailing text") }
        return result
    }

    mutating func expect(_ word: String) throws {
        for scalar in word.unicodeScalars {
            guard position < scalars.count, scalars[position] == scalar else { throw fail("expected \(word)") }
            position += 1
        }
    }

    mutating func value(depth: Int) throws -> ConfigValue {
        guard depth < 64 else { throw fail("nested too deeply") }
        skipSpace()
        guard position < scalars.count else { throw fail("unexpected end") }
        switch scalars[position] {
        case "{":
            position += 1
            var fields: [String: ConfigValue] = [:]
            skipSpace()
            if position < scalars.count, scalars[position] == "}" {
                position += 1
                return .table(fields)
            }
            while true {
                skipSpace()
                let key = try string()
                skipSpace()
                try expect(":")
                fields[key] = try value(depth: depth + 1)
                skipSpace()
                guard position < scalars.count else { throw fail("unterminated object") }
                if scalars[position] == "," {
                    position += 1
                    continue
                }
                try expect("}")
                return .table(fields)
            }
        case "[":
            position += 1
            var items: [ConfigValue] = []
            skipSpace()
            if position < scalars.count, scalars[position] == "]" {
                position += 1
                return .list(items)
            }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard position < scalars.count else { throw fail("unterminated array") }
                if scalars[position] == "," {
                    position += 1
                    continue
                }
                try expect("]")
                return .list(items)
            }
        case "\"": return .string(try string())
        case "t":
            try expect("true")
            return .boolean(true)
        case "f":
            try expect("false")
            return .boolean(false)
        case "n":
            try expect("null")
            return .null
        default:
            let start = position
            while position < scalars.count, "+-0123456789.eE".unicodeScalars.contains(scalars[position]) {
                position += 1
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars[start..<position])
            guard let number = Double(text) else { throw fail("bad value '\(text)'") }
            return .number(number)
        }
    }

    mutating func string() throws -> String {
        try expect("\"")
        var result = ""
        while position < scalars.count {
            let scalar = scalars[position]
            position += 1
            switch scalar {
            case "\"": return result
            case "\\":
                guard position < scalars.count else { throw fail("unterminated escape") }
                let escaped = scalars[position]
                position += 1
                switch escaped {
                case "n": result += "\n"
                case "r": result += "\r"
                case "t": result += "\t"
                case "b": result += "\u{8}"
                case "f": result += "\u{C}"
                case "u":
                    guard position + 4 <= scalars.count else { throw fail("short \\u escape") }
                    var hex = ""
                    hex.unicodeScalars.append(contentsOf: scalars[position..<position + 4])
                    position += 4
                    guard let code = UInt32(hex, radix: 16) else { throw fail("bad \\u escape") }
                    result.unicodeScalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                default: result.unicodeScalars.append(escaped)
                }
            default: result.unicodeScalars.append(scalar)
            }
        }
        throw fail("unterminated string")
    }
}

/// Quotes a string for JSON.
public func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default:
            if scalar.value < 0x20 {
                result +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

/// What an option accepts; used to check values and to write editor annotations.
public enum OptionType: Equatable, Sendable {
    case number, integer, boolean, string
    /// An integer `n` (meaning `(n, n)`) or a pair `{a, b}`.
    case pair
    /// A list of integers.
    case integers
    /// A list of tensors (or a module, whose parameters are taken).
    case tensors
    /// An engine object of the named type (`Optimizer`, `Module`).
    case object(String)
    /// A component of `kind`: an instance, a name, or a spec table `{type = "name", ...}`.
    case component(ComponentKind)
    /// A tensor.
    case tensor
    /// A function of the script (a callback such as `train{}`'s `forward`).
    case function
    /// Anything (checked by the component).
    case any
}

/// One accepted option of a component: name, type, default (`.null` when required or optional without
/// a default) and a one-line description.
public struct OptionSpec: Sendable {
    public let name: String
    public let type: OptionType
    public let defaultDescription: String
    public let required: Bool
    public let summary: String
    nonisolated(unsafe) let defaultValue: ConfigValue
    /// A small valid value the conformance probe builds the component with, for a required option whose
    /// type alone does not say what fits (a reference set of images); `.null` for the type's stand-in.
    nonisolated(unsafe) let standIn: ConfigValue

    public init(
        _ name: String, _ type: OptionType, default defaultValue: ConfigValue = .null, required: Bool = false,
        standIn: ConfigValue = .null, _ summary: String
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.standIn = standIn
        self.defaultDescription = required ? "required" : "\(defaultValue)"
        self.required = required
        self.summary = summary
    }
}

/// The options a component is built from, after the registry has checked their names and filled in
/// defaults. Accessors check types and name the component and option in errors.
public struct Config {
    /// `kind name` of the component, for errors (`fusion concat`).
    public let owner: String
    public private(set) var values: [String: ConfigValue]
    /// The registry, for options that are themselves components.
    public let registry: Registry?

    /// `options` checked against `specs`: an unknown name is an error naming the closest accepted one, a
    /// missing required option is an error, and missing options take their defaults.
    public init(owner: String, options: [String: ConfigValue], specs: [OptionSpec], registry: Registry? = nil) throws {
        try rejectUnknownOptions(options.keys, accepted: specs.map(\.name), owner: owner)
        var values: [String: ConfigValue] = [:]
        for option in specs {
            let given = options[option.name] ?? .null
            if case .null = given {
                if option.required {
                    throw RegistryError(owner, "option \(option.name) is required (\(option.summary))")
                }
                values[option.name] = option.defaultValue
            } else {
                values[option.name] = given
            }
        }
        self.init(owner: owner, values: values, registry: registry)
    }

    public init(owner: String, values: [String: ConfigValue], registry: Registry? = nil) {
        self.owner = owner
        self.values = values
        self.registry = registry
    }

    func error(_ message: String) -> ConfigurationError { ConfigurationError(owner, message) }

    /// The raw value of `key` (`.null` when absent).
    public func value(_ key: String) -> ConfigValue { values[key] ?? .null }

    /// Whether `key` has a non-nil value.
    public func has(_ key: String) -> Bool {
        if case .null = value(key) { return false }
        return true
    }

    public func number(_ key: String) throws -> Double {
        guard case .number(let value) = value(key) else {
            throw error("option \(key) must be a number, got \(value(key).kindName)")
        }
        return value
    }

    public func integer(_ key: String) throws -> Int {
        let value = try number(key)
        guard value.rounded() == value, abs(value) < 1e15 else {
            throw error("option \(key) must be an integer, got \(value)")
        }
        return Int(value)
    }

    /// An integer option that must be positive.
    public func positiveInteger(_ key: String) throws -> Int {
        let value = try integer(key)
        guard value > 0 else { throw error("option \(key) must be positive, got \(value)") }
        return value
    }

    public func optionalInteger(_ key: String) throws -> Int? { has(key) ? try integer(key) : nil }

    /// A finite number ≥ 0 (a penalty weight, a slack).
    public func nonNegativeNumber(_ key: String) throws -> Double {
        let value = try number(key)
        guard value >= 0, value.isFinite else {
            throw error("option \(key) must be a finite number ≥ 0, got \(value)")
        }
        return value
    }

    /// The option, or `fallback` when it is absent (for callers without declared defaults, such as `train{}`).
    public func number(_ key: String, default fallback: Double?) throws -> Double? {
        has(key) ? try number(key) : fallback
    }
    public func integer(_ key: String, default fallback: Int) throws -> Int { has(key) ? try integer(key) : fallback }
    public func boolean(_ key: String, default fallback: Bool) throws -> Bool { has(key) ? try boolean(key) : fallback }
    public func string(_ key: String, default fallback: String) throws -> String {
        has(key) ? try string(key) : fallback
    }

    public func boolean(_ key: String) throws -> Bool {
        guard case .boolean(let value) = value(key) else {
            throw error("option \(key) must be true or false, got \(value(key).kindName)")
        }
        return value
    }

    public func string(_ key: String) throws -> String {
        guard case .string(let value) = value(key) else {
            throw error("option \(key) must be a string, got \(value(key).kindName)")
        }
        return value
    }

    /// A string option restricted to `choices`.
    public func choice(_ key: String, _ choices: [String]) throws -> String {
        let value = try string(key)
        guard choices.contains(value) else {
            throw error(
                "option \(key) must be one of \(choices.joined(separator: ", ")), got \"\(value)\"\(suggestion(for: value, in: choices))"
            )
        }
        return value
    }

    public func pair(_ key: String) throws -> (Int, Int) {
        switch value(key) {
        case .number:
            let value = try integer(key)
            return (value, value)
        case .list(let items) where items.count == 2:
            guard case .number(let a) = items[0], case .number(let b) = items[1], a.rounded() == a, b.rounded() == b,
                abs(a) < 1e9, abs(b) < 1e9
            else { throw error("option \(key) must be an integer or a pair of integers") }
            return (Int(a), Int(b))
        default: throw error("option \(key) must be an integer or a pair {a, b}, got \(value(key).kindName)")
        }
    }

    public func integers(_ key: String) throws -> [Int] {
        guard case .list(let items) = value(key) else {
            throw error("option \(key) must be a list of integers, got \(value(key).kindName)")
        }
        return try items.enumerated().map { position, item in
            guard case .number(let value) = item, value.rounded() == value, abs(value) < 1e15 else {
                throw error("option \(key)[\(position + 1)] must be an integer, got \(item.kindName)")
            }
            return Int(value)
        }
    }

    /// A list of tensors, or a module's parameters.
    public func tensors(_ key: String) throws -> [Tensor] {
        switch value(key) {
        case .list(let items):
            return try items.enumerated().map { position, item in
                guard case .tensor(let tensor) = item else {
                    throw error("option \(key)[\(position + 1)] must be a tensor, got \(item.kindName)")
                }
                return tensor
            }
        case .table(let fields) where fields.isEmpty: return []
        case .object(let object as ParameterOwner): return object.parameters()
        case .null: throw error("option \(key) is required (e.g. \(key) = model:parameters())")
        default: throw error("option \(key) must be a list of tensors or a module, got \(value(key).kindName)")
        }
    }

    public func tensor(_ key: String) throws -> Tensor {
        guard case .tensor(let tensor) = value(key) else {
            throw error("option \(key) must be a tensor, got \(value(key).kindName)")
        }
        return tensor
    }

    /// An engine object of type `T`.
    public func object<T>(_ key: String, as type: T.Type, named name: String) throws -> T {
        guard case .object(let object) = value(key), let typed = object as? T else {
            throw error("option \(key) must be \(name), got \(value(key).kindName)")
        }
        return typed
    }

    /// A component option: an instance, a name, or a spec table `{type = "name", ...}`, built through the
    /// registry.
    public func component<Key: ComponentKindKey>(_ key: String, kind: Key) throws -> Key.Instance {
        guard let registry else {
            throw error("option \(key): no registry to build \(kind.kind.article) \(kind.kind.name) from")
        }
        return try registry.build(kind, from: value(key), context: "\(owner): option \(key)")
    }
}

/// Something with trainable parameters (a module), so `params = model` works like `model:parameters()`.
public protocol ParameterOwner: AnyObject {
    func parameters() -> [Tensor]
}

/// `"; did you mean 'x'?"` for the closest candidate by edit distance, or `""` when none is close.
public func suggestion(for name: String, in candidates: [String]) -> String {
    let scored = candidates.map { ($0, editDistance(name.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, name.count / 3) else { return "" }
    return "; did you mean '\(best.0)'?"
}

/// Throws, naming `owner`, the first of `keys` (in sorted order) that is not in `accepted`, with the closest
/// accepted name and the whole list.
public func rejectUnknownOptions(_ keys: some Collection<String>, accepted: [String], owner: String) throws {
    for key in keys.sorted() where !accepted.contains(key) {
        throw ConfigurationError(
            owner,
            "unknown option '\(key)'\(suggestion(for: key, in: accepted)); accepted: \(accepted.isEmpty ? "(none)" : accepted.joined(separator: ", "))"
        )
    }
}

/// Levenshtein distance.
public func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
