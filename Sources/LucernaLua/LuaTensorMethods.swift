import CLua
import LucernaCore

extension LuaTensorAPI {
    /// Installs the tensor methods into the table on top of the stack (`x:relu()`, `a:matmul(b)`, ...).
    static func installMethods(in lua: LuaState) {
        // Unary operations without arguments.
        let unary: [(String, (Tensor) throws -> Tensor)] = [
            ("relu", { try $0.relu() }), ("sigmoid", { try $0.sigmoid() }), ("tanh", { try $0.tanh() }),
            ("exp", { try $0.exp() }), ("log", { try $0.log() }), ("sqrt", { try $0.sqrt() }),
            ("abs", { try $0.abs() }),
            ("neg", { try $0.negated() }), ("softplus", { try $0.softplus() }), ("gelu", { try $0.gelu() }),
            ("silu", { try $0.silu() }),
            ("square", { try $0.square() }), ("detach", { $0.detach() }), ("clone", { $0.copy() }),
            ("t", { try $0.transposed() }), ("float", { try $0.to(.float32) }), ("double", { try $0.to(.float64) }),
            ("sign", { try $0.sign() }), ("reciprocal", { try $0.reciprocal() }), ("erf", { try $0.erf() }),
            ("is_finite", { try $0.isFinite() }),
        ]
        for (name, body) in unary {
            lua.setFunction(name) { call in
                call.push(try body(call.tensor(1)))
                return 1
            }
        }
        // Binary operations with a tensor or a number.
        let binary: [(String, (Tensor, Tensor) throws -> Tensor)] = [
            ("add", { try $0 + $1 }), ("sub", { try $0 - $1 }), ("mul", { try $0 * $1 }), ("div", { try $0 / $1 }),
            ("pow", { try $0.pow($1) }), ("maximum", { try $0.maximum($1) }), ("minimum", { try $0.minimum($1) }),
            ("matmul", { try $0.matmul($1) }), ("gt", { try $0.greater($1) }), ("lt", { try $0.less($1) }),
            ("eq", { try $0.equal($1) }), ("ge", { try $0.greaterOrEqual($1) }), ("le", { try $0.lessOrEqual($1) }),
        ]
        for (name, body) in binary {
            lua.setFunction(name) { call in
                let (a, b) = try operands(call, name)
                call.push(try body(a, b))
                return 1
            }
        }
        // Reductions over an optional 1-based dimension.
        let reductions: [(String, (Tensor, Int?, Bool) throws -> Tensor)] = [
            ("sum", { try $0.sum(axes: $1.map { [$0] }, keepingDimensions: $2) }),
            ("mean", { try $0.mean(axes: $1.map { [$0] }, keepingDimensions: $2) }),
            ("max", { try $0.max(axis: $1, keepingDimensions: $2) }),
            ("min", { try $0.min(axis: $1, keepingDimensions: $2) }),
            ("var", { try $0.variance(axes: $1.map { [$0] }, keepingDimensions: $2) }),
        ]
        for (name, body) in reductions {
            lua.setFunction(name) { call in
                let tensor = try call.tensor(1)
                let dimension = call.isNil(2) ? nil : try call.dimension(2, rank: tensor.rank)
                call.push(try body(tensor, dimension, call.boolean(3)))
                return 1
            }
        }
        for (name, body) in [
            ("softmax", { (x: Tensor, d: Int) in try x.softmax(axis: d) }),
            ("log_softmax", { (x: Tensor, d: Int) in try x.logSoftmax(axis: d) }),
        ] {
            lua.setFunction(name) { call in
                let tensor = try call.tensor(1)
                let dimension = call.isNil(2) ? -1 : try call.dimension(2, rank: tensor.rank)
                call.push(try body(tensor, dimension))
                return 1
            }
        }
        lua.setFunction("argmax") { call in
            let tensor = try call.tensor(1)
            let dimension = call.isNil(2) ? -1 : try call.dimension(2, rank: tensor.rank)
            // Indices are returned 1-based, like Lua's.
            call.push(try tensor.argmax(axis: dimension).to(.float32) + 1)
            return 1
        }
        lua.setFunction("reshape") { call in
            call.push(try call.tensor(1).reshaped(call.integers(2)))
            return 1
        }
        lua.setFunction("transpose") { call in
            let tensor = try call.tensor(1)
            call.push(
                try tensor.transposed(call.dimension(2, rank: tensor.rank), call.dimension(3, rank: tensor.rank)))
            return 1
        }
        lua.setFunction("clamp") { call in
            let lower = call.isNil(2) ? -Double.infinity : try call.number(2)
            let upper = call.isNil(3) ? Double.infinity : try call.number(3)
            call.push(try call.tensor(1).clamp(min: lower, max: upper))
            return 1
        }
        lua.setFunction("shape") { call in
            let tensor = try call.tensor(1)
            lua_createtable(call.state, Int32(tensor.rank), 0)
            for (position, size) in tensor.shape.enumerated() {
                lua_pushinteger(call.state, lua_Integer(size))
                lua_seti(call.state, -2, lua_Integer(position + 1))
            }
            return 1
        }
        lua.setFunction("numel") { call in
            call.push(Double(try call.tensor(1).count))
            return 1
        }
        lua.setFunction("item") { call in
            call.push(try call.tensor(1).item())
            return 1
        }
        lua.setFunction("totable") { call in
            let tensor = try call.tensor(1)
            let values = tensor.toDoubles()
            var offset = 0
            func build(_ depth: Int) {
                if depth == tensor.rank {
                    lua_pushnumber(call.state, values[offset])
                    offset += 1
                    return
                }
                lua_createtable(call.state, Int32(tensor.shape[depth]), 0)
                for position in 0..<tensor.shape[depth] {
                    build(depth + 1)
                    lua_seti(call.state, -2, lua_Integer(position + 1))
                }
            }
            guard tensor.rank <= 32 else { throw TensorError("totable", "rank \(tensor.rank) is too deep") }
            guard lua_checkstack(call.state, Int32(tensor.rank + 4)) != 0 else {
                throw TensorError("totable", "the Lua stack cannot grow for rank \(tensor.rank)")
            }
            build(0)
            return 1
        }
        lua.setFunction("requires_grad") { call in
            let tensor = try call.tensor(1)
            try tensor.requiringGrad(call.isNil(2) ? true : call.boolean(2))
            call.push(tensor)
            return 1
        }
        lua.setFunction("backward") { call in
            // y:backward() for a scalar, y:backward(gradient) with y's shape otherwise, as PyTorch.
            try call.tensor(1).backward(seed: call.isNil(2) ? nil : call.tensor(2))
            return 0
        }
        lua.setFunction("grad") { call in
            if let gradient = try call.tensor(1).grad { call.push(gradient) } else { call.pushNil() }
            return 1
        }
        lua.setFunction("zero_grad") { call in
            try call.tensor(1).grad = nil
            return 0
        }
        lua.setFunction("long") { call in
            call.push(try call.tensor(1).to(.int64))
            return 1
        }
        lua.setFunction("narrow") { call in
            // narrow(dim, start, length) with a 1-based start, as in Torch7.
            let tensor = try call.tensor(1)
            let resolved = try call.dimension(2, rank: tensor.rank)
            let start = try call.integer(3)
            let length = try call.integer(4)
            guard start >= 1, length >= 0 else { throw ScriptError("narrow", "start must be >= 1 and length >= 0") }
            guard start - 1 + length <= tensor.shape[resolved] else {
                throw ScriptError(
                    "narrow",
                    "range \(start)..\(start + length - 1) is outside dimension \(resolved + 1) of \(describe(shape: tensor.shape))"
                )
            }
            call.push(try tensor.sliced(axis: resolved, start: start - 1, end: start - 1 + length))
            return 1
        }
        lua.setFunction("index_select") { call in
            // index_select(dim, indices) with 1-based indices (a tensor or a table).
            let tensor = try call.tensor(1)
            let dimension = try call.dimension(2, rank: tensor.rank)
            let indices =
                try call.optionalTensor(3)?.toIntegers() ?? call.integers(3, maximumCount: 1 << 28)
            try checkOneBased(indices, size: tensor.shape[dimension], dimension: dimension, "index_select")
            call.push(try tensor.indexSelect(axis: dimension, indices: indices.map { $0 - 1 }))
            return 1
        }
        installShapeMethods(in: lua)
        lua.setFunction("dtype") { call in
            call.push(try call.tensor(1).dtype.rawValue)
            return 1
        }
    }

    /// Lua's 1-based index tensor, each index checked against `size`, as the engine's 0-based int64 indices.
    static func zeroBased(_ indices: Tensor, size: Int, dimension: Int, _ operation: String) throws -> Tensor {
        let values = indices.toIntegers()
        try checkOneBased(values, size: size, dimension: dimension, operation)
        return try Tensor(shape: indices.shape, integers: values.map { $0 - 1 })
    }

    /// Throws unless every index lies in 1...size (Lua's numbering; errors speak it too).
    static func checkOneBased(_ indices: [Int], size: Int, dimension: Int, _ operation: String) throws {
        if let bad = indices.first(where: { $0 < 1 || $0 > size }) {
            throw ScriptError(
                operation,
                "index \(bad) is out of range for dimension \(dimension + 1) of size \(size) (indices count from 1)")
        }
    }

    /// Shape, indexing and layer-level methods: `permute`, `unsqueeze`, `squeeze`, `flatten`, `expand`,
    /// `gather`, `logsumexp`, `leaky_relu`, `conv2d`, `max_pool2d`, `avg_pool2d`, `dropout`.
    static func installShapeMethods(in lua: LuaState) {
        lua.setFunction("permute") { call in
            let tensor = try call.tensor(1)
            // x:permute(2, 1) or x:permute{2, 1}
            let order: [Int]
            call.reads(upTo: 2)
            if lua_type(call.state, 2) == LUA_TTABLE {
                guard call.count == 2 else { throw ScriptError("permute", "give the order as one table or as numbers") }
                order = try call.integers(2).map { try LuaTensorAPI.dimension($0, rank: tensor.rank, "permute") }
            } else {
                order = try (2...max(2, call.count)).map { try call.dimension($0, rank: tensor.rank) }
            }
            call.push(try tensor.permuted(order))
            return 1
        }
        lua.setFunction("unsqueeze") { call in
            let tensor = try call.tensor(1)
            // 1-based insert position in the result; -1 appends a last axis.
            call.push(try tensor.unsqueezed(axis: call.dimension(2, rank: tensor.rank + 1)))
            return 1
        }
        lua.setFunction("squeeze") { call in
            let tensor = try call.tensor(1)
            call.push(try tensor.squeezed(axis: call.isNil(2) ? nil : call.dimension(2, rank: tensor.rank)))
            return 1
        }
        lua.setFunction("flatten") { call in
            let tensor = try call.tensor(1)
            let start = call.isNil(2) ? 0 : try call.dimension(2, rank: tensor.rank)
            let end = call.isNil(3) ? -1 : try call.dimension(3, rank: tensor.rank)
            call.push(try tensor.flattened(from: start, to: end))
            return 1
        }
        lua.setFunction("expand") { call in
            call.push(try call.tensor(1).expanded(to: call.integers(2)))
            return 1
        }
        lua.setFunction("gather") { call in
            // gather(dim, index) with 1-based indices, as Torch7.
            let tensor = try call.tensor(1)
            let dimension = try call.dimension(2, rank: tensor.rank)
            call.push(
                try tensor.gathering(
                    axis: dimension,
                    indices: zeroBased(call.tensor(3), size: tensor.shape[dimension], dimension: dimension, "gather")))
            return 1
        }
        lua.setFunction("logsumexp") { call in
            let tensor = try call.tensor(1)
            call.push(
                try tensor.logSumExp(axis: call.dimension(2, rank: tensor.rank), keepingDimensions: call.boolean(3)))
            return 1
        }
        lua.setFunction("type_as") { call in
            call.push(try call.tensor(1).to(call.tensor(2).dtype))
            return 1
        }
        lua.setFunction("leaky_relu") { call in
            call.push(try call.tensor(1).leakyRelu(slope: call.isNil(2) ? 0.01 : call.number(2)))
            return 1
        }
        lua.setFunction("dropout") { call in
            call.push(
                try call.tensor(1).dropout(
                    probability: call.number(2), training: call.isNil(3) ? true : call.boolean(3)))
            return 1
        }
        lua.setFunction("conv2d") { call in
            // x:conv2d(weight, bias_or_nil, {stride =, padding =, dilation =})
            try call.checkOptions(4, accepted: ["stride", "padding", "dilation"])
            call.push(
                try call.tensor(1).conv2d(
                    weight: call.tensor(2), bias: call.isNil(3) ? nil : call.tensor(3),
                    stride: call.pair(4, "stride", default: (1, 1)), padding: call.pair(4, "padding", default: (0, 0)),
                    dilation: call.pair(4, "dilation", default: (1, 1))))
            return 1
        }
        lua.setFunction("conv_transpose2d") { call in
            // x:conv_transpose2d(weight, bias_or_nil, {stride =, padding =, output_padding =, dilation =})
            try call.checkOptions(4, accepted: ["stride", "padding", "output_padding", "dilation"])
            call.push(
                try call.tensor(1).convTranspose2d(
                    weight: call.tensor(2), bias: call.isNil(3) ? nil : call.tensor(3),
                    stride: call.pair(4, "stride", default: (1, 1)),
                    padding: call.pair(4, "padding", default: (0, 0)),
                    outputPadding: call.pair(4, "output_padding", default: (0, 0)),
                    dilation: call.pair(4, "dilation", default: (1, 1))))
            return 1
        }
        lua.setFunction("argmin") { call in
            let tensor = try call.tensor(1)
            let dimension = call.isNil(2) ? -1 : try call.dimension(2, rank: tensor.rank)
            call.push(try tensor.argmin(axis: dimension).to(.float32) + 1)  // 1-based, like argmax
            return 1
        }
        lua.setFunction("adaptive_avg_pool2d") { call in
            call.push(try call.tensor(1).adaptiveAvgPool2d(call.pair(2)))
            return 1
        }
        lua.setFunction("upsample") { call in
            // x:upsample({h, w}, "nearest" | "bilinear")
            let mode = call.isNil(3) ? "nearest" : try call.string(3)
            guard let chosen = UpsampleMode(rawValue: mode) else {
                throw TensorError("upsample", "mode must be nearest, bilinear or bilinear_align_corners, got \(mode)")
            }
            call.push(try call.tensor(1).upsample(size: call.pair(2), mode: chosen))
            return 1
        }
        lua.setFunction("pad") { call in
            // x:pad{before1, after1, before2, after2, ...} from the first dimension, value optional.
            let tensor = try call.tensor(1)
            let amounts = try call.integers(2)
            guard amounts.count % 2 == 0, amounts.count / 2 <= tensor.rank else {
                throw TensorError(
                    "pad",
                    "expected pairs {before, after} for at most \(tensor.rank) dimensions, got \(amounts.count) numbers"
                )
            }
            var padding = (0..<tensor.rank).map { _ in (before: 0, after: 0) }
            for dimension in 0..<(amounts.count / 2) {
                padding[dimension] = (amounts[2 * dimension], amounts[2 * dimension + 1])
            }
            call.push(try tensor.padded(padding, value: call.isNil(3) ? 0 : call.number(3)))
            return 1
        }
        lua.setFunction("scatter_add") { call in
            // x:scatter_add(dim, index (1-based), size): zeros of `size` along dim with x added at index.
            let tensor = try call.tensor(1)
            let dimension = try call.dimension(2, rank: tensor.rank)
            let size = try call.integer(4)
            call.push(
                try tensor.scatterAdding(
                    axis: dimension,
                    indices: zeroBased(call.tensor(3), size: size, dimension: dimension, "scatter_add"),
                    size: size))
            return 1
        }
        for (name, isMax) in [("max_pool2d", true), ("avg_pool2d", false)] {
            lua.setFunction(name) { call in
                try call.checkOptions(3, accepted: ["stride", "padding"])
                let kernel = try call.pair(2)
                let stride = try call.pair(3, "stride", default: kernel)
                let padding = try call.pair(3, "padding", default: (0, 0))
                let tensor = try call.tensor(1)
                call.push(
                    isMax
                        ? try tensor.maxPool2d(kernel: kernel, stride: stride, padding: padding)
                        : try tensor.avgPool2d(kernel: kernel, stride: stride, padding: padding))
                return 1
            }
        }
    }
}
