import Foundation
import LucernaLua
import LucernaRun
import XCTest

/// `--sandbox` blocks every listed escape and stops runaway scripts with a clear message.
final class SandboxTests: XCTestCase {
    var runFolder = "", dataFolder = ""

    override func setUpWithError() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sandbox-\(getpid())-\(UUID().uuidString)")
        runFolder = base.appendingPathComponent("run").path
        dataFolder = base.appendingPathComponent("data").path
        try FileManager.default.createDirectory(atPath: dataFolder, withIntermediateDirectories: true)
        try "hello".write(toFile: "\(dataFolder)/readme.txt", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: runFolder).deletingLastPathComponent().path)
    }

    func sandboxed(instructions: Int = 50_000_000, memory: Int = 512 << 20) throws -> LuaState {
        let run = try RunContext(directory: runFolder, recipe: "untrusted.lua", seed: 0, threads: 1)
        return try LuaState(
            sandbox: Sandbox(
                instructionBudget: instructions, memoryCap: memory, writableFolders: [runFolder],
                readableFolders: [dataFolder]), run: run)
    }

    func testEveryEscapeIsBlocked() throws {
        let cases: [(String, String)] = [
            ("os.execute('touch /tmp/pwned')", "attempt to call a nil value (field 'execute')"),
            ("io.popen('ls')", "attempt to call a nil value (field 'popen')"),
            ("package.loadlib('libc.so.6', 'system')", "attempt to index a nil value (global 'package')"),
            ("require('socket.core')", "module 'socket.core' not found"),
            ("require('debug').sethook()", "module 'debug' not found"),
            (
                "local f, message = load('\\27Lua\\84\\0'); assert(f == nil); error(message)",
                "attempt to load a binary chunk"
            ),
            ("local f, message = load(string.dump(print))", "attempt to call a nil value (field 'dump')"),
            ("dofile('/etc/passwd')", "attempt to call a nil value (global 'dofile')"),
            ("loadfile('/etc/passwd')", "attempt to call a nil value (global 'loadfile')"),
            ("io.open('/etc/passwd')", "sandbox: reading /etc/passwd is not allowed"),
            ("io.lines('/etc/passwd')", "attempt to call a nil value (field 'lines')"),
            ("io.input('/etc/passwd')", "attempt to call a nil value (field 'input')"),
            ("os.remove('/tmp/x')", "attempt to call a nil value (field 'remove')"),
            ("os.exit(0)", "attempt to call a nil value (field 'exit')"),
            ("os.getenv('HOME')", "attempt to call a nil value (field 'getenv')"),
            ("debug.sethook()", "attempt to call a nil value (field 'sethook')"),
            ("debug.getregistry()", "attempt to call a nil value (field 'getregistry')"),
            (
                "nn.Linear(1, 1):save('/tmp/escape.safetensors')",
                "sandbox: writing /tmp/escape.safetensors is not allowed"
            ),
            (
                "lucerna.save_tensors('/tmp/escape.safetensors', {})",
                "sandbox: writing /tmp/escape.safetensors is not allowed"
            ),
            ("lucerna.load_tensors('/etc/hostname')", "sandbox: reading /etc/hostname is not allowed"),
            ("io.open(run.dir .. '/../escape.txt', 'w')", "is not allowed"),
            ("io.open('DATA/readme.txt', 'w')", "sandbox: writing"),
        ]
        for (source, expected) in cases {
            let lua = try sandboxed()
            XCTAssertThrowsError(
                try lua.run(source: source.replacingOccurrences(of: "DATA", with: dataFolder), name: "untrusted.lua"),
                source
            ) { error in
                XCTAssert("\(error)".contains(expected), "\(source)\n-> \(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/pwned"))
    }

    func testAllowedFilesStillWork() throws {
        let lua = try sandboxed()
        try lua.run(
            source: """
                local file = assert(io.open(run.dir .. "/notes.txt", "w"))
                file:write("kept")
                file:close()
                local data = assert(io.open("\(dataFolder)/readme.txt")):read("a")
                nn.Linear(2, 1):save(run.dir .. "/model.safetensors")
                ok = data == "hello" and 1 or 0
                """, name: "allowed.lua")
        XCTAssertEqual(lua.number(global: "ok"), 1)
        XCTAssert(FileManager.default.fileExists(atPath: "\(runFolder)/notes.txt"))
    }

    func testRunawayScriptsStopWithAClearMessage() throws {
        let loops = ["while true do end", "while true do pcall(function() while true do end end) end"]
        for source in loops {
            XCTAssertThrowsError(try sandboxed(instructions: 2_000_000).run(source: source, name: "loop.lua"), source) {
                error in
                XCTAssert("\(error)".contains("sandbox: instruction budget of 2000000 exceeded"), "\(error)")
            }
        }
        XCTAssertThrowsError(
            try sandboxed(memory: 64 << 20).run(
                source: "local t = {} for i = 1, 1e8 do t[i] = {i} end", name: "heap.lua")
        ) { error in
            XCTAssert("\(error)".contains("sandbox: memory cap of 64 MB exceeded"), "\(error)")
        }
        XCTAssertThrowsError(
            try sandboxed(memory: 256 << 20).run(
                source: "local keep = {} for i = 1, 1000 do keep[i] = tensor.zeros{1024, 1024} end", name: "tensors.lua"
            )
        ) { error in
            XCTAssert("\(error)".contains("sandbox: memory cap of 256 MB exceeded"), "\(error)")
        }
    }

    func testUnsandboxedStatesKeepTheStandardLibrary() throws {
        let lua = try LuaState()
        try lua.run(
            source: "ok = (os.execute ~= nil and io.popen ~= nil and debug.sethook ~= nil) and 1 or 0",
            name: "trusted.lua")
        XCTAssertEqual(lua.number(global: "ok"), 1)
    }
}
