import LucernaComponents
import LucernaCore
import LucernaNN

/// Builds components for a run — from an instance, a name or a spec table `{type = "name", ...}` — through
/// the registry, and records each one it builds (kind, name, origin, resolved options) in the run folder's
/// `components.jsonl`, so a run states every component it used.
public struct ComponentBuilder {
    public let registry: Registry
    public let run: RunContext?
    /// What identifies the script driving the run, for memoised evaluations (nil: nothing is memoised).
    public let script: ScriptIdentity?

    public init(registry: Registry, run: RunContext?, script: ScriptIdentity? = nil) {
        self.registry = registry
        self.run = run
        self.script = script
    }

    /// Builds `name` of `kind` from options and records it.
    public func instance(_ kind: ComponentKind, _ name: String, options: [String: ConfigValue]) throws -> Any {
        let entry = try registry.entry(kind, name)
        let config = try registry.config(for: entry, options: options)
        let instance = try entry.instance(config)
        try run?.log(
            [
                "kind": .string(kind.name), "name": .string(name), "origin": .string(entry.origin),
                "options": .table(config.values),
            ],
            file: "components.jsonl")
        return instance
    }

    /// Builds from an instance (returned as is), a name or a spec table, recording built ones.
    public func instance(_ kind: ComponentKind, from spec: ConfigValue, context: String) throws -> Any {
        switch spec {
        case .string(let name): return try instance(kind, name, options: [:])
        case .table(var fields):
            guard case .string(let name)? = fields.removeValue(forKey: "type") else {
                return try registry.instance(kind, from: spec, context: context)  // throws the spec error
            }
            return try instance(kind, name, options: fields)
        default: return try registry.instance(kind, from: spec, context: context)
        }
    }

    /// ``instance(_:from:context:)`` typed by the kind.
    public func build<Key: ComponentKindKey>(_ key: Key, from spec: ConfigValue, context: String) throws -> Key.Instance
    {
        let built = try instance(key.kind, from: spec, context: context)
        guard let typed = built as? Key.Instance else {
            throw RegistryError(context, "expected \(key.kind.article) \(key.kind.name), got \(type(of: built))")
        }
        return typed
    }
}

/// What an evaluation's result may depend on beyond values: the script's sources, and which modules run
/// script code (whose behaviour no digest of tensors can capture).
public struct ScriptIdentity {
    /// A digest of the recipe and plugin sources.
    public let sourceDigest: String
    /// Whether a module (or one of its children) runs script code.
    public let isScripted: (Module) -> Bool

    public init(sourceDigest: String, isScripted: @escaping (Module) -> Bool) {
        self.sourceDigest = sourceDigest
        self.isScripted = isScripted
    }
}
