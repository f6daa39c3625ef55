import CLua
import LucernaComponents
import LucernaCore

/// Tensors in Lua: full userdata holding a retained reference, released by `__gc`; arithmetic and
/// comparison metamethods; engine operations as methods; `tensor{...}` constructors; `grad` and
/// `no_grad`. Dimensions are 1-based as in Torch7 (negative ones count from the end).
enum LuaTensorAPI {
    static let metatableName = "lucerna.Tensor"

    /// Live tensor userdata (for leak tests).
    static var liveCount: Int { LuaUserdata.liveCounts[metatableName] ?? 0 }

    /// The engine's allocation counter at the last full collection.
    nonisolated(unsafe) static var allocatedAtCollection = 0
    /// Lua sees each tensor as an 8-byte userdata, so its collector alone would let large tensors and the
    /// autodiff graphs (activations) behind them pile up: a full collection runs whenever the engine has
    /// allocated this many bytes since the last one. The Lua heap itself is small, so it is cheap.
    static let collectionThreshold = 256 << 20

    static func push(_ tensor: Tensor, in state: OpaquePointer) {
        if TensorStorage.allocatedBytes &- allocatedAtCollection > collectionThreshold {
            allocatedAtCollection = TensorStorage.allocatedBytes
            _ = lucerna_gccollect(state)
        }
        LuaUserdata.push(tensor, metatable: metatableName, in: state)
    }

    static func tensor(at index: Int32, in state: OpaquePointer) -> Tensor? {
        LuaUserdata.object(at: index, metatable: metatableName, in: state) as? Tensor
    }

    /// A 1-based Lua dimension where the rank is not known yet (a layer's option) as an engine axis.
    static func oneBasedAxis(_ dimension: Int, _ operation: String) throws -> Int {
        guard dimension != 0 else {
            throw ScriptError(operation, "dimensions count from 1 (or from -1 at the end); got 0")
        }
        return dimension > 0 ? dimension - 1 : dimension
    }

    /// A 1-based Lua dimension of a tensor of `rank` (negative ones count from the end) as the engine's
    /// 0-based axis; out of range is an error in the user's numbering.
    static func dimension(_ dimension: Int, rank: Int, _ operation: String) throws -> Int {
        guard dimension != 0, dimension <= rank, dimension >= -rank else {
            throw ScriptError(
                operation,
                rank == 0
                    ? "dimension \(dimension) is out of range: the tensor is a scalar (rank 0)"
                    : "dimension \(dimension) is out of range for a tensor of rank \(rank) (dimensions count 1...\(rank), or -\(rank)...-1 from the end)"
            )
        }
        return dimension > 0 ? dimension - 1 : dimension + rank
    }

    static func install(in lua: LuaState) throws {
        let state = lua.state
        // 1. The metatable with metamethods and the method table as __index.
        LuaUserdata.createMetatable(metatableName, in: lua, methods: { installMethods(in: $0) })
        lua.setFunction("__tostring") { call in
            call.push("\(try call.tensor(1))")
            return 1
        }
        for (name, operation) in [
            ("__add", "add"), ("__sub", "sub"), ("__mul", "mul"), ("__div", "div"), ("__pow", "pow"),
        ] {
            lua.setFunction(name) { call in
                let (a, b) = try operands(call, operation)
                switch operation {
                case "add": call.push(try a + b)
                case "sub": call.push(try a - b)
                case "mul": call.push(try a * b)
                case "div": call.push(try a / b)
                default: call.push(try a.pow(b))
                }
                return 1
            }
        }
        lua.setFunction("__unm") { call in
            call.push(try call.tensor(1).negated())
            return 1
        }
        lucerna_pop(state, 1)

        // 2. The `tensor` table: callable to build from nested tables, with constructors.
        lucerna_newtable(state)
        let constructors: [(String, ([Int]) throws -> Tensor)] = [
            ("zeros", { try Tensor.zeros($0) }), ("ones", { try Tensor.ones($0) }),
            ("randn", { try Tensor.normal($0) }), ("rand", { try Tensor.uniform($0) }),
        ]
        for (name, build) in constructors {
            lua.setFunction(name) { call in
                call.push(try build(call.integers(1)))
                return 1
            }
        }
        lua.setFunction("randperm") { call in
            // 1-based, as in Torch7.
            let count = try call.integer(1)
            guard count >= 0, count <= 1 << 27 else { throw TensorError("randperm", "count \(count) out of range") }
            call.push(try Tensor(shape: [count], integers: RandomGenerator.shared.permutation(count).map { $0 + 1 }))
            return 1
        }
        for (name, isStack) in [("cat", false), ("stack", true)] {
            // tensor.cat({a, b}, dim) / tensor.stack({a, b}, dim) with a 1-based dim (default 1).
            lua.setFunction(name) { call in
                let (parts, _) = try tensors(call, 1)
                let rank = (parts.first?.rank ?? 0) + (isStack ? 1 : 0)
                let dimension = call.isNil(2) ? 0 : try call.dimension(2, rank: rank)
                call.push(
                    isStack ? try Tensor.stack(parts, axis: dimension) : try Tensor.concatenate(parts, axis: dimension))
                return 1
            }
        }
        lua.setFunction("where") { call in
            // tensor.where(condition, a, b): a where condition is non-zero, else b (numbers allowed).
            let condition = try call.tensor(1)
            let reference = call.optionalTensor(2) ?? call.optionalTensor(3)
            let dtype = reference?.dtype ?? .float32
            let a = try call.optionalTensor(2) ?? Tensor(call.number(2), dtype: dtype)
            let b = try call.optionalTensor(3) ?? Tensor(call.number(3), dtype: dtype)
            call.push(try Tensor.where(condition, a, b))
            return 1
        }
        lua.setFunction("one_hot") { call in
            // tensor.one_hot(labels, classes) with 0-based labels, as PyTorch.
            call.push(try Tensor.oneHot(call.tensor(1).to(.int64), classes: call.integer(2)))
            return 1
        }
        lua.setFunction("arange") { call in
            // arange(stop), arange(start, stop) or arange(start, stop, step), as PyTorch (Float32 values).
            if call.isNil(2) {
                call.push(try Tensor.arange(call.number(1)))
            } else {
                call.push(try Tensor.arange(call.number(1), call.number(2), step: call.isNil(3) ? 1 : call.number(3)))
            }
            return 1
        }
        lucerna_newtable(state)
        lua.setFunction("__call") { call in
            // tensor{...}: argument 1 is the `tensor` table itself.
            call.push(try fromNested(call, index: 2))
            return 1
        }
        lua_setmetatable(state, -2)
        lua_pushvalue(state, -1)
        lua_setglobal(state, "tensor")

        // 3. The `lucerna` table.
        lucerna_newtable(state)
        lua_pushvalue(state, -2)
        lua_setfield(state, -2, "tensor")
        lua.setFunction("relevance_shares") { call in
            // lucerna.relevance_shares{image = maps, audio = maps}: each modality's share of |attribution| per sample.
            guard case .table(let fields) = try call.value(1, path: "maps") else {
                throw call.fail(1, "a table of per-modality maps {image = ..., audio = ...}")
            }
            var maps: [String: Tensor] = [:]
            for (name, value) in fields {
                guard case .tensor(let tensor) = value else {
                    throw TensorError("relevance_shares", "maps.\(name) must be a tensor, got \(value.kindName)")
                }
                maps[name] = tensor
            }
            LuaConfigValue.push(.table(try ModalityView.shares(maps).mapValues { .tensor($0) }), in: call.state)
            return 1
        }
        lua.setFunction("explanation_shift") { call in
            // lucerna.explanation_shift(maps, other_maps[, {top = 0.2}]): per-sample top-k IoU and Spearman correlation.
            var top = 0.2
            if !call.isNil(3) {
                try call.checkOptions(3, accepted: ["top"])
                let options = try call.options(3, path: "explanation_shift options")
                top = try Config(owner: "explanation_shift", values: options).number("top", default: 0.2) ?? 0.2
            }
            let result = try ExplanationShift.compare(call.tensor(1), call.tensor(2), top: top)
            let count = result.intersectionOverUnion.count
            LuaConfigValue.push(
                .table([
                    "iou": .tensor(try Tensor(shape: [count], values: result.intersectionOverUnion, dtype: .float64)),
                    "rank_correlation": .tensor(
                        try Tensor(shape: [count], values: result.rankCorrelation, dtype: .float64)),
                ]),
                in: call.state)
            return 1
        }
        lua.setFunction("kmeans") { call in
            // lucerna.kmeans(features, k[, {seed = 0, n_init = 10, max_iter = 300, tol = 1e-4}]): scikit-learn's
            // KMeans (k-means++, Lloyd, the lowest-inertia restart) on rows [N, D]; {labels, centers, inertia},
            // labels 1-based as Lua's indices (labels[i] is the row of centers of sample i's cluster).
            let features = try call.tensor(1)
            let kmeans = KMeans(clusters: try call.integer(2))
            var seed: UInt64 = 0
            if !call.isNil(3) {
                try call.checkOptions(3, accepted: ["seed", "n_init", "max_iter", "tol"])
                let options = try Config(owner: "kmeans", values: call.options(3, path: "kmeans options"))
                seed = UInt64(max(0, try options.integer("seed", default: 0)))
                kmeans.initializations = try options.integer("n_init", default: 10)
                kmeans.maximumIterations = try options.integer("max_iter", default: 300)
                kmeans.tolerance = try options.number("tol", default: 1e-4) ?? 1e-4
            }
            guard features.rank == 2 else {
                throw TensorError("kmeans", "needs features [N, D], got \(describe(shape: features.shape))")
            }
            let (samples, width) = (features.shape[0], features.shape[1])
            let result = try kmeans.fit(
                points: features.to(.float64).toDoubles(), samples: samples, features: width, seed: seed)
            LuaConfigValue.push(
                .table([
                    "labels": .tensor(try Tensor(shape: [samples], integers: result.labels.map { $0 + 1 })),
                    "centers": .tensor(
                        try Tensor(shape: [kmeans.clusters, width], values: result.centers, dtype: .float64)),
                    "inertia": .number(result.inertia),
                ]),
                in: call.state)
            return 1
        }
        lua.setFunction("manual_seed") { call in
            RandomGenerator.shared.reseed(UInt64(truncatingIfNeeded: try call.integer(1)))
            return 0
        }
        lua_setglobal(state, "lucerna")
        lucerna_pop(state, 1)

        // 4. Autodiff helpers.
        lua.register("grad") { call in
            let (outputs, _) = try tensors(call, 1)
            let (inputs, single) = try tensors(call, 2)
            let createGraph = call.option(3, "create_graph") ?? false
            let gradients = try Tensor.gradients(of: outputs, withRespectTo: inputs, createGraph: createGraph)
            if single {
                if let gradient = gradients[0] { call.push(gradient) } else { call.pushNil() }
                return 1
            }
            lua_createtable(call.state, Int32(gradients.count), 0)
            for (position, gradient) in gradients.enumerated() {
                if let gradient { call.push(gradient) } else { call.pushNil() }
                lua_seti(call.state, -2, lua_Integer(position + 1))
            }
            return 1
        }
        lua.register("no_grad") { call in
            call.reads(upTo: 1)
            guard lua_type(call.state, 1) == LUA_TFUNCTION else { throw call.fail(1, "a function") }
            lua_settop(call.state, 1)
            let status = GradientMode.with(enabled: false) { lucerna_pcall(call.state, 0, LUA_MULTRET, 0) }
            guard status == LUA_OK else {
                throw LuaError(
                    message: lucerna_tostring(call.state, -1).map { String(cString: $0) } ?? "error in no_grad")
            }
            return lua_gettop(call.state)
        }
    }

    /// One tensor or a Lua array of tensors at `index`; `single` tells which.
    static func tensors(_ call: LuaCall, _ index: Int32) throws -> ([Tensor], single: Bool) {
        if let tensor = tensor(at: index, in: call.state) { return ([tensor], true) }
        guard lua_type(call.state, index) == LUA_TTABLE else {
            throw call.fail(index, "a tensor or a table of tensors")
        }
        var result: [Tensor] = []
        for position in 1...max(lua_Integer(lua_rawlen(call.state, index)), 1) {
            lua_rawgeti(call.state, index, position)
            defer { lucerna_pop(call.state, 1) }
            guard let tensor = tensor(at: -1, in: call.state) else {
                throw TensorError(call.name, "argument \(index)[\(position)] must be a tensor")
            }
            result.append(tensor)
        }
        return (result, false)
    }

    /// The two operands of an arithmetic metamethod; a number becomes a scalar of the other's dtype.
    static func operands(_ call: LuaCall, _ operation: String) throws -> (Tensor, Tensor) {
        let first = call.optionalTensor(1)
        let second = call.optionalTensor(2)
        switch (first, second) {
        case (let a?, let b?): return (a, b)
        case (let a?, nil): return (a, Tensor(try call.number(2), dtype: a.dtype))
        case (nil, let b?): return (Tensor(try call.number(1), dtype: b.dtype), b)
        default: throw TensorError(operation, "needs a tensor operand")
        }
    }

    /// A Float32 tensor from a (nested, rectangular) Lua table of numbers, or a number (a scalar).
    static func fromNested(_ call: LuaCall, index: Int32) throws -> Tensor {
        let state = call.state
        if lua_type(state, index) == LUA_TNUMBER { return Tensor(lucerna_tonumber(state, index)) }
        guard lua_type(state, index) == LUA_TTABLE else {
            throw call.fail(index, "a number or a nested table of numbers")
        }
        var shape: [Int] = []
        var values: [Float] = []
        var leafDepth: Int?
        func ragged() -> TensorError {
            TensorError("tensor", "ragged nested table: rows must all have the same length and depth")
        }
        func read(_ depth: Int) throws {
            // The table to read is on top of the stack.
            guard depth < 32 else { throw ScriptError("tensor", "tables nested more than 32 levels") }
            // Each level holds its table on the stack (and reads one element above it).
            guard lua_checkstack(state, 3) != 0 else { throw ScriptError("tensor", "tables nested too deeply") }
            let length = Int(lua_rawlen(state, -1))
            if depth == shape.count { shape.append(length) } else if shape[depth] != length { throw ragged() }
            for position in 0..<length {
                lua_rawgeti(state, -1, lua_Integer(position + 1))
                defer { lucerna_pop(state, 1) }
                switch lua_type(state, -1) {
                case LUA_TNUMBER:
                    if leafDepth == nil { leafDepth = depth }
                    guard leafDepth == depth else { throw ragged() }
                    values.append(Float(lucerna_tonumber(state, -1)))
                case LUA_TTABLE:
                    guard leafDepth.map({ depth < $0 }) ?? true else { throw ragged() }
                    try read(depth + 1)
                default:
                    throw TensorError(
                        "tensor",
                        "element \(position + 1) is a \(String(cString: lua_typename(state, lua_type(state, -1)))), not a number"
                    )
                }
            }
        }
        lua_pushvalue(state, index)
        defer { lucerna_pop(state, 1) }
        try read(0)
        return try Tensor(shape: shape, scalars: values)
    }
}
