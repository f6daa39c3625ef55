import CLua
import LucernaCore
import LucernaNN

/// The optimizer and schedule types in Lua (`opt:step()`, `schedule:step()`); the factories
/// (`optim.adamw{...}`, `schedules.cosine{...}`) come from the registry.
extension LuaNNAPI {
    static func optimizer(at index: Int32, in state: OpaquePointer) -> Optimizer? {
        LuaUserdata.object(at: index, metatable: optimizerMetatable, in: state) as? Optimizer
    }

    static func installOptimizerTypes(in lua: LuaState) {
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
                call.push(
                    try Optimizer.clipGradientNorm(optimizer.groups.flatMap(\.parameters), maxNorm: call.number(2)))
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

    }

    static func optimizerArgument(_ call: LuaCall) throws -> Optimizer {
        call.reads(upTo: 1)
        guard let optimizer = optimizer(at: 1, in: call.state) else {
            throw call.fail(1, "an optimizer (use opt:step(), with a colon)")
        }
        return optimizer
    }

    static func scheduleArgument(_ call: LuaCall) throws -> LearningRateSchedule {
        call.reads(upTo: 1)
        guard
            let schedule = LuaUserdata.object(at: 1, metatable: scheduleMetatable, in: call.state)
                as? LearningRateSchedule
        else {
            throw call.fail(1, "a schedule (use schedule:step(), with a colon)")
        }
        return schedule
    }
}
