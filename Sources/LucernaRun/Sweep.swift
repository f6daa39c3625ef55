import Foundation
import LucernaComponents

/// A sweep: a recipe run at every point of a grid of `--set` overrides, each point a run folder with the
/// sweep's seeds. `manifest.jsonl` lists the points (one JSON object a line: index, name, overrides, folder,
/// seeds) so that any worker — a local process or a Slurm array task — runs point I with
/// `lucerna run --manifest manifest.jsonl --index I`; a finished point's folder gets a `DONE` marker.
///
/// Reference: the grid expansion of scikit-learn's `ParameterGrid` (the last key varies fastest) and Slurm job
/// arrays (`sbatch --array`).
public struct Sweep: Equatable, Sendable {
    /// One axis of the grid: a config key and its values as `--set` would take them.
    public struct Axis: Equatable, Sendable {
        public let key: String
        public let values: [String]

        public init(key: String, values: [String]) {
            self.key = key
            self.values = values
        }
    }

    /// One point: its position, its name (`key=value` pairs), its recipe, its overrides (the sweep's fixed
    /// ones, then the grid's) and its folder, relative to the sweep folder. A manifest written by hand (or by
    /// scripts/reproduce.sh) may give each point its own recipe.
    public struct Point: Equatable, Sendable {
        public let index: Int
        public let name: String
        public let recipe: String
        public let overrides: [String]
        public let folder: String
        public let seeds: [Int]?

        public init(index: Int, name: String, recipe: String, overrides: [String], folder: String, seeds: [Int]?) {
            self.index = index
            self.name = name
            self.recipe = recipe
            self.overrides = overrides
            self.folder = folder
            self.seeds = seeds
        }
    }

    public let recipe: String
    public let grid: [Axis]
    public let fixed: [String]
    public let seeds: [Int]?
    /// Every combination of the grid's values, the last axis varying fastest.
    public let points: [Point]

    public init(recipe: String, grid: [Axis], fixed: [String] = [], seeds: [Int]? = nil) throws {
        guard !grid.isEmpty else { throw RunError("sweep", "give at least one --grid key=value,value") }
        let keys = grid.map(\.key)
        guard Set(keys).count == keys.count else {
            throw RunError("sweep", "a --grid key appears twice: \(keys.joined(separator: ", "))")
        }
        for value in fixed {
            let key = try ConfigOverride(parsing: value).key
            guard !keys.contains(key) else {
                throw RunError("sweep", "\(key) is both a --grid key and a --set override")
            }
        }
        if let seeds, seeds.isEmpty || Set(seeds).count != seeds.count {
            throw RunError("sweep", "--seeds must be distinct integers, got \(seeds)")
        }
        self.recipe = recipe
        self.grid = grid
        self.fixed = fixed
        self.seeds = seeds
        points = Self.expand(recipe: recipe, grid: grid, fixed: fixed, seeds: seeds)
        guard points.count <= 100_000 else {
            throw RunError("sweep", "the grid has \(points.count) points, over 100,000")
        }
    }

    /// Parses `key=value,value,...`. Commas inside braces belong to a value (`channels={64,32},{32,16}`).
    public static func axis(parsing argument: String) throws -> Axis {
        guard let equals = argument.firstIndex(of: "=") else {
            throw RunError("sweep", "--grid expects key=value,value (e.g. optimizer.lr=1e-3,3e-4), got '\(argument)'")
        }
        let key = String(argument[..<equals])
        _ = try ConfigOverride(parsing: "\(key)=0")  // the key's own checks
        var values: [String] = []
        var current = ""
        var depth = 0
        for character in argument[argument.index(after: equals)...] {
            switch character {
            case "{": depth += 1
            case "}": depth -= 1
            default: break
            }
            guard depth >= 0 else { throw RunError("sweep", "unbalanced braces in --grid \(argument)") }
            if character == ",", depth == 0 {
                values.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        values.append(current)
        guard depth == 0 else { throw RunError("sweep", "unbalanced braces in --grid \(argument)") }
        values = values.map { $0.trimmingCharacters(in: .whitespaces) }
        guard values.allSatisfy({ !$0.isEmpty }) else {
            throw RunError("sweep", "--grid \(argument) has an empty value")
        }
        guard Set(values).count == values.count else {
            throw RunError("sweep", "--grid \(argument) repeats a value")
        }
        return Axis(key: key, values: values)
    }

    /// Every combination of the grid's values, the last axis varying fastest.
    static func expand(recipe: String, grid: [Axis], fixed: [String], seeds: [Int]?) -> [Point] {
        var combinations: [[String]] = [[]]
        for axis in grid {
            combinations = combinations.flatMap { prefix in axis.values.map { prefix + ["\(axis.key)=\($0)"] } }
        }
        let width = max(3, String(combinations.count - 1).count)
        return combinations.enumerated().map { index, pairs in
            let number = String(index)
            return Point(
                index: index, name: pairs.joined(separator: " "), recipe: recipe, overrides: fixed + pairs,
                folder: "point-" + String(repeating: "0", count: width - number.count) + number, seeds: seeds)
        }
    }

    // MARK: The manifest

    /// The manifest's text: one JSON object a point.
    public var manifest: String {
        points.map { point in
            var entry: [String: ConfigValue] = [
                "index": .number(Double(point.index)), "name": .string(point.name),
                "overrides": .list(point.overrides.map(ConfigValue.string)), "folder": .string(point.folder),
                "recipe": .string(point.recipe),
            ]
            if let seeds = point.seeds { entry["seeds"] = .list(seeds.map { .number(Double($0)) }) }
            return ConfigValue.table(entry).json + "\n"
        }.joined()
    }

    /// Writes `manifest.jsonl` in `folder`, or checks that the one already there is this sweep's (re-running
    /// the same command resumes; a different grid in the same folder is an error).
    public func writeManifest(in folder: String) throws {
        let path = "\(folder)/manifest.jsonl"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            guard existing == manifest else {
                throw RunError(
                    "sweep",
                    "\(path) holds another sweep (other recipe, grid, overrides or seeds): give another --out, or remove it"
                )
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try manifest.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw RunError("sweep", "cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// The points of a manifest file, with its folders resolved against the manifest's folder.
    public static func points(inManifest path: String) throws -> (points: [Point], folder: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RunError("sweep", "cannot read the manifest \(path)")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var points: [Point] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            func bad(_ why: String) -> RunError { RunError("sweep", "\(path) line \(number + 1): \(why)") }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw bad("not a JSON object")
            }
            guard let index = (object["index"] as? NSNumber)?.intValue, index == number,
                let name = object["name"] as? String, let overrides = object["overrides"] as? [String],
                let pointFolder = object["folder"] as? String, let pointRecipe = object["recipe"] as? String,
                !pointFolder.contains("/"), !pointFolder.hasPrefix(".")
            else { throw bad("needs index (\(number)), name, overrides, folder (a plain name) and recipe") }
            let seeds = (object["seeds"] as? [NSNumber])?.map(\.intValue)
            guard !points.contains(where: { $0.folder == pointFolder }) else {
                throw bad("folder \(pointFolder) twice")
            }
            points.append(
                Point(
                    index: index, name: name, recipe: pointRecipe, overrides: overrides, folder: pointFolder,
                    seeds: seeds))
        }
        guard !points.isEmpty else { throw RunError("sweep", "\(path) lists no point") }
        return (points, folder)
    }

    // MARK: Points' states

    public enum State: String, Sendable {
        case finished, interrupted
        case notStarted = "not started"
    }

    /// A point's state: finished (its `DONE` marker, or the run's `summary.json`, which a run writes last),
    /// interrupted (a `run.json` but neither) or not started.
    public static func state(of folder: String) -> State {
        if FileManager.default.fileExists(atPath: "\(folder)/DONE")
            || FileManager.default.fileExists(atPath: "\(folder)/summary.json")
        {
            return .finished
        }
        if FileManager.default.fileExists(atPath: "\(folder)/run.json") { return .interrupted }
        return .notStarted
    }

    /// Marks a point finished.
    public static func markDone(_ folder: String) throws {
        let stamp = ISO8601DateFormatter().string(from: Date())
        do { try "\(stamp)\n".write(toFile: "\(folder)/DONE", atomically: true, encoding: .utf8) } catch {
            throw RunError("sweep", "cannot write \(folder)/DONE: \(error.localizedDescription)")
        }
    }
}
