import Foundation
import LucernaLua
import LucernaRun
import LucernaTestSupport
import XCTest

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `report.html` and the comparison page are well-formed XHTML with the expected SVG charts and images.
final class ReportTests: XCTestCase {
    /// Counts elements by name while checking well-formedness.
    final class Counter: NSObject, XMLParserDelegate {
        var counts: [String: Int] = [:]
        var imageSources: [String] = []
        var seriesNames: [String] = []
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            counts[name, default: 0] += 1
            if let kind = attributes["class"] { counts["." + kind, default: 0] += 1 }
            if name == "img", let source = attributes["src"] { imageSources.append(source) }
            if name == "polyline", let series = attributes["data-series"] { seriesNames.append(series) }
        }
    }

    func parse(_ path: String) throws -> Counter {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let parser = XMLParser(data: data)
        let counter = Counter()
        parser.delegate = counter
        XCTAssert(
            parser.parse(),
            "\(path) is not well-formed: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)")
        return counter
    }

    func testRunReportHasCurvesHeatmapSubgroupBarsAndImages() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try RunContext(directory: folder, recipe: "report.lua", seed: 1, threads: 1)
        let lua = try LuaState(run: run)
        try lua.loadPlugins(from: [Fixture.repositoryRoot.appendingPathComponent("Plugins").path])
        try lua.run(
            source: """
                lucerna.manual_seed(1)
                local set = data.blobs{samples = 300, centers = 3}
                set.groups = (set.labels:float() * 0 + tensor.rand{300}:gt(0.5):float()):long()
                run.image("noise_grid", tensor.rand{6, 1, 5, 5}, {columns = 3})
                run.note("a < b & c")
                run.overlay("heat", tensor.rand{3, 1, 5, 5}, {{"first", tensor.rand{3, 5, 5}}, {"second", tensor.rand{3, 1, 5, 5}}})
                train{model = nn.Linear(2, 3), data = set, test = set, epochs = 3, verbose = false,
                      metrics = {accuracy = "accuracy", confusion = "confusion_matrix", worst = "worst_group_accuracy"}}
                """, name: "report.lua")
        run.writeReport(error: nil)
        let page = try parse("\(folder)/report.html")
        // No val_confusion curve: a confusion matrix's value is the accuracy, already drawn.
        XCTAssertEqual(
            page.counts["svg"], 5 + 2, "curves train_loss, val_loss, val_accuracy, val_worst, lr; heatmap; bars")
        XCTAssertEqual(page.counts["polyline"], 5)
        XCTAssertEqual(page.seriesNames, Array(repeating: "run", count: 5))
        let rects = page.counts["rect"] ?? 0
        XCTAssertGreaterThanOrEqual(rects, 9 + 2 * 5, "a 3x3 heatmap and bars for two groups")
        XCTAssertEqual(page.imageSources.count, 2)
        XCTAssert(
            try String(contentsOfFile: "\(folder)/report.html", encoding: .utf8).contains(
                "heat: rows: inputs, first, second (inferno, low to high)"))
        let png = try XCTUnwrap(
            Data(base64Encoded: String(page.imageSources[0].dropFirst("data:image/png;base64,".count))))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let html = try String(contentsOfFile: "\(folder)/report.html", encoding: .utf8)
        XCTAssert(html.contains("<li>a &lt; b &amp; c</li>"), "notes are escaped")
        XCTAssert(html.contains("<th>outcome</th><td>completed</td>"))
    }

    /// GAN training's records and its `gan_metrics` records are drawn against the step.
    func testGANCurvesAreDrawnAgainstTheStepWithTheMetricsDuringTraining() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gan-report-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try RunContext(directory: folder, recipe: "gan.lua", seed: 1, threads: 1)
        let lua = try LuaState(run: run)
        try lua.run(
            source: """
                for step = 100, 300, 100 do
                   run.log{trainer = "gan", step = step, critic_loss = 1 / step}
                   run.log{phase = "gan_metrics", trainer = "gan", step = step, gan_test_accuracy = step / 400}
                end
                run.log{phase = "summary", gan_test_accuracy = 0.9}
                """, name: "gan.lua")
        run.writeReport(error: nil)
        let page = try parse("\(folder)/report.html")
        XCTAssertEqual(page.counts["polyline"], 2, "critic_loss and gan_test_accuracy over the steps")
        let html = try String(contentsOfFile: "\(folder)/report.html", encoding: .utf8)
        XCTAssert(html.contains("gan: gan_test_accuracy"), "the metrics-during-training curve")
        XCTAssert(html.contains(">step<"), "drawn against the step")
    }

    func testComparisonPageAndMetricSelection() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("compare-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (name, values) in [("baseline", [0.80, 0.82]), ("method", [0.90, 0.94])] {
            let folder = "\(root)/\(name)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let mean = values.reduce(0, +) / 2
            let deviation = abs(values[0] - values[1]) / 2.0.squareRoot()
            try """
            {"seeds": [1, 2], "metrics": {"test_accuracy": {"mean": \(mean), "std": \(deviation), "values": \(values)},
             "val_loss": {"mean": 0.3, "std": 0.01, "values": [0.29, 0.31]}}}
            """.write(toFile: "\(folder)/summary.json", atomically: true, encoding: .utf8)
        }
        let folders = ["\(root)/baseline", "\(root)/method"]
        let markdown = try RunComparison.markdown(folders)
        XCTAssertEqual(markdown.split(separator: "\n").first, "| run | test_accuracy |", "test metrics by default")
        XCTAssert(markdown.contains("| method | 0.9200 ± 0.0283 |"), markdown)
        XCTAssert(try RunComparison.markdown(folders, selected: ["val_*"]).hasPrefix("| run | val_loss |"))
        XCTAssertThrowsError(try RunComparison.markdown(folders, selected: ["nothing"]))
        let path = "\(root)/comparison.html"
        try RunComparison.html(folders).write(toFile: path, atomically: true, encoding: .utf8)
        let page = try parse(path)
        XCTAssertEqual(page.counts["svg"], 1)
        XCTAssertEqual(page.counts[".whisker"], 2, "one ± std whisker per run")
        XCTAssertEqual(page.counts[".bar"], 2)
    }
}
