import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaNN
import LucernaRun

/// `lucerna.config(defaults)` (applies `--set`, writes `config.json`), the `run` table (`run.dir`,
/// `run.log{...}`, `run.save(name, model)`, `run.note(text)`), and `lucerna.save_tensors` /
/// `lucerna.load_tensors`.
extension LuaState {

    /// Parses a Lua table literal from `--set` (`{256, 128}`): only literal characters are accepted (no
    /// parentheses, so no calls), and the chunk `return <text>` runs in an empty environment.
    func parseLiteral(_ text: String, key: String) throws -> ConfigValue {
        guard text.range(of: #"^[\s\{\}\[\]\w\.\-\+,=\"']*$"#, options: .regularExpression) != nil,
            !text.contains("function")
        else {
            throw TensorError("--set \(key)", "expected a table literal such as {256, 128}, got '\(text)'")
        }
        let top = lua_gettop(state)
        defer { lua_settop(state, top) }
        let source = "return \(text)"
        let status = source.withCString { lucerna_loadbuffer(state, $0, source.utf8.count, "=--set \(key)") }
        guard status == LUA_OK else { throw TensorError("--set \(key)", "not a table literal: \(text)") }
        lucerna_newtable(state)  // an empty environment: names resolve to nil, nothing can be called
        guard lua_setupvalue(state, -2, 1) != nil else {
            throw TensorError("--set \(key)", "not a table literal: \(text)")
        }
        try protectedCall(arguments: 0, results: 1)
        return try LuaConfigValue.read(-1, in: state, path: "--set \(key)")
    }
}

enum LuaRunAPI {
    /// The grid and seeds of a `lucerna.sweep{...}` table. `grid` maps keys to lists of values (the keys then in
    /// alphabetical order) or is a list of `{key, {values}}` pairs (in the order given); values are numbers,
    /// strings, booleans or tables, written as `--set` would take them.
    static func sweep(_ fields: [String: ConfigValue]) throws -> (grid: [Sweep.Axis], seeds: [Int]?) {
        let unknown = Set(fields.keys).subtracting(["grid", "seeds"])
        guard unknown.isEmpty else {
            throw ConfigurationError(
                "lucerna.sweep", "unknown field \(unknown.sorted().joined(separator: ", ")) (grid, seeds)")
        }
        let pairs: [(String, ConfigValue)]
        switch fields["grid"] {
        case .table(let table)?: pairs = table.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        case .list(let items)?:
            pairs = try items.map { item in
                guard case .list(let pair) = item, pair.count == 2, case .string(let key) = pair[0] else {
                    throw ConfigurationError("lucerna.sweep", "grid as a list takes {key, {values}} pairs")
                }
                return (key, pair[1])
            }
        default: throw ConfigurationError("lucerna.sweep", "grid = {key = {values}, ...} is required")
        }
        let grid = try pairs.map { key, value -> Sweep.Axis in
            guard case .list(let values) = value, !values.isEmpty else {
                throw ConfigurationError("lucerna.sweep", "grid.\(key) must be a non-empty list of values")
            }
            return Sweep.Axis(key: key, values: try values.map { try setText($0, key: key) })
        }
        var seeds: [Int]?
        if let value = fields["seeds"] {
            guard case .list(let items) = value, !items.isEmpty,
                items.allSatisfy({ ($0.numberValue.map { $0.rounded() == $0 && abs($0) < 1e15 }) == true })
            else { throw ConfigurationError("lucerna.sweep", "seeds must be a list of integers such as {1, 2, 3}") }
            seeds = items.compactMap(\.numberValue).map { Int($0) }
        }
        return (grid, seeds)
    }

    /// A value as `--set` takes it: a number, a string, true/false, or a Lua table literal.
    static func setText(_ value: ConfigValue, key: String) throws -> String {
        switch value {
        case .number(let number):
            return number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : "\(number)"
        case .string(let text): return text
        case .boolean(let flag): return flag ? "true" : "false"
        case .list(let items): return "{" + (try items.map { try literal($0, key: key) }).joined(separator: ",") + "}"
        case .table(let table):
            let entries = try table.sorted { $0.key < $1.key }.map { "\($0.key)=\(try literal($0.value, key: key))" }
            return "{" + entries.joined(separator: ",") + "}"
        default:
            throw ConfigurationError("lucerna.sweep", "grid.\(key): a value must be a number, string, boolean or table")
        }
    }

    /// A value inside a table literal (strings quoted).
    static func literal(_ value: ConfigValue, key: String) throws -> String {
        if case .string(let text) = value {
            guard !text.contains("\""), !text.contains("\\") else {
                throw ConfigurationError(
                    "lucerna.sweep", "grid.\(key): a string in a table may not hold quotes or backslashes")
            }
            return "\"\(text)\""
        }
        return try setText(value, key: key)
    }

    static func install(in lua: LuaState) {
        lua_getglobal(lua.state, "lucerna")
        lua.setFunction("config") { [unowned lua] call in
            call.reads(upTo: 1)
            guard lua_type(call.state, 1) == LUA_TTABLE else { throw call.fail(1, "a table of defaults") }
            let defaults = try call.options(1, path: "lucerna.config")
            guard let run = lua.run else {
                LuaConfigValue.push(.table(defaults), in: call.state)
                return 1
            }
            let resolved = try run.resolve(defaults) { text, key in try lua.parseLiteral(text, key: key) }
            LuaConfigValue.push(.table(resolved), in: call.state)
            return 1
        }
        lua.setFunction("sweep") { [unowned lua] call in
            // lucerna.sweep{grid = {key = {values}, ...}, seeds = {...}}: the recipe's own sweep, read by
            // `lucerna sweep RECIPE` without --grid; a no-op in a plain run (after checking the table).
            call.reads(upTo: 1)
            guard lua_type(call.state, 1) == LUA_TTABLE else {
                throw call.fail(1, "a table {grid = {...}, seeds = {...}}")
            }
            let fields = try call.options(1, path: "lucerna.sweep")
            let (grid, seeds) = try LuaRunAPI.sweep(fields)
            try lua.run.map { run in if run.plansSweep { try run.planSweep(grid: grid, seeds: seeds) } }
            return 0
        }
        lua.setFunction("register") { [unowned lua] call in
            // lucerna.register{kind = ..., name = ..., ...}: a plugin defined inside a recipe.
            call.reads(upTo: 1)
            guard lua_type(call.state, 1) == LUA_TTABLE else {
                throw call.fail(1, "a plugin table {kind = ..., name = ..., ...}")
            }
            lua_settop(call.state, 1)
            luaL_where(call.state, 1)
            let origin = (lucerna_tostring(call.state, -1).map { String(cString: $0) } ?? "recipe").trimmingCharacters(
                in: CharacterSet(charactersIn: ": "))
            lucerna_pop(call.state, 1)
            let entry = try lua.registerPlugin(at: 1, origin: origin, overriding: false)
            call.push("\(entry.kind.luaGlobal).\(entry.name)")
            return 1
        }
        lua.setFunction("save_tensors") { [unowned lua] call in
            let path = try call.string(1)
            try lua.checkAccess(path, writing: true, operation: "lucerna.save_tensors")
            let fields = try call.options(2, path: "lucerna.save_tensors")
            let tensors = try fields.keys.sorted().map { name -> (String, Tensor) in
                guard case .tensor(let tensor)? = fields[name] else {
                    throw TensorError("lucerna.save_tensors", "\(name) is not a tensor")
                }
                return (name, tensor)
            }
            try Safetensors.write(tensors, to: path)
            return 0
        }
        lua.setFunction("load_tensors") { [unowned lua] call in
            let path = try call.string(1)
            try lua.checkAccess(path, writing: false, operation: "lucerna.load_tensors")
            let contents = try Safetensors.read(path)
            lua_createtable(call.state, 0, Int32(contents.tensors.count))
            for (name, tensor) in contents.tensors {
                call.push(tensor)
                lua_setfield(call.state, -2, name)
            }
            return 1
        }
        lucerna_pop(lua.state, 1)
        // lucerna.merge(a, b, ...): a new table with the fields of each argument, later ones winning
        // (e.g. a config's optimizer spec plus the parameters: optim(lucerna.merge(config.optimizer, {params = ...}))).
        try? lua.run(
            source: """
                function lucerna.merge(...)
                   local merged = {}
                   for i = 1, select("#", ...) do
                      local part = select(i, ...)
                      if part ~= nil then
                         assert(type(part) == "table", ("lucerna.merge: argument %d is a %s, not a table"):format(i, type(part)))
                         for key, value in pairs(part) do merged[key] = value end
                      end
                   end
                   return merged
                end
                """, name: "lucerna.merge")

        lucerna_newtable(lua.state)
        if let run = lua.run { lua_pushstring(lua.state, run.directory) } else { lua_pushnil(lua.state) }
        lua_setfield(lua.state, -2, "dir")
        lua_pushinteger(lua.state, lua_Integer(lua.run?.seed ?? 0))
        lua_setfield(lua.state, -2, "seed")  // the run's seed (--seed, or each of --seeds)
        lua.setFunction("log") { [unowned lua] call in
            let fields = try call.options(1, path: "run.log")
            for (key, value) in fields {
                switch value {
                case .number, .string, .boolean: continue
                default:
                    throw TensorError(
                        "run.log",
                        "field \(key) must be a number, string or boolean, got \(value.kindName) (use :item() for a scalar tensor)"
                    )
                }
            }
            try lua.run?.log(fields)
            return 0
        }
        lua.setFunction("save") { [unowned lua] call in
            guard let run = lua.run else {
                throw RunError("run.save", "no run folder: run the recipe with `lucerna run`")
            }
            let name = try call.string(1)
            guard name.range(of: "^[A-Za-z0-9_.-]+$", options: .regularExpression) != nil, !name.hasPrefix(".") else {
                throw TensorError("run.save", "checkpoint name '\(name)' must use letters, digits, '_', '-' and '.'")
            }
            let tensors: [(name: String, tensor: Tensor)]
            call.reads(upTo: 2)
            if let module = LuaNNAPI.module(at: 2, in: call.state) {
                tensors = module.stateDict()
            } else {
                let fields = try call.options(2, path: "run.save")
                tensors = try fields.keys.sorted().map { key in
                    guard case .tensor(let tensor)? = fields[key] else {
                        throw TensorError("run.save", "\(key) is not a tensor")
                    }
                    return (key, tensor)
                }
            }
            let path = "\(run.directory)/checkpoints/\(name).safetensors"
            try Safetensors.write(tensors, to: path)
            run.recordCheckpoint("checkpoints/\(name).safetensors")
            call.push(path)
            return 1
        }
        lua.setFunction("image") { [unowned lua] call in
            // run.image(name, images, {columns = 8, range = {0, 1}}): a PNG grid in images/, shown in report.html.
            guard let run = lua.run else {
                throw RunError("run.image", "no run folder: run the recipe with `lucerna run`")
            }
            let name = try call.string(1)
            let images = try call.tensor(2)
            try call.checkOptions(3, accepted: ["columns", "range"])
            let columns = try call.integer(3, "columns", default: 8)
            var range: (Double, Double)?
            switch try call.options(3, path: "run.image")["range"] {
            case nil, .null?: break
            case .list(let bounds)? where bounds.count == 2 && bounds.allSatisfy({ $0.numberValue?.isFinite == true }):
                range = (bounds[0].numberValue ?? 0, bounds[1].numberValue ?? 1)
            case let other?: throw TensorError("run.image", "range must be {low, high}, got \(other)")
            }
            call.push(try run.saveImage(name, images, columns: columns, range: range))
            return 1
        }
        lua.setFunction("overlay") { [unowned lua] call in
            // run.overlay(name, images, {{"grad_cam", maps}, {"saliency", maps2}}, {colormap = "inferno", alpha = 0.6}):
            // a grid with the images in grey, then one row of coloured heatmaps per method, for report.html.
            guard let run = lua.run else {
                throw RunError("run.overlay", "no run folder: run the recipe with `lucerna run`")
            }
            let name = try call.string(1)
            let images = try call.tensor(2)
            guard case .list(let rows) = try call.value(3, path: "run.overlay rows") else {
                throw TensorError(
                    "run.overlay", "argument 3 must be a list of {name, maps} pairs, e.g. {{\"grad_cam\", maps}}")
            }
            let maps = try rows.map { row -> (name: String, maps: Tensor) in
                guard case .list(let pair) = row, pair.count == 2, case .string(let label) = pair[0],
                    case .tensor(let tensor) = pair[1]
                else {
                    throw TensorError("run.overlay", "each row must be {name, maps}, got \(row)")
                }
                return (label, tensor)
            }
            try call.checkOptions(4, accepted: ["colormap", "alpha"])
            let colormapName = try call.string(4, "colormap", default: "inferno") ?? "inferno"
            guard let colormap = Colormap(rawValue: colormapName) else {
                throw TensorError(
                    "run.overlay",
                    "colormap must be \(Colormap.allCases.map(\.rawValue).joined(separator: ", ")), got \(colormapName)"
                )
            }
            let data = try PNG.explanationGrid(
                images: images, maps: maps, colormap: colormap, alpha: try call.number(4, "alpha", default: 0.6))
            call.push(
                try run.savePNG(
                    name, data,
                    caption: "rows: inputs, " + maps.map(\.name).joined(separator: ", ")
                        + " (\(colormapName), low to high)",
                    operation: "run.overlay"))
            return 1
        }
        lua.setFunction("note") { [unowned lua] call in
            lua.run?.note(try call.string(1))
            return 0
        }
        lua_setglobal(lua.state, "run")
    }
}
