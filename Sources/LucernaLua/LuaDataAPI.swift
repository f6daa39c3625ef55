import CLua
import LucernaComponents
import LucernaCore
import LucernaData
import LucernaRun

/// `data.split{dataset, test = 0.2, stratify = "labels", seed = 1}` and `data.loader{dataset, batch = 64,
/// shuffle = true}` beside the registered data sets in the `data` table. A dataset is a table of tensors
/// sharing their first axis (what every `data.*{...}` returns).
enum LuaDataAPI {
    static let splitOptions = ["test", "validation", "stratify", "seed"]

    /// Installs the helpers into the `data` table on top of the stack.
    static func installHelpers(in lua: LuaState) {
        lua.setFunction("split") { [unowned lua] call in
            let (name, tensors) = try dataset(call)
            try call.checkOptions(1, accepted: splitOptions + ["dataset"])
            let test = try call.number(1, "test", default: 0.2)
            let validation = try call.number(1, "validation", default: 0)
            guard test > 0, test < 1, validation >= 0, validation < 1 else {
                throw TensorError(
                    "data.split",
                    "test must be in (0, 1) and validation in [0, 1), got test \(test), validation \(validation)")
            }
            let keys = try strata(call, tensors)
            let seed = try call.integer(1, "seed", default: 0)
            let generator = RandomGenerator(seed: UInt64(truncatingIfNeeded: seed))
            let outer = DataSplits.stratified(keys: keys, fraction: test, generator: generator)
            var parts: [(String, [Int])] = []
            if validation > 0 {
                let inner = DataSplits.stratified(
                    keys: outer.kept.map { keys[$0] }, fraction: validation, generator: generator)
                parts = [
                    ("train", inner.kept.map { outer.kept[$0] }), ("test", outer.heldOut),
                    ("validation", inner.heldOut.map { outer.kept[$0] }),
                ]
            } else {
                parts = [("train", outer.kept), ("test", outer.heldOut)]
            }
            for (part, indices) in parts {
                lua_createtable(call.state, 0, Int32(tensors.count + 1))
                for (key, tensor) in tensors {
                    call.push(try tensor.indexSelect(axis: 0, indices: indices))
                    lua_setfield(call.state, -2, key)
                }
                call.push(try Tensor(shape: [indices.count], integers: indices))
                lua_setfield(call.state, -2, "indices")
                try lua.run?.log(
                    [
                        "split": .string(part), "dataset": .string(name), "samples": .number(Double(indices.count)),
                        "seed": .number(Double(seed)), "test": .number(test), "validation": .number(validation),
                        "digest": .string(DataSplits.digest(indices)),
                    ], file: "splits.jsonl")
            }
            return Int32(parts.count)
        }
        lua.setFunction("__order") { call in
            // data.__order(n, shuffle, seed): 1-based positions, shuffled by `seed` or by the shared generator.
            let count = try call.integer(1)
            guard count >= 0, count <= 1 << 30 else {
                throw TensorError("data.loader", "dataset size \(count) out of range")
            }
            let shuffle = call.boolean(2)
            let generator =
                call.isNil(3)
                ? RandomGenerator.shared : RandomGenerator(seed: UInt64(truncatingIfNeeded: try call.integer(3)))
            let order = shuffle ? generator.permutation(count) : Array(0..<count)
            call.push(try Tensor(shape: [count], values: order.map { Double($0 + 1) }, dtype: .float32))
            return 1
        }
    }

    /// The loader, written in Lua over `data.__order` so it is an ordinary iterator:
    /// `for batch in data.loader{set, batch = 64, shuffle = true} do ... batch.images ... end`.
    static let loaderSource = """
        function data.loader(spec)
           assert(type(spec) == "table", "data.loader: expected {dataset, batch = ..., shuffle = ...}")
           for key in pairs(spec) do
              if key ~= 1 and key ~= "dataset" and key ~= "batch" and key ~= "shuffle" and key ~= "seed" and key ~= "drop_last" then
                 error(("data.loader: unknown option '%s'; accepted: dataset, batch, shuffle, seed, drop_last"):format(tostring(key)), 2)
              end
           end
           local dataset = spec[1] or spec.dataset
           assert(type(dataset) == "table", "data.loader: the dataset must be a table of tensors")
           local size, count = spec.batch or 64, nil
           for key, value in pairs(dataset) do
              if getmetatable(value) == "lucerna.Tensor" and key ~= "indices" then
                 local n = value:shape()[1]
                 if count and n ~= count then error(("data.loader: %s has %d samples, another tensor %d"):format(key, n, count), 2) end
                 count = n
              end
           end
           assert(count, "data.loader: the dataset holds no tensors")
           assert(math.type(size) == "integer" and size > 0, "data.loader: batch must be a positive integer")
           local order, start = data.__order(count, spec.shuffle == true, spec.seed), 1
           return function()
              if start > count then return nil end
              local length = math.min(size, count - start + 1)
              if spec.drop_last and length < size then return nil end
              local positions = order:narrow(1, start, length)
              start = start + length
              local batch = {}
              for key, value in pairs(dataset) do
                 if getmetatable(value) == "lucerna.Tensor" then batch[key] = value:index_select(1, positions) end
              end
              return batch
           end
        end
        """

    /// The dataset argument (position 1 or `dataset =` in the options table) as named tensors.
    static func dataset(_ call: LuaCall) throws -> (String, [(String, Tensor)]) {
        call.reads(upTo: 1)
        guard lua_type(call.state, 1) == LUA_TTABLE else { throw call.fail(1, "{dataset, test = ...}") }
        lua_rawgeti(call.state, 1, 1)
        if lua_type(call.state, -1) == LUA_TNIL {
            lucerna_pop(call.state, 1)
            lucerna_rawgetfield(call.state, 1, "dataset")
        }
        defer { lucerna_pop(call.state, 1) }
        guard case .table(let fields) = try LuaConfigValue.read(-1, in: call.state, path: "\(call.name) dataset") else {
            throw TensorError(call.name, "the dataset must be a table of tensors, e.g. data.mnist{}")
        }
        var tensors: [(String, Tensor)] = []
        for key in fields.keys.sorted() where key != "indices" {
            guard case .tensor(let tensor)? = fields[key] else { continue }
            tensors.append((key, tensor))
        }
        guard let count = tensors.first?.1.shape.first, tensors.allSatisfy({ $0.1.shape.first == count }) else {
            throw TensorError(
                call.name,
                "the dataset's tensors must share their first axis: \(tensors.map { "\($0.0) \(describe(shape: $0.1.shape))" })"
            )
        }
        // Remove the positional dataset so option checks see only named options.
        lua_pushnil(call.state)
        lua_rawseti(call.state, 1, 1)
        return ("dataset", tensors)
    }

    /// Stratification keys: one tensor's values (`stratify = "labels"`) or a tuple of several
    /// (`stratify = {"labels", "groups"}`), encoded as strings.
    static func strata(_ call: LuaCall, _ tensors: [(String, Tensor)]) throws -> [String] {
        lucerna_rawgetfield(call.state, 1, "stratify")
        let value = try LuaConfigValue.read(-1, in: call.state, path: "data.split stratify")
        lucerna_pop(call.state, 1)
        var names: [String]
        switch value {
        case .null: names = ["labels"]
        case .string(let name): names = [name]
        case .list(let items):
            names = try items.map {
                guard case .string(let name) = $0 else { throw TensorError("data.split", "stratify must name tensors") }
                return name
            }
        default: throw TensorError("data.split", "stratify must be a tensor name or a list of names")
        }
        let columns = try names.map { name -> [Int] in
            guard let tensor = tensors.first(where: { $0.0 == name })?.1 else {
                throw TensorError(
                    "data.split",
                    "no tensor '\(name)' to stratify by\(suggestion(for: name, in: tensors.map(\.0))); the dataset has \(tensors.map(\.0).joined(separator: ", "))"
                )
            }
            guard tensor.rank == 1 else {
                throw TensorError(
                    "data.split", "stratify tensor \(name) must be [N], got \(describe(shape: tensor.shape))")
            }
            return tensor.toIntegers()
        }
        let count = tensors.first?.1.shape.first ?? 0
        return (0..<count).map { index in columns.map { String($0[index]) }.joined(separator: "|") }
    }
}
