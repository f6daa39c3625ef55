import Foundation
import XCTest
import LucernaCore
@testable import LucernaLua

final class LuaBridgeTests: XCTestCase {
    func testTensorsAndAutogradFromLua() throws {
        let lua = try LuaState()
        try lua.run(source: """
            x = tensor{{1, 2}, {3, 4}}:requires_grad()
            y = (x * x + 1):sum()
            y:backward()
            gx = x:grad()
            g = grad((x ^ 3):sum(), x, {create_graph = true})
            h = grad(g:sum(), x)
            rows = x:shape()[1]
            total = tensor.ones{2, 3}:sum(2):sum():item()
            inside = no_grad(function() return x * 2 end)
            m = tensor{{1, 2}, {3, 4}}:matmul(tensor{{1}, {1}}):reshape{2}
            best = tensor{{0.1, 0.9, 0.3}}:argmax(2):item()
            """, name: "autograd.lua")
        XCTAssertEqual(lua.number(global: "y"), nil, "y is a tensor, not a number")
        XCTAssertEqual(lua.tensor(global: "y")?.toFloats(), [34])
        XCTAssertEqual(lua.tensor(global: "gx")?.toFloats(), [2, 4, 6, 8])
        XCTAssertEqual(lua.tensor(global: "h")?.toFloats(), [6, 12, 18, 24], "d²/dx² x³ = 6x through Lua")
        XCTAssertEqual(lua.number(global: "rows"), 2)
        XCTAssertEqual(lua.number(global: "total"), 6)
        XCTAssertEqual(lua.tensor(global: "inside")?.requiresGrad, false)
        XCTAssertEqual(lua.tensor(global: "m")?.toFloats(), [3, 7])
        XCTAssertEqual(lua.number(global: "best"), 2, "indices are 1-based in Lua")
    }

    func testBadRecipesGiveErrorsWithTheirLineAndNeverCrash() throws {
        let cases: [(String, String)] = [
            ("x = = 1", "bad.lua:1:"),
            ("local a = tensor.ones{2, 2}\nlocal b = a:matmul(tensor.ones{3, 1})", "bad.lua:2: matmul: [2, 2] x [3, 1]"),
            ("local c = tensor.zeros{2, 3} + tensor.zeros{4}", "bad.lua:1: add: shapes [2, 3] and [4] do not broadcast"),
            ("tensor.zeros('x')", "argument 1 must be a table of integers, got string"),
            ("tensor.zeros{2.5}", "must be an integer"),
            ("tensor{{1, 2}, {3}}", "ragged nested table"),
            ("tensor{{1, 2}, 3}", "ragged nested table"),
            ("tensor{'a'}", "element 1 is a string"),
            ("tensor.ones{2}:sum(0)", "dimensions count from 1"),
            ("tensor.ones{2}:sum(5)", "out of range"),
            ("tensor.ones{2}:nonexistent()", "nonexistent"),
            ("tensor.ones{2}:item()", "has 2 elements, not 1"),
            ("no_grad(function() error('inside the callback') end)", "inside the callback"),
            ("no_grad(42)", "argument 1 must be a function"),
            ("grad(tensor.ones{1}, tensor.ones{1})", "does not require a gradient"),
            ("tensor.ones{2}:backward()", "does not require a gradient"),
            ("tensor.zeros{1e12, 1e12}", "too many elements"),
            ("tensor.ones{2}:reshape{3}", "cannot become"),
            ("tensor.ones{1}.matmul(3, 4)", "needs a tensor operand"),
            ("local t = tensor.ones{2}; getmetatable(t).__gc(t)", "attempt to call a nil value"),
        ]
        for (source, expected) in cases {
            let lua = try LuaState()
            XCTAssertThrowsError(try lua.run(source: source, name: "bad.lua"), source) { error in
                XCTAssert("\(error)".contains(expected), "\(source) -> \(error)")
            }
        }
    }

    func testLargeTensorsDoNotPileUpBetweenCollections() throws {
        // 3 GB of 1 MB tensors and no explicit collectgarbage: Lucerna must trigger collections itself.
        let lua = try LuaState()
        let before = LuaTensorAPI.liveCount
        var peak = 0
        lua.register("observe") { _ in
            peak = max(peak, LuaTensorAPI.liveCount - before)
            return 0
        }
        try lua.run(source: """
            for i = 1, 3000 do
               local a = tensor.zeros{512, 512} + i
               if i % 100 == 0 then observe() end
            end
            """, name: "pressure.lua")
        XCTAssertLessThan(peak, 700, "live tensors must stay bounded (each is 1 MB)")
    }

    func testExamplesRun() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples")
        try LuaState().run(file: examples.appendingPathComponent("01_tensors.lua").path)
    }

    func testTensorsAreReleasedByTheGarbageCollector() throws {
        let lua = try LuaState()
        let before = LuaTensorAPI.liveCount
        try lua.run(source: """
            for i = 1, 10000 do
               local a = tensor.ones{16, 16} * i
               local b = a:sum()
            end
            collectgarbage("collect")
            collectgarbage("collect")
            """, name: "loop.lua")
        XCTAssertLessThan(LuaTensorAPI.liveCount - before, 10, "userdata must be released by __gc")
    }
}
