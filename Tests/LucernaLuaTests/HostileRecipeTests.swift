import Foundation
import XCTest

/// Recipes written to escape `lucerna run --sandbox`, swallow its limits or crash the process: each must
/// end with exit status 1 and an error naming the recipe's file and line, within a few seconds, without
/// writing the marker file outside its run folder or showing the secret file's contents.
final class HostileRecipeTests: XCTestCase {
    var base = ""
    var marker: String { "\(base)/marker.txt" }
    var secret: String { "\(base)/secret.txt" }

    override func setUpWithError() throws {
        base =
            FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(getpid())-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try "TOPSECRET first-token".write(toFile: secret, atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: base) }

    struct Case {
        let name: String
        let source: String
        let expected: String
        var arguments: [String] = []
        /// Seconds the whole process may take (start-up included).
        var seconds: Double = 10
        var sandbox = true
    }

    /// Runs one hostile recipe and checks the outcome; returns the process's standard error.
    @discardableResult
    func check(_ hostile: Case, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let recipe = "\(base)/\(hostile.name).lua"
        let source = hostile.source.replacingOccurrences(of: "MARKER", with: marker)
            .replacingOccurrences(of: "SECRETDIR", with: base)
        try source.write(toFile: recipe, atomically: true, encoding: .utf8)
        let limits = ["--max-instructions", "20000000", "--max-memory", "256", "--max-seconds", "30"]
        let arguments =
            ["run", recipe, "--out", "\(base)/run-\(hostile.name)"] + (hostile.sandbox ? ["--sandbox"] + limits : [])
            + hostile.arguments
        let start = Date()
        let result = try lucerna(arguments)
        let elapsed = Date().timeIntervalSince(start)
        let label = "\(hostile.name): \(result.errors.suffix(600))"
        XCTAssertEqual(result.status, 1, label, file: file, line: line)
        XCTAssert(
            result.errors.contains(hostile.expected), "expected '\(hostile.expected)' in \(label)", file: file,
            line: line)
        XCTAssert(
            result.errors.range(of: "\(hostile.name).lua:[0-9]+:", options: .regularExpression) != nil,
            "no file:line in \(label)", file: file, line: line)
        XCTAssertLessThan(elapsed, hostile.seconds, label, file: file, line: line)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: marker), "\(hostile.name) wrote outside", file: file, line: line)
        XCTAssertFalse(
            (result.output + result.errors).contains("TOPSECRET"), "\(hostile.name) read outside", file: file,
            line: line)
        return result.errors
    }

    func testSandboxEscapesFail() throws {
        let cases = [
            Case(
                name: "package_path", source: "package.path = 'SECRETDIR/?.txt'\nrequire('secret')",
                expected: "attempt to index a nil value (global 'package')"),
            Case(
                name: "require_absolute", source: "print(require('SECRETDIR/secret.txt'))",
                expected: "not found (the sandbox's require serves only the standard libraries)"),
            Case(
                name: "require_pattern", source: "print(require('/etc/?'))",
                expected: "not found (the sandbox's require serves only the standard libraries)"),
            Case(
                name: "searchpath", source: "print(package.searchpath('secret', 'SECRETDIR/?.txt'))",
                expected: "attempt to index a nil value (global 'package')"),
            Case(
                name: "bytecode", source: "local f, message = load('\\27Lua\\84\\0\\25\\147')\nerror(message)",
                expected: "attempt to load a binary chunk"),
            Case(
                name: "bytecode_mode", source: "local f, message = load('\\27Lua\\84', 'x', 'b')\nerror(message)",
                expected: "attempt to load a binary chunk"),
            Case(
                name: "run_json", source: "local file = assert(io.open(run.dir .. '/run.json', 'w'))",
                expected: "belongs to the run and is read-only"),
            Case(
                name: "recipe_copy", source: "local file = assert(io.open(run.dir .. '/recipe.lua', 'a'))",
                expected: "belongs to the run and is read-only"),
            Case(
                name: "checkpoint",
                source: "nn.Linear(1, 1):save(run.dir .. '/checkpoints/train-last.safetensors')",
                expected: "belongs to the run and is read-only"),
            Case(
                name: "outside_write", source: "local file = assert(io.open('MARKER', 'w'))",
                expected: "sandbox: writing"),
            Case(
                name: "outside_read", source: "print(assert(io.open('SECRETDIR/secret.txt')):read('a'))",
                expected: "sandbox: reading"),
            Case(
                name: "finalizer", source: "setmetatable({}, {__gc = function() while true do end end})",
                expected: "sandbox: __gc metamethods are not allowed"),
            Case(
                name: "debug_hook", source: "debug.sethook(function() end, '', 0)",
                expected: "attempt to call a nil value (field 'sethook')"),
            Case(name: "execute", source: "os.execute('touch MARKER')", expected: "attempt to call a nil value"),
        ]
        for hostile in cases { try check(hostile) }
    }

    func testLimitsCannotBeSwallowed() throws {
        let cases = [
            Case(
                name: "close_handler",
                source: """
                    local function body()
                       local guard <close> = setmetatable({}, {__close = function() error("not a limit", 0) end})
                       while true do end
                    end
                    while true do pcall(body) end
                    """, expected: "sandbox: instruction budget of 20000000 exceeded", seconds: 5),
            Case(
                name: "replaced_globals",
                source: """
                    string.find = function() return nil end
                    type = function() return "number" end
                    getmetatable("").__index = {find = function() return nil end}
                    while true do xpcall(function() while true do end end, function() return "swallowed" end) end
                    """, expected: "sandbox: instruction budget of 20000000 exceeded", seconds: 5),
            Case(
                name: "coroutines",
                source: """
                    while true do
                       coroutine.resume(coroutine.create(function()
                          while true do pcall(function() while true do end end) end
                       end))
                    end
                    """, expected: "sandbox: instruction budget of 20000000 exceeded", seconds: 5),
            Case(
                name: "wrapped_coroutine",
                source: """
                    local loop = coroutine.wrap(function() while true do end end)
                    while true do pcall(loop) end
                    """, expected: "sandbox: instruction budget", seconds: 5),
            Case(
                name: "tensor_at_once", source: "local big = tensor.zeros{20000, 20000}",
                expected: "sandbox: memory cap of 256 MB exceeded", seconds: 5),
            Case(
                name: "string_at_once", source: "while true do pcall(string.rep, 'x', 1.5e9) end",
                expected: "sandbox: memory cap of 256 MB exceeded", seconds: 5),
            Case(
                name: "table_growth", source: "local t = {}\nfor i = 1, 1e9 do t[i] = i end",
                expected: "sandbox: memory cap of 256 MB exceeded", arguments: ["--max-instructions", "2000000000"],
                seconds: 8),
            Case(
                name: "broadcast", source: "local a = tensor.randn{20000, 1}\nlocal b = a + a:reshape{1, 20000}",
                expected: "sandbox: memory cap of 256 MB exceeded", seconds: 5),
            Case(
                name: "matmul", source: "local a = tensor.randn{20000, 1}\nlocal b = a:matmul(a:reshape{1, 20000})",
                expected: "sandbox: memory cap of 256 MB exceeded", seconds: 5),
            Case(
                name: "time_loop", source: "while true do pcall(function() while true do end end) end",
                expected: "sandbox: time limit of 1 s exceeded",
                arguments: ["--max-seconds", "1", "--max-instructions", "2000000000000"], seconds: 5),
            Case(
                name: "time_in_pattern",
                source: "local s = string.rep('a', 100000)\nprint(s:find('.-.-.-b'))",
                expected: "sandbox: time limit of 1 s exceeded", arguments: ["--max-seconds", "1"], seconds: 7),
        ]
        for hostile in cases { try check(hostile) }
    }

    func testBadValuesFailWithFileAndLine() throws {
        let deep =
            "local t = 1\nfor i = 1, 200 do t = {t} end\nlocal a, b, c, d, e, f = 1, 2, 3, 4, 5, 6\nprint(tensor(t))"
        let cases = [
            Case(name: "deep_tensor", source: deep, expected: "tables nested more than 32 levels"),
            Case(
                name: "deep_tensor_unsandboxed", source: deep, expected: "tables nested more than 32 levels",
                sandbox: false),
            Case(
                name: "deep_options",
                source: "local t = {}\nfor i = 1, 40 do t = {t} end\nlucerna.config{deep = t}",
                expected: "nested", sandbox: false),
            Case(name: "error_table", source: "error({})", expected: "error object is a table value"),
            Case(name: "error_userdata", source: "error(tensor{1, 2})", expected: "error object is a userdata value"),
            Case(
                name: "tostring_recursion",
                source: "error(setmetatable({}, {__tostring = function(self) return tostring(self) end}))",
                expected: "error object is a table value"),
            Case(
                name: "tostring_error", source: "error(setmetatable({}, {__tostring = function() error('boom') end}))",
                expected: "error object is a table value"),
        ]
        for hostile in cases { try check(hostile) }
    }

    func testOutOfRangeLimitsAreRejected() throws {
        try "print(1)".write(toFile: "\(base)/plain.lua", atomically: true, encoding: .utf8)
        for arguments in [
            ["--max-memory", "9223372036854775807"], ["--max-memory", "17592186044416"], ["--max-memory", "0"],
            ["--max-seconds", "0"], ["--max-instructions=-1"],
        ] {
            let result = try lucerna(
                ["run", "\(base)/plain.lua", "--sandbox", "--out", "\(base)/run-limits"] + arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssert(result.errors.contains("must be"), "\(arguments): \(result.errors)")
        }
    }

    /// A sandboxed run's resume stays sandboxed, whatever the recipe did to its run folder.
    func testAResumeOfASandboxedRunStaysSandboxed() throws {
        let recipe = "\(base)/resume.lua"
        try """
        pcall(function() assert(io.open(run.dir .. "/run.json", "w")):write("{}") end)
        pcall(function() assert(io.open(run.dir .. "/recipe.lua", "w")):write("os.execute('touch MARKER')") end)
        if os.execute then error("not sandboxed") end
        error("sandboxed")
        """.replacingOccurrences(of: "MARKER", with: marker).write(toFile: recipe, atomically: true, encoding: .utf8)
        let folder = "\(base)/run-resume"
        let first = try lucerna(["run", recipe, "--sandbox", "--out", folder])
        XCTAssertEqual(first.status, 1)
        XCTAssert(first.errors.contains("resume.lua:4: sandboxed"), first.errors)
        let resumed = try lucerna(["run", "--resume", folder])
        XCTAssertEqual(resumed.status, 1)
        XCTAssert(resumed.errors.contains("resume.lua:4: sandboxed"), resumed.errors)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }
}
