import LucernaCore

/// A kind of registered component (`fusion`, `metric`, ...), described once: its name, the namespace its
/// components are addressed in (`fusions.concat`), the protocol its instances conform to, the options every
/// implementation receives from the framework, and the conformance check that `lucerna check` and the
/// registry sweep run. Adding a kind is adding one of these (in its own file under `Kinds/`, beside its
/// protocol), one line in ``allCases`` and, for Lua plugins, its adapter in the Lua layer.
public struct ComponentKind: Hashable, Sendable, CustomStringConvertible {
    /// The kind's name (`fusion`).
    public let name: String
    /// The namespace components of this kind are addressed in, in messages and in every front end
    /// (`fusions` for `fusions.concat`, `optim` for `optim.adamw`).
    public let namespace: String
    /// The protocol (or class) its instances conform to, for messages and documentation.
    public let protocolName: String
    /// Options every implementation takes besides its own (an optimizer's `params`); ``ComponentEntry``
    /// puts them first in each entry's options.
    public let frameworkOptions: [OptionSpec]
    /// Whether a built value is an instance of this kind.
    let accepts: @Sendable (Any) -> Bool
    /// Runs the kind's contract on small inputs (see ``Conformance``).
    let conformance: @Sendable (Any, ConformanceProbe) throws -> Void

    public init(
        name: String, namespace: String, protocolName: String, frameworkOptions: [OptionSpec] = [],
        accepts: @escaping @Sendable (Any) -> Bool,
        conformance: @escaping @Sendable (Any, ConformanceProbe) throws -> Void
    ) {
        self.name = name
        self.namespace = namespace
        self.protocolName = protocolName
        self.frameworkOptions = frameworkOptions
        self.accepts = accepts
        self.conformance = conformance
    }

    public var description: String { name }

    /// "a" or "an", for messages.
    public var article: String { "aeiou".contains(name.prefix(1)) ? "an" : "a" }

    public static func == (lhs: ComponentKind, rhs: ComponentKind) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    /// Every kind, in the order listings and documentation show them: the one table of kinds.
    public static let allCases: [ComponentKind] = [
        .model, .fusion, .regularizer, .method, .attack, .explainer, .rule, .composite, .metric, .clustering, .dataset,
        .optimizer, .schedule, .loss, .augmentation,
    ]

    /// A kind from its name, its namespace or its plural (`fusion`, `fusions`; `optimizer`, `optim`).
    public init?(anyName name: String) {
        guard
            let kind = Self.allCases.first(where: { $0.name == name || $0.namespace == name || $0.name + "s" == name })
        else { return nil }
        self = kind
    }
}

/// A kind together with the Swift type its components build, so the registry's factories and `build`
/// are typed per kind: `registry.build(.fusion, "concat", options: ...)` returns `any Fusion`.
public protocol ComponentKindKey: Sendable {
    associatedtype Instance
    var kind: ComponentKind { get }
}

/// The typed key of a kind; each kind's file declares its own (`.fusion` is a
/// `TypedComponentKind<any Fusion>` where a typed key is expected).
public struct TypedComponentKind<Instance>: ComponentKindKey {
    public let kind: ComponentKind
    public init(_ kind: ComponentKind) { self.kind = kind }
}

/// A component type that registers itself: its entries (usually one; variants of one type, such as `sum`
/// and `mean`, register several) sit beside its definition, and ``Builtins`` lists the type.
public protocol RegisteredComponent {
    static var registrations: [ComponentEntry] { get }
}
