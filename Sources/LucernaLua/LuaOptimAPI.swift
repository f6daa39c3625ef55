import CLua
import LucernaCore
import LucernaNN

/// `optim.adamw{params = model:parameters(), lr = 1e-3, weight_decay = 1e-2}`, `optim.adam`, `optim.sgd`,
/// `optim.rmsprop`, and `schedules.cosine{optimizer = opt, t_max = 10}` and friends.
extension LuaNNAPI {
    static func optimizer(at index: Int32, in state: OpaquePointer) -> Optimizer? {
        LuaUserdata.object(at: index, metatable: optimizerMetatable, in: state) as? Optimizer
    }

    static func installOptimizerTypes(_ lua: LuaState) {
        let state = lua.state
        LuaUserdata.createMetatable(optimizerMetatable, in: lua) { lua in
            lua.setFunction("step") { call in
                try optimizerArgument(call).step()
                return 0
            }
            lua.setFunction("zero_grad") { call in
                try optimizerArgument(call).zeroGrad()
                return 0
            }
            lua.setFunction("lr") { call in
                call.push(try optimizerArgument(call).groups.first?.learningRate ?? 0)
                return 1
            }
            lua.setFunction("clip_grad_norm") { call in
                let optimizer = try optimizerArgument(call)
                call.push(try Optimizer.clipGradientNorm(optimizer.groups.flatMap(\.parameters), maxNorm: call.number(2)))
                return 1
            }
        }
        lucerna_pop(state, 1)
        LuaUserdata.createMetatable(scheduleMetatable, in: lua) { lua in
            lua.setFunction("step") { call in
                try scheduleArgument(call).step()
                return 0
            }
            lua.setFunction("lr") { call in
                call.push(try scheduleArgument(call).currentRate)
                return 1
            }
        }
        lucerna_pop(state, 1)

        lucerna_newtable(state)
        func registerOptimizer(_ name: String, options: [String], _ build: @escaping (LuaCall, [Tensor]) throws -> Optimizer) {
            lua.setFunction(name) { call in
                try call.checkOptions(1, accepted: ["params"] + options)
                LuaUserdata.push(try build(call, call.tensors(1, "params")), metatable: optimizerMetatable, in: call.state)
                return 1
            }
        }
        registerOptimizer("adamw", options: ["lr", "weight_decay", "betas", "eps", "amsgrad"]) { call, parameters in
            try AdamW(parameters: parameters, learningRate: call.number(1, "lr", default: 1e-3),
                      betas: betas(call), epsilon: call.number(1, "eps", default: 1e-8),
                      weightDecay: call.number(1, "weight_decay", default: 1e-2), amsgrad: call.boolean(1, "amsgrad", default: false))
        }
        registerOptimizer("adam", options: ["lr", "weight_decay", "betas", "eps", "amsgrad"]) { call, parameters in
            try Adam(parameters: parameters, learningRate: call.number(1, "lr", default: 1e-3), betas: betas(call),
                     epsilon: call.number(1, "eps", default: 1e-8), weightDecay: call.number(1, "weight_decay", default: 0),
                     amsgrad: call.boolean(1, "amsgrad", default: false))
        }
        registerOptimizer("sgd", options: ["lr", "momentum", "dampening", "weight_decay", "nesterov"]) { call, parameters in
            try SGD(parameters: parameters, learningRate: call.number(1, "lr", default: 1e-2),
                    momentum: call.number(1, "momentum", default: 0), dampening: call.number(1, "dampening", default: 0),
                    weightDecay: call.number(1, "weight_decay", default: 0), nesterov: call.boolean(1, "nesterov", default: false))
        }
        registerOptimizer("rmsprop", options: ["lr", "alpha", "eps", "weight_decay", "momentum", "centered"]) { call, parameters in
            try RMSprop(parameters: parameters, learningRate: call.number(1, "lr", default: 1e-2),
                        alpha: call.number(1, "alpha", default: 0.99), epsilon: call.number(1, "eps", default: 1e-8),
                        weightDecay: call.number(1, "weight_decay", default: 0), momentum: call.number(1, "momentum", default: 0),
                        centered: call.boolean(1, "centered", default: false))
        }
        lua_setglobal(state, "optim")

        lucerna_newtable(state)
        func registerSchedule(_ name: String, options: [String], _ kind: @escaping (LuaCall) throws -> LearningRateSchedule.Kind) {
            lua.setFunction(name) { call in
                try call.checkOptions(1, accepted: ["optimizer"] + options)
                lua_getfield(call.state, 1, "optimizer")
                let optimizer = LuaNNAPI.optimizer(at: -1, in: call.state)
                lucerna_pop(call.state, 1)
                guard let optimizer else {
                    throw TensorError(name, "option optimizer must be an optimizer (e.g. optim.adamw{...})")
                }
                LuaUserdata.push(try LearningRateSchedule(kind(call), optimizer: optimizer), metatable: scheduleMetatable,
                                 in: call.state)
                return 1
            }
        }
        registerSchedule("cosine", options: ["t_max", "eta_min"]) { call in
            .cosine(maximumSteps: try call.integer(1, "t_max", default: 0), minimumRate: try call.number(1, "eta_min", default: 0))
        }
        registerSchedule("warmup_cosine", options: ["warmup", "total", "start_factor", "eta_min"]) { call in
            .warmupCosine(warmupSteps: try call.integer(1, "warmup", default: 0), totalSteps: try call.integer(1, "total", default: 0),
                          startFactor: try call.number(1, "start_factor", default: 0.1), minimumRate: try call.number(1, "eta_min", default: 0))
        }
        registerSchedule("step", options: ["step_size", "gamma"]) { call in
            .step(stepSize: try call.integer(1, "step_size", default: 0), gamma: try call.number(1, "gamma", default: 0.1))
        }
        registerSchedule("exponential", options: ["gamma"]) { call in .exponential(gamma: try call.number(1, "gamma", default: 0.9)) }
        lua_setglobal(state, "schedules")
    }

    static func betas(_ call: LuaCall) throws -> (Double, Double) {
        lua_getfield(call.state, 1, "betas")
        defer { lucerna_pop(call.state, 1) }
        if lua_type(call.state, -1) == LUA_TNIL { return (0.9, 0.999) }
        guard lua_type(call.state, -1) == LUA_TTABLE, luaL_len(call.state, -1) == 2 else {
            throw TensorError(call.name, "option betas must be a pair {beta1, beta2}")
        }
        var values: [Double] = []
        for position in 1...2 {
            lua_geti(call.state, -1, lua_Integer(position))
            defer { lucerna_pop(call.state, 1) }
            guard lua_type(call.state, -1) == LUA_TNUMBER else { throw TensorError(call.name, "option betas must hold numbers") }
            values.append(lucerna_tonumber(call.state, -1))
        }
        return (values[0], values[1])
    }

    static func optimizerArgument(_ call: LuaCall) throws -> Optimizer {
        guard let optimizer = optimizer(at: 1, in: call.state) else { throw call.fail(1, "an optimizer (use opt:step(), with a colon)") }
        return optimizer
    }

    static func scheduleArgument(_ call: LuaCall) throws -> LearningRateSchedule {
        guard let schedule = LuaUserdata.object(at: 1, metatable: scheduleMetatable, in: call.state) as? LearningRateSchedule else {
            throw call.fail(1, "a schedule (use schedule:step(), with a colon)")
        }
        return schedule
    }
}
