import Foundation
import LucernaComponents
import LucernaLua
import LucernaRun
import LucernaTestSupport
import XCTest

/// `lucerna stubs` and `docs/lua-api.md` are generated from the registry; these tests keep them valid and
/// in step with the code.
final class DocumentationTests: XCTestCase {
    func stateWithPlugins() throws -> LuaState {
        let lua = try LuaState()
        try lua.loadPlugins(from: [Fixture.repositoryRoot.appendingPathComponent("Plugins").path])
        return lua
    }

    func testStubsParseAsLuaAndCoverEveryComponent() throws {
        let lua = try stateWithPlugins()
        let stubs = LuaDocumentation.stubs(lua)
        XCTAssertNil(lua.syntaxError(in: stubs, name: "lucerna.d.lua"), "stubs must be valid Lua")
        let lines = stubs.split(separator: "\n").map(String.init)
        for entry in lua.registry.allEntries {
            XCTAssert(
                lines.contains("function \(entry.kind.luaGlobal).\(entry.name)(options) end"),
                "\(entry.kind) \(entry.name) missing")
            for option in entry.options {
                XCTAssert(
                    lines.contains { $0.hasPrefix("---@field \(option.name)\(option.required ? "" : "?") ") },
                    "option \(option.name) of \(entry.name)")
            }
        }
        // Every annotation line uses a known LuaLS tag.
        let tags = ["---@meta", "---@class", "---@field", "---@param", "---@return", "---@overload", "---@operator"]
        for line in lines where line.hasPrefix("---@") {
            XCTAssert(tags.contains { line.hasPrefix($0) }, line)
        }
        for name in [
            "Tensor", "Module", "Optimizer", "Schedule", "Regularizer", "Metric", "Loss", "Attack", "Explainer",
        ] {
            XCTAssert(lines.contains("---@class \(name)"), name)
        }
    }

    func testTheAPIReferenceIsUpToDate() throws {
        let lua = try stateWithPlugins()
        let expected = LuaDocumentation.reference(lua)
        let path = Fixture.repositoryRoot.appendingPathComponent("docs/lua-api.md").path
        let committed = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(committed, expected, "docs/lua-api.md is stale: run `lucerna docs > docs/lua-api.md`")
        for entry in lua.registry.allEntries {
            XCTAssert(committed.contains("`\(entry.kind.luaGlobal).\(entry.name)`"), entry.name)
        }
    }

    /// The README is a short entry page: at most 250 lines, the two commands first, its recipe the same as
    /// `examples/13_tour.lua`, and every page it links to present.
    func testTheReadmeIsShortCurrentAndLinked() throws {
        let root = Fixture.repositoryRoot
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        XCTAssertLessThanOrEqual(readme.split(separator: "\n", omittingEmptySubsequences: false).count, 250)
        let blocks = readme.components(separatedBy: "```")
        XCTAssertGreaterThan(blocks.count, 3)
        XCTAssert(
            blocks[1].contains("bash scripts/setup.sh") && blocks[1].contains("bash scripts/test.sh"),
            "the two commands come first")
        let tour = try String(contentsOf: root.appendingPathComponent("examples/13_tour.lua"), encoding: .utf8)
        let code = try XCTUnwrap(tour.range(of: "]]\n")).upperBound
        XCTAssertEqual(
            String(blocks[3].dropFirst("lua\n".count)), String(tour[code...]),
            "the README's recipe is examples/13_tour.lua")
        XCTAssertNil(
            readme.range(of: #"20[0-9]{2}-[0-9]{2}-[0-9]{2}"#, options: .regularExpression), "no dated measurements")
        let links = readme.matches(of: /\]\(([^)#]+)\)/).map { String($0.1) }.filter { !$0.hasPrefix("http") }
        XCTAssertGreaterThanOrEqual(links.filter { $0.hasPrefix("docs/guide/") }.count, 8)
        for link in links {
            XCTAssert(
                FileManager.default.fileExists(atPath: root.appendingPathComponent(link).path),
                "README links to a missing \(link)")
        }
    }
}
