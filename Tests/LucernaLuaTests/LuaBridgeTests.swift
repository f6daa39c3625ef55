import Foundation
import XCTest
import LucernaTestSupport
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

    /// The quick examples run in a run folder (02, the long Fashion-MNIST job, runs in the command-line tests).
    func testExamplesRun() throws {
        let root = Fixture.repositoryRoot
        for name in ["01_tensors", "03_swap_components", "04_write_a_plugin"] {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("example-\(name)-\(getpid())").path
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let lua = try LuaState(run: RunContext(directory: folder, recipe: name, seed: 0, threads: 1))
            try lua.loadPlugins(from: [root.appendingPathComponent("Plugins").path])
            try lua.run(file: root.appendingPathComponent("examples/\(name).lua").path)
        }
    }

    func testTensorsAreReleasedByTheGarbageCollector() throws {
        let lua = try LuaState()
        let before = LuaTensorAPI.liveCount, bytesBefore = TensorStorage.liveBytes
        try lua.run(source: """
            for i = 1, 10000 do
               local a = tensor.ones{16, 16} * i
               local b = a:sum()
            end
            collectgarbage("collect")
            collectgarbage("collect")
            """, name: "loop.lua")
        XCTAssertLessThan(LuaTensorAPI.liveCount - before, 10, "userdata must be released by __gc")
        XCTAssertLessThan(TensorStorage.liveBytes - bytesBefore, 64 << 10, "tensor memory must return to where it was")
        XCTAssertLessThan(lua.luaHeapBytes, 4 << 20, "the Lua heap must stay small")
    }
}
