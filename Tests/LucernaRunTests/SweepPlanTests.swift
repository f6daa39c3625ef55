import Foundation
import LucernaRun
import XCTest

/// The grid of `lucerna sweep`: parsing, expansion order, the manifest and its checks.
final class SweepPlanTests: XCTestCase {
    func testAxesKeepTablesTogetherAndRejectBadInput() throws {
        let axis = try Sweep.axis(parsing: "channels={64,32},{32,16}")
        XCTAssertEqual(axis.key, "channels")
        XCTAssertEqual(axis.values, ["{64,32}", "{32,16}"])
        XCTAssertEqual(try Sweep.axis(parsing: "optimizer.lr=1e-3, 3e-4").values, ["1e-3", "3e-4"])
        for bad in ["lr", "lr=", "lr=1,,2", "lr=1,1", "a={1,2", "a=1}", ".lr=1", "lr=1,{"] {
            XCTAssertThrowsError(try Sweep.axis(parsing: bad), bad)
        }
    }

    func testPointsVaryTheLastAxisFastestAndCarryFixedOverrides() throws {
        let sweep = try Sweep(
            recipe: "/r.lua", grid: [try Sweep.axis(parsing: "a=1,2"), try Sweep.axis(parsing: "b=x,y,z")],
            fixed: ["epochs=2"], seeds: [1, 2])
        let points = sweep.points
        XCTAssertEqual(points.count, 6)
        XCTAssertEqual(points.map(\.name), ["a=1 b=x", "a=1 b=y", "a=1 b=z", "a=2 b=x", "a=2 b=y", "a=2 b=z"])
        XCTAssertEqual(points[4].overrides, ["epochs=2", "a=2", "b=y"])
        XCTAssertEqual(points[4].folder, "point-004")
        XCTAssertThrowsError(try Sweep(recipe: "/r.lua", grid: []))
        XCTAssertThrowsError(
            try Sweep(recipe: "/r.lua", grid: [try Sweep.axis(parsing: "a=1"), try Sweep.axis(parsing: "a=2")]))
        XCTAssertThrowsError(try Sweep(recipe: "/r.lua", grid: [try Sweep.axis(parsing: "a=1")], fixed: ["a=3"]))
        XCTAssertThrowsError(try Sweep(recipe: "/r.lua", grid: [try Sweep.axis(parsing: "a=1")], seeds: [1, 1]))
    }

    func testTheManifestRoundTripsAndGuardsItsFolder() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-plan-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let sweep = try Sweep(recipe: "/r.lua", grid: [try Sweep.axis(parsing: "lr=1e-3,3e-4")], seeds: [7])
        try sweep.writeManifest(in: folder)
        try sweep.writeManifest(in: folder)  // the same sweep again: accepted
        let read = try Sweep.points(inManifest: "\(folder)/manifest.jsonl")
        XCTAssertEqual(read.points.map(\.recipe), ["/r.lua", "/r.lua"])
        XCTAssertEqual(read.points, sweep.points)
        let other = try Sweep(recipe: "/r.lua", grid: [try Sweep.axis(parsing: "lr=1e-2")])
        XCTAssertThrowsError(try other.writeManifest(in: folder))
        XCTAssertEqual(Sweep.state(of: "\(folder)/point-000"), .notStarted)
        try FileManager.default.createDirectory(atPath: "\(folder)/point-000", withIntermediateDirectories: true)
        try "{}".write(toFile: "\(folder)/point-000/run.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(Sweep.state(of: "\(folder)/point-000"), .interrupted)
        try Sweep.markDone("\(folder)/point-000")
        XCTAssertEqual(Sweep.state(of: "\(folder)/point-000"), .finished)
        try FileManager.default.removeItem(atPath: "\(folder)/point-000/DONE")
        try "{}".write(toFile: "\(folder)/point-000/summary.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(Sweep.state(of: "\(folder)/point-000"), .finished, "a run's summary marks it finished too")
        // A manifest whose folder escapes the sweep, or whose lines are out of order, is refused.
        for bad in [
            #"{"index": 0, "name": "x", "overrides": [], "folder": "../elsewhere", "recipe": "/r.lua"}"#,
            #"{"index": 1, "name": "x", "overrides": [], "folder": "point-001", "recipe": "/r.lua"}"#,
            "not json",
        ] {
            try (bad + "\n").write(toFile: "\(folder)/bad.jsonl", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Sweep.points(inManifest: "\(folder)/bad.jsonl"), bad)
        }
    }
}
