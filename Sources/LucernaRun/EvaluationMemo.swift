import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTrain

/// What a finished `evaluate{}` call of a run leaves behind for a resumed attempt (`lucerna run --resume`
/// re-runs the recipe from the top): its result, the records it logged and the random state after it, in
/// `evaluations/<key>.json`, under a key of everything the result depends on — the program (a digest of the
/// executable and the thread count), the recipe and plugin sources and the resolved config, the options,
/// the model's module types and tensors, the data's tensors and the random state before the call. A call
/// whose key matches a stored one replays it instead of computing it again; any difference computes it.
/// Calls whose result may depend on Lua code the key cannot see (a `forward` function, a Lua plugin
/// component or module, an output transform installed on a module) or on values it cannot hold (instances or
/// tensors among the options) are never memoised.
public struct EvaluationMemo {
    /// One finished call: the table returned to Lua, the metrics records, the entry of `evaluation.json`.
    /// (The model's mode is not part of it: a call leaves the mode as it found it.)
    public struct Outcome {
        public var table: ConfigValue
        public var records: [[String: ConfigValue]] = []
        public var evaluation: (name: String, values: [String: Double], reports: [String: [String: ConfigValue]])?

        public init(table: ConfigValue) { self.table = table }
    }

    public let path: String, key: String

    /// Digest of the running executable (nil when it cannot be read): results may change with the program.
    static let executableDigest: String? = {
        guard
            let contents = FileManager.default.contents(atPath: "/proc/self/exe")
                ?? CommandLine.arguments.first.flatMap({ FileManager.default.contents(atPath: $0) })
        else {
            return nil
        }
        var digest = ContentDigest()
        contents.withUnsafeBytes { digest.update($0) }
        return digest.hex
    }()

    /// The memo of this call, or nil when it is outside a run, has no script identity or cannot be keyed.
    /// (Calls with script functions are never memoised: the caller passes none.)
    init?(spec: [String: ConfigValue], model: TrainableModel, data: TensorDataset, components: ComponentBuilder) {
        guard let run = components.run, let script = components.script, let executable = Self.executableDigest else {
            return nil
        }
        var options = spec
        options["model"] = nil
        options["data"] = nil
        let pluginNames = Set(components.registry.allEntries.filter { $0.origin != "built-in" }.map(\.name))
        guard Self.isPlain(.table(options), avoiding: pluginNames), Self.isPlain(.table(data.metadata), avoiding: []),
            !model.modules.contains(where: { script.isScripted($0.module) }),
            // An output transform (ClArC's projection) changes what the weights compute and is a closure the
            // key cannot hold.
            !model.modules.contains(where: { $0.module.namedModules().contains { $0.1.hasOutputTransforms } })
        else { return nil }
        var digest = ContentDigest()
        digest.update(
            "lucerna evaluate memo 1 \(executable) threads \(Parallel.threadCount) sources \(script.sourceDigest)")
        digest.update(run.resolvedConfig?.json ?? "")
        digest.update(ConfigValue.table(options).json)
        for (name, module) in model.modules { digest.update("module \(name) \(Self.structure(module))") }
        for (name, tensor) in model.state {
            digest.update(name)
            digest.update(tensor)
        }
        digest.update("data \(data.name) \(ConfigValue.table(data.metadata).json)")
        for (name, tensor) in data.tensors {
            digest.update(name)
            digest.update(tensor)
        }
        digest.update("random \(RandomGenerator.shared.stateWords)")
        key = digest.hex
        path = "\(run.directory)/evaluations/\(key).json"
    }

    /// Whether `value` holds only JSON-exact values (finite numbers, strings, booleans, lists, tables) and
    /// names no component in `pluginNames`.
    static func isPlain(_ value: ConfigValue, avoiding pluginNames: Set<String>) -> Bool {
        switch value {
        case .null, .boolean: true
        case .number(let number): number.isFinite
        case .string(let text): !pluginNames.contains(text)
        case .list(let items): items.allSatisfy { isPlain($0, avoiding: pluginNames) }
        case .table(let fields): fields.values.allSatisfy { isPlain($0, avoiding: pluginNames) }
        case .tensor, .object: false
        }
    }

    /// The module tree's types and child names (what the tensors alone do not say).
    static func structure(_ module: Module) -> String {
        let children = module.children.map { "\($0.name): \(structure($0.module))" }
        return "\(type(of: module))(\(children.joined(separator: ", ")))"
    }

    /// The stored outcome when this key's file exists and reads back whole; nil otherwise (computed again).
    func load() -> Outcome? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
            case .table(let fields)? = try? ConfigValue(parsingJSON: text), case .string(key)? = fields["key"],
            let table = fields["table"], case .list(let records)? = fields["records"],
            case .list(let words)? = fields["random_state"]
        else { return nil }
        let state = words.compactMap { value -> UInt64? in
            if case .string(let word) = value { UInt64(word) } else { nil }
        }
        guard state.count == 4 else { return nil }
        var outcome = Outcome(table: table)
        for record in records {
            guard case .table(let record) = record else { return nil }
            outcome.records.append(record)
        }
        if case .table(let entry)? = fields["evaluation"] {
            guard case .string(let name)? = entry["name"], case .table(let values)? = entry["values"],
                case .table(let reports)? = entry["reports"]
            else { return nil }
            var numbers: [String: Double] = [:]
            var tables: [String: [String: ConfigValue]] = [:]
            for (metric, value) in values {
                guard case .number(let number) = value else { return nil }
                numbers[metric] = number
            }
            for (metric, value) in reports {
                guard case .table(let report) = value else { return nil }
                tables[metric] = report
            }
            outcome.evaluation = (name, numbers, tables)
        }
        RandomGenerator.shared.stateWords = state
        return outcome
    }

    /// Writes the outcome with the random state after the call, when it holds only JSON-exact values.
    func store(_ outcome: Outcome) throws {
        var fields: [String: ConfigValue] = [
            "key": .string(key), "table": outcome.table, "records": .list(outcome.records.map(ConfigValue.table)),
            "random_state": .list(RandomGenerator.shared.stateWords.map { .string(String($0)) }),
        ]
        if let evaluation = outcome.evaluation {
            fields["evaluation"] = .table([
                "name": .string(evaluation.name), "values": .table(evaluation.values.mapValues(ConfigValue.number)),
                "reports": .table(evaluation.reports.mapValues(ConfigValue.table)),
            ])
        }
        let document = ConfigValue.table(fields)
        guard Self.isPlain(document, avoiding: []) else { return }
        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data((document.json + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw RunError("evaluate", "cannot write \(path): \(error.localizedDescription)")
        }
    }
}
