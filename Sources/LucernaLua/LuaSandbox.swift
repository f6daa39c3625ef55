import CLua
import Foundation
import LucernaCore

@_cdecl("lucerna_swift_engine_bytes")
func luaSwiftEngineBytes() -> Int64 { Int64(TensorStorage.liveBytes) }

/// Limits for recipes received from others (`lucerna run --sandbox`): no process or native-code escapes
/// (`os.execute`, `io.popen`, `package`, C modules, binary chunks, `debug`, finalizers), file access only
/// inside the run folder (read and write, except the run's own records) and the data folders (read), an
/// instruction budget, a memory cap (Lua heap plus live tensors, checked before each allocation) and a
/// time limit. The threat model is in docs/guide/sandbox.md.
public struct Sandbox: Sendable {
    /// Lua VM instructions before the script is stopped (0: unlimited).
    public var instructionBudget: Int
    /// Bytes of Lua heap plus tensor storage before the script is stopped (0: unlimited).
    public var memoryCap: Int
    /// Wall-clock seconds before the script is stopped (0: unlimited).
    public var seconds: Int
    /// Folders the script may read and write.
    public var writableFolders: [String]
    /// Folders the script may only read.
    public var readableFolders: [String]
    /// Files and folders inside the writable folders that the script may only read: the run's own
    /// records (`run.json`, `recipe.lua`, checkpoints, summaries), which a resumed run trusts.
    public var protectedPaths: [String]
    /// Seconds past the time limit after which a script stuck in one long C call (a pattern match, one
    /// huge matrix product) is stopped by ending the process (exit status 1).
    public var hardStopGrace: Double

    public init(
        instructionBudget: Int = 2_000_000_000, memoryCap: Int = 4 << 30, seconds: Int = 0,
        writableFolders: [String] = [], readableFolders: [String] = [], protectedPaths: [String] = [],
        hardStopGrace: Double = 2
    ) {
        self.instructionBudget = instructionBudget
        self.memoryCap = memoryCap
        self.seconds = seconds
        self.writableFolders = writableFolders
        self.readableFolders = readableFolders
        self.protectedPaths = protectedPaths
        self.hardStopGrace = hardStopGrace
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
        func within(_ folder: String) -> Bool {
            let root = Self.canonical(folder)
            return target == root || target.hasPrefix(root.hasSuffix("/") ? root : root + "/")
        }
        if writing, let protected = protectedPaths.first(where: within) {
            throw ScriptError(
                operation, "sandbox: writing \(path) is not allowed; \(protected) belongs to the run and is read-only")
        }
        let folders = writing ? writableFolders : writableFolders + readableFolders
        if folders.contains(where: within) { return }
        throw ScriptError(
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
    /// Removes the escapes, wraps file access and sets the limits; runs once at start-up of a sandboxed state.
    static func install(_ sandbox: Sandbox, in lua: LuaState) throws {
        let limits = lua.limits
        limits.pointee.instructionBudget = Int64(sandbox.instructionBudget)
        limits.pointee.instructionsLeft = Int64(sandbox.instructionBudget)
        limits.pointee.memoryCap = Int64(sandbox.memoryCap)
        if sandbox.seconds > 0 {
            limits.pointee.seconds = Int64(sandbox.seconds)
            limits.pointee.deadline = lucerna_monotonic_nanoseconds() + Int64(sandbox.seconds) * 1_000_000_000
            lua.watchdog = SandboxWatchdog(limits: limits, grace: sandbox.hardStopGrace)
        }
        TensorStorage.admission = { byteCount, operation in
            let cap = limits.pointee.memoryCap
            guard cap > 0 else { return }
            let used = limits.pointee.luaBytes + Int64(TensorStorage.liveBytes)
            guard used + Int64(byteCount) > cap else { return }
            let message =
                "sandbox: memory cap of \(cap >> 20) MB exceeded (\(used >> 20) MB in use, \(operation) asks \((byteCount + (1 << 20) - 1) >> 20) MB more; raise it with --max-memory)"
            lucerna_trip(limits, message)
            throw ScriptError(operation, message)
        }
        lua.push(function: "check_access") { [weak lua] call in
            let path = try call.string(1)
            let mode = call.isNil(2) ? "r" : try call.string(2)
            try lua?.checkAccess(path, writing: mode != "r" && mode != "rb", operation: "io.open")
            return 0
        }
        lua_setglobal(lua.state, "__lucerna_check_access")
        lua_pushcclosure(lua.state, lucerna_mark_position, 0)
        lua_setglobal(lua.state, "__lucerna_mark_position")
        try lua.run(
            source: """
                local check = __lucerna_check_access
                __lucerna_check_access = nil
                local type, error, rawget, raw_setmetatable = type, error, rawget, setmetatable
                os.execute, os.exit, os.remove, os.rename, os.tmpname, os.getenv = nil, nil, nil, nil, nil, nil
                os.setlocale = nil  -- a process-wide setting: it would change how every number is read and written
                io.popen, io.input, io.output, io.lines, io.tmpfile = nil, nil, nil, nil, nil
                dofile, loadfile = nil, nil
                string.dump = nil
                debug = {traceback = debug.traceback}
                -- require serves the standard libraries the sandbox keeps, from a table the script cannot
                -- reach; there is no package table (no search paths, no searchers, no C loaders).
                local libraries = {
                   _G = _G, string = string, table = table, math = math, utf8 = utf8, coroutine = coroutine,
                   io = io, os = os,
                }
                package = nil
                require = function(name)
                   if type(name) ~= "string" then error("bad argument #1 to 'require' (string expected)", 2) end
                   local library = libraries[name]
                   if library == nil then
                      error("module '" .. name .. "' not found (the sandbox's require serves only the standard libraries)", 2)
                   end
                   return library
                end
                -- Finalizers run with the instruction hook off, so a script may not install them.
                setmetatable = function(object, metatable)
                   if type(metatable) == "table" and rawget(metatable, "__gc") ~= nil then
                      error("sandbox: __gc metamethods are not allowed", 2)
                   end
                   return raw_setmetatable(object, metatable)
                end
                -- Pattern matching can run for hours inside one C call, where no instruction limit is
                -- checked: the wrappers note the caller's line for the time limit's message.
                local mark = __lucerna_mark_position
                __lucerna_mark_position = nil
                for _, name in ipairs({"find", "match", "gsub"}) do
                   local original = string[name]
                   string[name] = function(...)
                      mark()
                      return original(...)
                   end
                end
                local raw_gmatch = string.gmatch
                string.gmatch = function(...)
                   mark()
                   local iterator = raw_gmatch(...)
                   return function()
                      mark()
                      return iterator()
                   end
                end
                local raw_load, raw_open = load, io.open
                load = function(chunk, name, mode, env) return raw_load(chunk, name, "t", env) end
                io.open = function(path, mode)
                   check(path, mode)
                   return raw_open(path, mode)
                end
                """, name: "sandbox")
        lucerna_install_limit_hook(lua.state)
    }
}

/// Ends a sandboxed script at its time limit: trips the state's limits (the script stops at its next
/// Lua instruction) and asks engine work to stop at its next check; a script still running `grace`
/// seconds later is inside one long C call that has no check, and the process ends with exit status 1.
final class SandboxWatchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private let limits: UnsafeMutablePointer<lucerna_limits>
    private let grace: Double

    init(limits: UnsafeMutablePointer<lucerna_limits>, grace: Double) {
        self.limits = limits
        self.grace = grace
        let thread = Thread { [self] in watch() }
        thread.name = "lucerna sandbox watchdog"
        thread.start()
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    private func watch() {
        let deadline = limits.pointee.deadline
        while true {
            Thread.sleep(forTimeInterval: 0.05)
            lock.lock()
            defer { lock.unlock() }
            if stopped { return }
            let now = lucerna_monotonic_nanoseconds()
            guard now > deadline else { continue }
            let message = "sandbox: time limit of \(limits.pointee.seconds) s exceeded (raise it with --max-seconds)"
            lucerna_trip(limits, message)
            Interruption.request(String(cString: lucerna_limit_message(limits)))
            if Double(now - deadline) / 1e9 > grace {
                let line = limits.pointee.line
                let position = line > 0 ? "\(String(cString: lucerna_limit_source(limits))):\(line): " : ""
                FileHandle.standardError.write(
                    Data(
                        "error: \(position)\(message); a C call (a pattern match, one huge operation) did not return within \(grace) s more, so the process was stopped\n"
                            .utf8))
                _exit(1)
            }
        }
    }
}
