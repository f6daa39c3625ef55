import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTrain

/// Modules, optimizers, schedules and losses in Lua, with PyTorch's class names and positional
/// arguments plus an options table: `nn.Conv2d(1, 32, 3, {padding = 1})`, `optim.adamw{params = ...}`.
enum LuaNNAPI {
    static let moduleMetatable = "lucerna.Module"
    static let optimizerMetatable = "lucerna.Optimizer"
    static let scheduleMetatable = "lucerna.Schedule"

    static func module(at index: Int32, in state: OpaquePointer) -> Module? {
        LuaUserdata.object(at: index, metatable: moduleMetatable, in: state) as? Module
    }

    static func push(_ module: Module, in state: OpaquePointer) {
        LuaUserdata.push(module, metatable: moduleMetatable, in: state)
    }

    static func install(in lua: LuaState) {
        let state = lua.state
        installModuleType(in: lua)
        installOptimizerTypes(in: lua)

        // nn: layers.
        lucerna_newtable(state)
        func layer(_ name: String, options: [String] = [], _ build: @escaping (LuaCall, Int32) throws -> Module) {
            lua.setFunction(name) { call in
                // Options, when given, are a trailing table with no array part ({2, 2} is a pair argument).
                let last = call.count
                let isOptions =
                    last > 0 && lua_type(call.state, last) == LUA_TTABLE && lua_rawlen(call.state, last) == 0
                let optionsIndex = isOptions ? last : last + 1
                try call.checkOptions(optionsIndex, accepted: options)
                push(try build(call, optionsIndex), in: call.state)
                return 1
            }
        }
        layer("Linear", options: ["bias"]) { call, o in
            try Linear(call.integer(1), call.integer(2), bias: call.boolean(o, "bias", default: true))
        }
        layer("Conv2d", options: ["stride", "padding", "dilation", "bias"]) { call, o in
            try Conv2d(
                call.integer(1), call.integer(2), kernelSize: call.pair(3),
                stride: call.pair(o, "stride", default: (1, 1)),
                padding: call.pair(o, "padding", default: (0, 0)), dilation: call.pair(o, "dilation", default: (1, 1)),
                bias: call.boolean(o, "bias", default: true))
        }
        layer("ConvTranspose2d", options: ["stride", "padding", "output_padding", "dilation", "bias"]) { call, o in
            try ConvTranspose2d(
                call.integer(1), call.integer(2), kernelSize: call.pair(3),
                stride: call.pair(o, "stride", default: (1, 1)), padding: call.pair(o, "padding", default: (0, 0)),
                outputPadding: call.pair(o, "output_padding", default: (0, 0)),
                dilation: call.pair(o, "dilation", default: (1, 1)), bias: call.boolean(o, "bias", default: true))
        }
        layer("MaxPool2d", options: ["stride", "padding"]) { call, o in
            let kernel = try call.pair(1)
            return Pool2d(
                .max(
                    kernel: kernel, stride: try call.pair(o, "stride", default: kernel),
                    padding: try call.pair(o, "padding", default: (0, 0))))
        }
        layer("AvgPool2d", options: ["stride", "padding", "count_include_pad"]) { call, o in
            let kernel = try call.pair(1)
            return Pool2d(
                .average(
                    kernel: kernel, stride: try call.pair(o, "stride", default: kernel),
                    padding: try call.pair(o, "padding", default: (0, 0)),
                    countIncludePad: try call.boolean(o, "count_include_pad", default: true)))
        }
        layer("AdaptiveAvgPool2d") { call, _ in Pool2d(.adaptiveAverage(outputSize: try call.pair(1))) }
        layer("ReLU") { _, _ in ReLU() }
        layer("LeakyReLU") { call, _ in LeakyReLU(call.isNil(1) ? 0.01 : try call.number(1)) }
        layer("GELU", options: ["approximate"]) { call, o in
            GELU(approximate: try call.string(o, "approximate", default: "none") == "tanh")
        }
        layer("Sigmoid") { _, _ in Sigmoid() }
        layer("Tanh") { _, _ in Tanh() }
        layer("Softplus") { _, _ in Activation(.softplus) }
        layer("SiLU") { _, _ in SiLU() }
        layer("Identity") { _, _ in Activation(.identity) }
        layer("Flatten") { call, _ in
            Flatten(startAxis: call.isNil(1) ? 1 : try LuaTensorAPI.oneBasedAxis(call.integer(1), "Flatten"))
        }
        layer("Dropout") { call, _ in try Dropout(call.isNil(1) ? 0.5 : try call.number(1)) }
        layer("BatchNorm1d", options: ["eps", "momentum"]) { call, o in
            try BatchNorm(
                call.integer(1), rank: 2, epsilon: call.number(o, "eps", default: 1e-5),
                momentum: call.number(o, "momentum", default: 0.1))
        }
        layer("BatchNorm2d", options: ["eps", "momentum"]) { call, o in
            try BatchNorm(
                call.integer(1), rank: 4, epsilon: call.number(o, "eps", default: 1e-5),
                momentum: call.number(o, "momentum", default: 0.1))
        }
        layer("LayerNorm", options: ["eps"]) { call, o in
            try LayerNorm([call.integer(1)], epsilon: call.number(o, "eps", default: 1e-5))
        }
        layer("Embedding") { call, _ in try Embedding(call.integer(1), call.integer(2)) }
        layer("MultiheadAttention", options: ["dropout"]) { call, o in
            try MultiheadAttention(
                embedDimension: call.integer(1), heads: call.integer(2),
                dropout: call.number(o, "dropout", default: 0))
        }
        layer("SelfAttention2d", options: ["reduction"]) { call, o in
            try SelfAttention2d(call.integer(1), reduction: call.integer(o, "reduction", default: 8))
        }
        layer("SpectralNorm", options: ["n_power_iterations", "eps"]) { call, o in
            // nn.SpectralNorm(nn.Conv2d(...)): torch.nn.utils.spectral_norm of a Linear or (transposed) convolution.
            guard let wrapped = module(at: 1, in: call.state) as? any AffineLayer else {
                throw call.fail(1, "a Linear, Conv2d or ConvTranspose2d layer")
            }
            return try SpectralNorm(
                wrapped, powerIterations: call.integer(o, "n_power_iterations", default: 1),
                epsilon: call.number(o, "eps", default: 1e-12))
        }
        lua.setFunction("Sequential") { call in
            call.reads(upTo: 1)
            guard lua_type(call.state, 1) == LUA_TTABLE else { throw call.fail(1, "a table of modules") }
            var modules: [Module] = []
            for position in 0..<lua_Integer(lua_rawlen(call.state, 1)) {
                lua_rawgeti(call.state, 1, position + 1)
                defer { lucerna_pop(call.state, 1) }
                guard let module = module(at: -1, in: call.state) else {
                    throw TensorError("Sequential", "element \(position + 1) is not a module")
                }
                modules.append(module)
            }
            push(Sequential(modules), in: call.state)
            return 1
        }
        installInitializers(in: lua)
        lua_setglobal(state, "nn")
    }

    /// `nn.init`: PyTorch's in-place initialisers (`xavier_uniform_(w, gain)`, `zeros_(b)`, ...), drawing
    /// from the seeded generator; each returns its tensor.
    static func installInitializers(in lua: LuaState) {
        let state = lua.state
        lua_createtable(state, 0, 8)
        func initializer(_ name: String, arguments: Int32, _ values: @escaping (LuaCall, Tensor) throws -> Tensor) {
            lua.setFunction(name) { call in
                call.reads(upTo: arguments)
                let target = try call.tensor(1)
                guard target.dtype.isFloatingPoint else {
                    throw TensorError("nn.init.\(name)", "needs a floating-point tensor, got \(target.dtype)")
                }
                try target.assign(try values(call, target))
                call.push(target)
                return 1
            }
        }
        func number(_ call: LuaCall, _ index: Int32, _ fallback: Double) throws -> Double {
            let value = lua_type(call.state, index) <= LUA_TNIL ? fallback : try call.number(index)
            guard value.isFinite else { throw call.fail(index, "a finite number") }
            return value
        }
        let generator = { RandomGenerator.shared }
        initializer("xavier_uniform_", arguments: 2) { call, t in
            try Initializers.xavierUniform(t.shape, gain: number(call, 2, 1), dtype: t.dtype, generator: generator())
        }
        initializer("xavier_normal_", arguments: 2) { call, t in
            try Initializers.xavierNormal(t.shape, gain: number(call, 2, 1), dtype: t.dtype, generator: generator())
        }
        initializer("kaiming_uniform_", arguments: 2) { call, t in
            try Initializers.kaimingUniform(
                t.shape, negativeSlope: number(call, 2, 0), dtype: t.dtype, generator: generator())
        }
        initializer("uniform_", arguments: 3) { call, t in
            try Tensor.uniform(
                t.shape, low: number(call, 2, 0), high: number(call, 3, 1), dtype: t.dtype, generator: generator())
        }
        initializer("normal_", arguments: 3) { call, t in
            try Tensor.normal(
                t.shape, mean: number(call, 2, 0), standardDeviation: number(call, 3, 1), dtype: t.dtype,
                generator: generator())
        }
        initializer("constant_", arguments: 2) { call, t in try t.zerosLike() + number(call, 2, 0) }
        initializer("zeros_", arguments: 1) { _, t in t.zerosLike() }
        initializer("ones_", arguments: 1) { _, t in try t.zerosLike() + 1 }
        lua_setfield(state, -2, "init")
    }

    static func installModuleType(in lua: LuaState) {
        let state = lua.state
        LuaUserdata.createMetatable(moduleMetatable, in: lua) { lua in
            lua.setFunction("forward", forwardCall)
            lua.setFunction("parameters") { call in
                pushList(try moduleArgument(call).parameters(), in: call.state)
                return 1
            }
            lua.setFunction("forward_with") { call in
                // layer:forward_with(x, weight, bias): the layer's computation with other parameters (LRP rules).
                let module = try moduleArgument(call)
                guard let affine = module as? AffineLayer else {
                    throw TensorError(
                        "forward_with",
                        "\(module.typeName) has no weight; forward_with applies to Linear and convolution layers")
                }
                let bias: Tensor? = call.isNil(4) ? nil : try call.tensor(4)
                call.push(try affine.apply(call.tensor(2), weight: call.tensor(3), bias: bias))
                return 1
            }
            /// The submodule of `module` at a dotted name, or an error listing the names there are.
            func submodule(_ module: Module, _ name: String, _ owner: String) throws -> Module {
                guard let child = module.module(named: name) else {
                    let names = module.namedModules().map(\.name).filter { !$0.isEmpty }
                    throw TensorError(
                        owner,
                        "no submodule '\(name)'\(suggestion(for: name, in: names)); submodules: \(names.prefix(40).joined(separator: ", "))"
                    )
                }
                return child
            }
            lua.setFunction("module") { call in
                // model:module("fusion"), model:module("encoders.image.conv1"): a submodule by dotted name.
                push(try submodule(moduleArgument(call), call.string(2), "module"), in: call.state)
                return 1
            }
            lua.setFunction("activations") { call in
                // model:activations(x, "conv2"): the output of a submodule in a forward pass of the model on x
                // (Captum's LayerActivation), in the graph when recording.
                let module = try moduleArgument(call)
                let name = try call.string(3)
                let child = try submodule(module, name, "activations")
                call.push(
                    try module.forward(call.tensor(2), capturing: child, owner: "activations", layerName: name)
                        .activations)
                return 1
            }
            lua.setFunction("attention") { call in
                // fusion:attention(): the cross-modal attention weights of the latest forward, keyed "t<-s".
                guard let fusion = try moduleArgument(call) as? CrossModalAttentionFusion else {
                    throw TensorError("attention", "only cross_attention fusions keep attention weights")
                }
                lua_createtable(call.state, 0, Int32(fusion.attentionWeights.count))
                for (target, source, weights) in fusion.attentionWeights {
                    call.push(weights)
                    lua_setfield(call.state, -2, "\(target + 1)<-\(source + 1)")
                }
                return 1
            }
            lua.setFunction("named_parameters") { call in
                let parameters = try moduleArgument(call).namedParameters()
                lua_createtable(call.state, 0, Int32(parameters.count))
                for (name, parameter) in parameters {
                    call.push(parameter)
                    lua_setfield(call.state, -2, name)
                }
                return 1
            }
            lua.setFunction("state_dict") { call in
                // Copies, as PyTorch's `{k: v.clone() for k, v in m.state_dict().items()}`: a snapshot that
                // later training does not change.
                let state = try moduleArgument(call).stateDict()
                lua_createtable(call.state, 0, Int32(state.count))
                for (name, tensor) in state {
                    call.push(tensor.detach().copy())
                    lua_setfield(call.state, -2, name)
                }
                return 1
            }
            lua.setFunction("load_state_dict") { call in
                let module = try moduleArgument(call)
                let state = try LuaObjects.tensorTable(
                    call, 2, path: "state", entry: "state",
                    expected: "a table of name = tensor, as model:state_dict() returns")
                try module.loadStateDict(state, strict: true, convertingDtypes: false)
                return 0
            }
            lua.setFunction("embed") { call in
                // model:embed{image = x, audio = y}: a multimodal classifier's fused embedding (before the head).
                guard let multimodal = try moduleArgument(call) as? MultimodalClassifier else {
                    throw TensorError(
                        call.name, "embed is for a multimodal classifier (models.multimodal_classifier{})")
                }
                call.push(try multimodal.embedding(modalities: modalityInputs(call, multimodal)))
                return 1
            }
            lua.setFunction("train") { call in
                try moduleArgument(call).train(call.isNil(2) ? true : call.boolean(2))
                lua_settop(call.state, 1)
                return 1
            }
            lua.setFunction("is_training") { call in
                // PyTorch's `module.training`: whether the module is in training mode.
                call.push(try moduleArgument(call).isTraining)
                return 1
            }
            lua.setFunction("eval") { call in
                try moduleArgument(call).eval()
                lua_settop(call.state, 1)
                return 1
            }
            lua.setFunction("zero_grad") { call in
                try moduleArgument(call).zeroGrad()
                return 0
            }
            lua.setFunction("parameter_count") { call in
                call.push(Double(try moduleArgument(call).parameterCount))
                return 1
            }
            lua.setFunction("save") { [unowned lua] call in
                let path = try call.string(2)
                try lua.checkAccess(path, writing: true, operation: "save")
                try Safetensors.write(moduleArgument(call).stateDict(), to: path)
                return 0
            }
            lua.setFunction("load") { [unowned lua] call in
                let path = try call.string(2)
                try lua.checkAccess(path, writing: false, operation: "load")
                let contents = try Safetensors.read(path)
                // A trainer checkpoint (`<name>-best.safetensors`, `<name>-last.safetensors`) holds the model's
                // tensors under `model.` next to the optimizer's.
                let trainer = contents.metadata["format"] == Trainer.format
                let entries = contents.tensors.compactMap { entry -> (String, Tensor)? in
                    guard trainer else { return (entry.name, entry.tensor) }
                    return entry.name.hasPrefix("model.") ? (String(entry.name.dropFirst(6)), entry.tensor) : nil
                }
                // model:load(path, {convert = true}) converts tensors of another dtype; by default that is an error.
                try call.checkOptions(3, accepted: ["convert"])
                try moduleArgument(call).loadStateDict(
                    Dictionary(entries, uniquingKeysWith: { first, _ in first }),
                    convertingDtypes: call.boolean(3, "convert", default: false))
                return 0
            }
        }
        lua.setFunction("__call", forwardCall)
        lua.setFunction("__tostring") { call in
            let module = try moduleArgument(call)
            call.push("\(module.typeName)(\(module.summary)) with \(module.parameterCount) parameters")
            return 1
        }
        lucerna_pop(state, 1)
    }

    static func moduleArgument(_ call: LuaCall, _ index: Int32 = 1) throws -> Module {
        call.reads(upTo: index)
        guard let module = module(at: index, in: call.state) else {
            throw call.fail(index, index == 1 ? "a module (use model:method(), with a colon)" : "a module")
        }
        return module
    }

    /// The table of named modalities at argument 2 of a multimodal classifier's call (`model{image = x}`).
    static func modalityInputs(_ call: LuaCall, _ multimodal: MultimodalClassifier) throws -> [String: Tensor] {
        call.reads(upTo: 2)
        guard lua_type(call.state, 2) == LUA_TTABLE else {
            throw call.fail(
                2, "a table of modalities {\(multimodal.modalities.map { "\($0) = ..." }.joined(separator: ", "))}")
        }
        var inputs: [String: Tensor] = [:]
        for name in multimodal.modalities {
            lucerna_rawgetfield(call.state, 2, name)
            defer { lucerna_pop(call.state, 1) }
            if let tensor = LuaTensorAPI.tensor(at: -1, in: call.state) { inputs[name] = tensor }
        }
        lua_pushnil(call.state)
        while lua_next(call.state, 2) != 0 {
            defer { lucerna_pop(call.state, 1) }
            guard lua_type(call.state, -2) == LUA_TSTRING,
                let key = lua_tolstring(call.state, -2, nil).map({ String(cString: $0) }),
                multimodal.modalities.contains(key)
            else {
                let key =
                    lua_type(call.state, -2) == LUA_TSTRING
                    ? lua_tolstring(call.state, -2, nil).map { String(cString: $0) } ?? "?" : "a non-string key"
                throw TensorError(
                    call.name,
                    "unknown modality '\(key)'\(suggestion(for: key, in: multimodal.modalities)); modalities: \(multimodal.modalities.joined(separator: ", "))"
                )
            }
        }
        return inputs
    }

    /// `module(x)` or, for a fusion, `fusion{x1, x2, ...}` (one tensor per modality; `false` marks a
    /// missing modality, which the fusion replaces by its placeholder).
    static func forwardCall(_ call: LuaCall) throws -> Int32 {
        let module = try moduleArgument(call)
        if let conditional = module as? ConditionalModel {
            // generator(noise, labels), critic(images, labels): a conditional network's input and condition.
            call.push(try conditional.forward(call.tensor(2), condition: call.tensor(3)))
            return 1
        }
        if let multimodal = module as? MultimodalClassifier, call.optionalTensor(2) == nil {
            // model{image = x, audio = y}: named modalities; a missing one is left out (or false).
            call.push(try multimodal.forward(modalities: modalityInputs(call, multimodal)))
            return 1
        }
        if let fusion = module as? Fusion {
            if call.optionalTensor(2) != nil {
                call.push(try fusion.fuse([call.tensor(2)]))
                return 1
            }
            call.reads(upTo: 2)
            guard lua_type(call.state, 2) == LUA_TTABLE else {
                throw call.fail(2, "a list of modality tensors ({x1, x2}; false for a missing one)")
            }
            var inputs: [Tensor?] = []
            for position in 1...max(lua_Integer(lua_rawlen(call.state, 2)), 1) {
                lua_rawgeti(call.state, 2, position)
                defer { lucerna_pop(call.state, 1) }
                if lua_type(call.state, -1) == LUA_TBOOLEAN && lua_toboolean(call.state, -1) == 0 {
                    inputs.append(nil)
                } else if let tensor = LuaTensorAPI.tensor(at: -1, in: call.state) {
                    inputs.append(tensor)
                } else {
                    throw TensorError(
                        call.name, "argument 2[\(position)] must be a tensor, or false for a missing modality")
                }
            }
            call.push(
                inputs.contains { $0 == nil }
                    ? try fusion.fuse(available: inputs) : try fusion.fuse(inputs.compactMap { $0 }))
        } else {
            call.push(try module(call.tensor(2)))
        }
        return 1
    }

    /// Pushes a Lua array of tensors.
    static func pushList(_ tensors: [Tensor], in state: OpaquePointer) {
        lua_createtable(state, Int32(tensors.count), 0)
        for (position, tensor) in tensors.enumerated() {
            LuaTensorAPI.push(tensor, in: state)
            lua_rawseti(state, -2, lua_Integer(position + 1))
        }
    }
}
