import LucernaCore

/// The kinds of registered component. Each has one Lua global (`fusions`, `optim`, ...).
public enum ComponentKind: String, CaseIterable, Sendable {
    case model, fusion, regularizer, attack, explainer, rule, composite, metric, dataset, optimizer, schedule, loss

    /// The Lua global holding this kind's factories.
    public var luaGlobal: String {
        switch self {
        case .model: "models"
        case .fusion: "fusions"
        case .regularizer: "regularizers"
        case .attack: "attacks"
        case .explainer: "explainers"
        case .rule: "rules"
        case .composite: "composites"
        case .metric: "metrics"
        case .dataset: "data"
        case .optimizer: "optim"
        case .schedule: "schedules"
        case .loss: "losses"
        }
    }

    /// The Lua class of instances, for editor annotations.
    public var className: String {
        switch self {
        case .model, .fusion: "Module"
        case .regularizer: "Regularizer"
        case .attack: "Attack"
        case .explainer: "Explainer"
        case .rule: "Rule"
        case .composite: "Composite"
        case .metric: "Metric"
        case .dataset: "Dataset"
        case .optimizer: "Optimizer"
        case .schedule: "Schedule"
        case .loss: "Loss"
        }
    }

    /// "a" or "an", for messages.
    public var article: String { "aeiou".contains(rawValue.prefix(1)) ? "an" : "a" }

    /// A kind from its name, its Lua global or its plural (`fusion`, `fusions`).
    public init?(anyName name: String) {
        if let kind = ComponentKind(rawValue: name) {
            self = kind
        } else if let kind = ComponentKind.allCases.first(where: { $0.luaGlobal == name || $0.rawValue + "s" == name }) {
            self = kind
        } else {
            return nil
        }
    }
}

/// One registered component: its key, documentation, options and factory.
public struct ComponentEntry: @unchecked Sendable {
    public let kind: ComponentKind
    public let name: String
    public let summary: String
    public let reference: String
    public let options: [OptionSpec]
    /// Where it comes from: `built-in`, or a plugin file's path.
    public let origin: String
    /// Builds an instance from checked options (defaults filled in).
    public let build: (Config) throws -> Any

    public init(_ kind: ComponentKind, _ name: String, _ summary: String, reference: String = "",
                options: [OptionSpec] = [], origin: String = "built-in", build: @escaping (Config) throws -> Any) {
        self.kind = kind
        self.name = name
        self.summary = summary
        self.reference = reference
        self.options = options
        self.origin = origin
        self.build = build
    }
}

/// Components keyed by (kind, name): Swift built-ins (one line each in ``Builtins``) and Lua plugins.
/// A second registration of a key is an error unless it deliberately overrides.
public final class Registry: @unchecked Sendable {
    public private(set) var entries: [ComponentKind: [String: ComponentEntry]] = [:]
    /// Messages about overrides, for the log.
    public private(set) var notices: [String] = []

    public init() {}

    /// A registry holding every built-in component.
    public static func standard() -> Registry {
        let registry = Registry()
        for entry in Builtins.all {
            // Built-in names are unique by construction (a test checks it); a duplicate would be a bug.
            try? registry.register(entry)
        }
        return registry
    }

    /// Adds `entry`; an existing (kind, name) is an error unless `overriding`.
    public func register(_ entry: ComponentEntry, overriding: Bool = false) throws {
        if let existing = entries[entry.kind]?[entry.name] {
            guard overriding else {
                throw TensorError("registry", "\(entry.kind.rawValue) '\(entry.name)' from \(entry.origin) is already registered (from \(existing.origin)); set override = true to replace it")
            }
            notices.append("\(entry.kind.rawValue) '\(entry.name)' from \(entry.origin) overrides the one from \(existing.origin)")
        }
        entries[entry.kind, default: [:]][entry.name] = entry
    }

    /// Names of `kind`, sorted.
    public func names(_ kind: ComponentKind) -> [String] { (entries[kind] ?? [:]).keys.sorted() }

    /// Every entry, by kind then name.
    public var allEntries: [ComponentEntry] {
        ComponentKind.allCases.flatMap { kind in names(kind).compactMap { entries[kind]?[$0] } }
    }

    /// The entry for (kind, name), or an error naming the closest valid names.
    public func entry(_ kind: ComponentKind, _ name: String) throws -> ComponentEntry {
        guard let entry = entries[kind]?[name] else {
            let known = names(kind)
            throw TensorError(kind.luaGlobal, "unknown \(kind.rawValue) '\(name)'\(suggestion(for: name, in: known)); known: \(known.isEmpty ? "(none)" : known.joined(separator: ", "))")
        }
        return entry
    }

    /// Checks option names against the entry (unknown ones are errors naming the closest and the accepted
    /// options), fills in defaults, and builds.
    public func build(_ kind: ComponentKind, _ name: String, options: [String: ConfigValue]) throws -> Any {
        let entry = try entry(kind, name)
        return try entry.build(config(for: entry, options: options))
    }

    /// The checked, defaulted configuration of `entry` for `options`.
    public func config(for entry: ComponentEntry, options: [String: ConfigValue]) throws -> Config {
        let owner = "\(entry.kind.luaGlobal).\(entry.name)"
        try rejectUnknownOptions(options.keys, accepted: entry.options.map(\.name), owner: owner)
        var values: [String: ConfigValue] = [:]
        for option in entry.options {
            let given = options[option.name] ?? .null
            if case .null = given {
                if option.required { throw TensorError(owner, "option \(option.name) is required (\(option.summary))") }
                values[option.name] = option.defaultValue
            } else {
                values[option.name] = given
            }
        }
        return Config(owner: owner, values: values, registry: self)
    }

    /// Builds a component from an instance (returned as is), a name, or a spec table `{type = "name", ...}`.
    public func build(_ kind: ComponentKind, from value: ConfigValue, context: String) throws -> Any {
        switch value {
        case .object(let object): return object
        case .string(let name): return try build(kind, name, options: [:])
        case .table(var fields):
            guard case .string(let name)? = fields.removeValue(forKey: "type") else {
                throw TensorError(context, "\(kind.article) \(kind.rawValue) spec table needs type = \"name\" (one of \(names(kind).joined(separator: ", ")))")
            }
            return try build(kind, name, options: fields)
        default:
            throw TensorError(context, "expected \(kind.article) \(kind.rawValue): an instance, a name or {type = \"name\", ...}; got \(value.kindName)")
        }
    }
}
