import CLua
import LucernaCore
import LucernaData

/// `data.fashion_mnist{split = "train"}` and `data.mnist{...}`: tables with `images` ([N, 1, 28, 28] in
/// [0, 1]) and `labels` (int64 [N]). The full data-set layer is issue 4.
enum LuaDataAPI {
    static func install(in lua: LuaState) {
        let state = lua.state
        let explicit = lua.dataDirectory
        lucerna_newtable(state)
        for (name, load) in [("fashion_mnist", DataLocation.fashionMNIST), ("mnist", DataLocation.mnist)] {
            lua.setFunction(name) { call in
                try call.checkOptions(1, accepted: ["split", "limit"])
                let split = try call.string(1, "split", default: "train") ?? "train"
                guard split == "train" || split == "test" else { throw TensorError(name, "split must be \"train\" or \"test\", got \(split)") }
                let set = try load(split == "train" ? "train" : "t10k", explicit)
                let limit = try call.integer(1, "limit", default: set.count)
                guard limit > 0 else { throw TensorError(name, "limit must be positive") }
                let keep = min(limit, set.count)
                lua_createtable(call.state, 0, 2)
                call.push(keep == set.count ? set.images : try set.images.sliced(axis: 0, end: keep))
                lua_setfield(call.state, -2, "images")
                call.push(keep == set.count ? set.labels : try set.labels.sliced(axis: 0, end: keep))
                lua_setfield(call.state, -2, "labels")
                return 1
            }
        }
        lua_setglobal(state, "data")
    }
}
