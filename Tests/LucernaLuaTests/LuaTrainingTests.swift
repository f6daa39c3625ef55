import Foundation
import XCTest
import LucernaCore
@testable import LucernaLua

final class LuaTrainingTests: XCTestCase {
    func testARecipeTrainsAnMLPWithNNAndOptim() throws {
        let lua = try LuaState()
        try lua.run(source: """
            lucerna.manual_seed(3)
            -- XOR of two coordinates' signs: not linearly separable.
            local x = tensor.randn{256, 2}
            local y = ((x:narrow(2, 1, 1) * x:narrow(2, 2, 1)):gt(0)):reshape{256}:long()
            local model = nn.Sequential{nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)}
            local opt = optim.adamw{params = model:parameters(), lr = 0.03, weight_decay = 0}
            local schedule = schedules.cosine{optimizer = opt, t_max = 300}
            first = losses.cross_entropy(model(x), y):item()
            for step = 1, 300 do
               opt:zero_grad()
               local loss = losses.cross_entropy(model(x), y)
               loss:backward()
               opt:step()
               schedule:step()
            end
            last = losses.cross_entropy(model(x), y):item()
            accuracy = model(x):argmax(2):eq(y:float() + 1):mean():item()
            count = model:parameter_count()
            """, name: "xor.lua")
        XCTAssertEqual(lua.number(global: "count"), Double(2 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2))
        XCTAssertLessThan(try XCTUnwrap(lua.number(global: "last")), 0.2 * (lua.number(global: "first") ?? 0))
        XCTAssertGreaterThan(try XCTUnwrap(lua.number(global: "accuracy")), 0.95)
    }

    func testModulesSaveAndLoadSafetensors() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lua-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lua = try LuaState()
        try lua.run(source: """
            local a = nn.Conv2d(1, 4, 3, {padding = 1})
            a:save("\(path)")
            local b = nn.Conv2d(1, 4, 3, {padding = 1})
            b:load("\(path)")
            local x = tensor.randn{2, 1, 5, 5}
            difference = (a(x) - b(x)):abs():max():item()
            names = 0
            for name, _ in pairs(b:named_parameters()) do names = names + 1 end
            """, name: "save.lua")
        XCTAssertEqual(lua.number(global: "difference"), 0)
        XCTAssertEqual(lua.number(global: "names"), 2)
    }

    func testDataLimitKeepsTheFirstSamples() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"),
                          "dataset-fashion-mnist is not installed")
        let lua = try LuaState()
        try lua.run(source: """
            local all = data.fashion_mnist{split = "test"}
            local few = data.fashion_mnist{split = "test", limit = 5}
            count = few.labels:numel()
            same = (few.images - all.images:narrow(1, 1, 5)):abs():max():item()
            shape = few.images:shape()[1] * 1000 + few.images:shape()[3]
            """, name: "limit.lua")
        XCTAssertEqual(lua.number(global: "count"), 5)
        XCTAssertEqual(lua.number(global: "same"), 0)
        XCTAssertEqual(lua.number(global: "shape"), 5028)
    }

    func testComponentArgumentErrorsNameTheOptions() throws {
        let cases: [(String, String)] = [
            ("nn.Conv2d(1, 4, 3, {paddin = 1})", "unknown option 'paddin'; accepted: stride, padding, dilation, bias"),
            ("optim.adamw{params = {}, learning_rate = 1}", "unknown option 'learning_rate'"),
            ("optim.adamw{lr = 1}", "option params is required"),
            ("schedules.cosine{optimizer = 3, t_max = 2}", "option optimizer must be an optimizer"),
            ("schedules.cosine{optimizer = optim.sgd{params = {}}, t_max = 0}", "t_max must be positive"),
            ("local m = nn.Linear(2, 3); m.forward(tensor.ones{1, 2})", "argument 1 must be a module"),
            ("local m = nn.Linear(2, 3); local y = m(tensor.ones{1, 5})", "Linear: input [1, 5] does not end in 2 features"),
            ("nn.Sequential{nn.ReLU(), 3}", "element 2 is not a module"),
            ("data.fashion_mnist{split = 'validation'}", "split must be"),
            ("losses.cross_entropy(tensor.ones{2, 3}, tensor{0, 7})", "out of range"),
        ]
        for (source, expected) in cases {
            XCTAssertThrowsError(try LuaState().run(source: source, name: "bad.lua"), source) { error in
                XCTAssert("\(error)".contains(expected) && "\(error)".contains("bad.lua:1:"), "\(source) -> \(error)")
            }
        }
    }
}
