import LucernaCore

/// One registered component: its key, documentation, options and factory.
public struct ComponentEntry: @unchecked Sendable {
    public let kind: ComponentKind
    public let name: String
    public let summary: String
    public let reference: String
    public let options: [OptionSpec]
    /// Where it comes from: `built-in`, or a plugin file's path.
    public let origin: String
    /// Builds an instance from checked options (defaults filled in); typed through ``Registry/build(_:_:options:)``.
    let make: (Config) throws -> Any

    /// A Swift component of the kind `key`, built by a factory that returns that kind's type.
    public init<Key: ComponentKindKey>(
        _ key: Key, _ name: String, _ summary: String, reference: String, options: [OptionSpec] = [],
        build: @escaping (Config) throws -> Key.Instance
    ) {
        self.init(
            kind: key.kind, name: name, summary: summary, reference: reference, options: options, origin: "built-in"
        ) {
            try build($0)
        }
    }

    /// A component whose factory the registry checks against the kind when it builds (Lua plugins).
    public init(
        kind: ComponentKind, name: String, summary: String, reference: String = "", options: [OptionSpec] = [],
        origin: String, build: @escaping (Config) throws -> Any
    ) {
        self.kind = kind
        self.name = name
        self.summary = summary
        self.reference = reference
        // The options every component of the kind takes from the framework (an optimizer's `params`) come
        // first, added here once for built-ins and plugins alike.
        self.options = kind.frameworkOptions + options
        self.origin = origin
        self.make = build
    }

    /// `namespace.name` (`fusions.concat`), as messages name the component.
    public var qualifiedName: String { "\(kind.namespace).\(name)" }

    /// Builds from a checked configuration; an instance of another kind is an error naming the component.
    public func instance(_ config: Config) throws -> Any {
        let built = try make(config)
        guard kind.accepts(built) else {
            throw RegistryError(
                qualifiedName,
                "built \(type(of: built)), which is not \(kind.article) \(kind.name) (\(kind.protocolName))")
        }
        return built
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
        for entry in Builtins.entries {
            // Built-in names are unique by construction (a test checks it); a duplicate would be a bug.
            try? registry.register(entry)
        }
        return registry
    }

    /// Adds `entry`; an existing (kind, name) is an error unless `overriding`.
    public func register(_ entry: ComponentEntry, overriding: Bool = false) throws {
        if let existing = entries[entry.kind]?[entry.name] {
            guard overriding else {
                throw RegistryError(
                    "registry",
                    "\(entry.kind.name) '\(entry.name)' from \(entry.origin) is already registered (from \(existing.origin)); set override = true to replace it"
                )
            }
            notices.append(
                "\(entry.kind.name) '\(entry.name)' from \(entry.origin) overrides the one from \(existing.origin)")
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
            throw RegistryError(
                kind.namespace,
                "unknown \(kind.name) '\(name)'\(suggestion(for: name, in: known)); known: \(known.isEmpty ? "(none)" : known.joined(separator: ", "))"
            )
        }
        return entry
    }

    /// Checks option names against the entry (unknown ones are errors naming the closest and the accepted
    /// options), fills in defaults, and builds an instance of the kind's type.
    public func build<Key: ComponentKindKey>(_ key: Key, _ name: String, options: [String: ConfigValue]) throws
        -> Key.Instance
    {
        try typed(key, instance(key.kind, name, options: options), context: "\(key.kind.namespace).\(name)")
    }

    /// Builds from an instance (returned as is), a name, or a spec table `{type = "name", ...}`.
    public func build<Key: ComponentKindKey>(_ key: Key, from value: ConfigValue, context: String) throws
        -> Key.Instance
    {
        try typed(key, instance(key.kind, from: value, context: context), context: context)
    }

    private func typed<Key: ComponentKindKey>(_ key: Key, _ value: Any, context: String) throws -> Key.Instance {
        guard let instance = value as? Key.Instance else {
            throw RegistryError(context, "expected \(key.kind.article) \(key.kind.name), got \(type(of: value))")
        }
        return instance
    }

    /// ``build(_:_:options:)`` for a kind known only at run time (front ends that take the kind by name).
    public func instance(_ kind: ComponentKind, _ name: String, options: [String: ConfigValue]) throws -> Any {
        let entry = try entry(kind, name)
        return try entry.instance(config(for: entry, options: options))
    }

    /// The checked, defaulted configuration of `entry` for `options`.
    public func config(for entry: ComponentEntry, options: [String: ConfigValue]) throws -> Config {
        try Config(owner: entry.qualifiedName, options: options, specs: entry.options, registry: self)
    }

    /// ``build(_:from:context:)`` for a kind known only at run time.
    public func instance(_ kind: ComponentKind, from value: ConfigValue, context: String) throws -> Any {
        switch value {
        case .object(let object):
            guard kind.accepts(object) else {
                throw RegistryError(context, "expected \(kind.article) \(kind.name), got \(type(of: object))")
            }
            return object
        case .string(let name): return try instance(kind, name, options: [:])
        case .table(var fields):
            guard case .string(let name)? = fields.removeValue(forKey: "type") else {
                throw RegistryError(
                    context,
                    "\(kind.article) \(kind.name) spec table needs type = \"name\" (one of \(names(kind).joined(separator: ", ")))"
                )
            }
            return try instance(kind, name, options: fields)
        default:
            throw RegistryError(
                context,
                "expected \(kind.article) \(kind.name): an instance, a name or {type = \"name\", ...}; got \(value.kindName)"
            )
        }
    }
}
