import CLua
import Foundation
import LucernaCore

@_cdecl("lucerna_swift_engine_bytes")
func luaSwiftEngineBytes() -> Int64 { Int64(TensorStorage.liveBytes) }

/// Limits for recipes received from others (`lucerna run --sandbox`): no process or native-code escapes
/// (`os.execute`, `io.popen`, `package.loadlib`, C modules, binary chunks, `debug`), file access only
/// inside the run folder (read and write) and the data folders (read), an instruction budget and a memory
/// cap (Lua heap plus live tensors).
public struct Sandbox: Sendable {
    /// Lua VM instructions before the script is stopped (0: unlimited).
    public var instructionBudget: Int
    /// Bytes of Lua heap plus tensor storage before the script is stopped (0: unlimited).
    public var memoryCap: Int
    /// Folders the script may read and write.
    public var writableFolders: [String]
    /// Folders the script may only read.
    public var readableFolders: [String]

    public init(
        instructionBudget: Int = 2_000_000_000, memoryCap: Int = 4 << 30, writableFolders: [String] = [],
        readableFolders: [String] = []
    ) {
        self.instructionBudget = instructionBudget
        self.memoryCap = memoryCap
        self.writableFolders = writableFolders
        self.readableFolders = readableFolders
    }

    /// The canonical absolute form of `path` (symbolic links resolved, also for a file not yet created).
    static func canonical(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if FileManager.default.fileExists(atPath: url.path) { return url.resolvingSymlinksInPath().path }
        return url.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(url.lastPathComponent)
            .path
    }

    /// Throws unless `path` lies inside an allowed folder for the access (`writing` or reading).
    public func checkAccess(_ path: String, writing: Bool, operation: String) throws {
        let target = Self.canonical(path)
        let folders = writing ? writableFolders : writableFolders + readableFolders
        for folder in folders {
            let root = Self.canonical(folder)
            if target == root || target.hasPrefix(root.hasSuffix("/") ? root : root + "/") { return }
        }
        throw TensorError(
            operation,
            "sandbox: \(writing ? "writing" : "reading") \(path) is not allowed; \(writing ? "writable" : "readable") folders: \(folders.isEmpty ? "(none)" : folders.joined(separator: ", "))"
        )
    }
}

extension LuaState {
    /// Checks a file access against the sandbox, if any (used by every Lucerna function that opens files).
    func checkAccess(_ path: String, writing: Bool, operation: String) throws {
        try sandbox?.checkAccess(path, writing: writing, operation: operation)
    }

}

enum LuaSandboxAPI {
    /// Removes the escapes and wraps file access; runs once at start-up of a sandboxed state.
    static func install(_ sandbox: Sandbox, in lua: LuaState) throws {
        lua.limits.pointee.instructionBudget = Int64(sandbox.instructionBudget)
        lua.limits.pointee.instructionsLeft = Int64(sandbox.instructionBudget)
        lua.limits.pointee.memoryCap = Int64(sandbox.memoryCap)
        lua.push(function: "check_access") { [weak lua] call in
            let path = try call.string(1)
            let mode = call.isNil(2) ? "r" : try call.string(2)
            try lua?.checkAccess(path, writing: mode != "r" && mode != "rb", operation: "io.open")
            return 0
        }
        lua_setglobal(lua.state, "__lucerna_check_access")
        try lua.run(
            source: """
                local check = __lucerna_check_access
                __lucerna_check_access = nil
                os.execute, os.exit, os.remove, os.rename, os.tmpname, os.getenv = nil, nil, nil, nil, nil, nil
                io.popen, io.input, io.output, io.lines, io.tmpfile = nil, nil, nil, nil, nil
                dofile, loadfile = nil, nil
                package.loadlib, package.cpath, package.path = nil, "", ""
                package.searchers[3], package.searchers[4] = nil, nil
                for name in pairs(package.loaded) do
                   if name ~= "_G" and name ~= "string" and name ~= "table" and name ~= "math" and name ~= "utf8"
                      and name ~= "coroutine" and name ~= "io" and name ~= "os" then package.loaded[name] = nil end
                end
                string.dump = nil
                debug = {traceback = debug.traceback}
                -- Limit errors cannot be swallowed: protected calls re-raise them.
                local raw_pcall, raw_xpcall, raw_error, raw_resume = pcall, xpcall, error, coroutine.resume
                local function is_limit(message)
                   return type(message) == "string" and message:find("sandbox: ", 1, true) ~= nil
                end
                local function pass(ok, ...)
                   if not ok and is_limit((...)) then raw_error((...), 0) end
                   return ok, ...
                end
                pcall = function(f, ...) return pass(raw_pcall(f, ...)) end
                xpcall = function(f, handler, ...)
                   return pass(raw_xpcall(f, function(message)
                      if is_limit(message) then return message end
                      return handler(message)
                   end, ...))
                end
                coroutine.resume = function(co, ...) return pass(raw_resume(co, ...)) end
                local raw_load, raw_open = load, io.open
                load = function(chunk, name, mode, env) return raw_load(chunk, name, "t", env) end
                io.open = function(path, mode)
                   check(path, mode)
                   return raw_open(path, mode)
                end
                """, name: "sandbox")
        lua_sethook(lua.state, nil, 0, 0)
        lucerna_install_limit_hook(lua.state)
    }
}
