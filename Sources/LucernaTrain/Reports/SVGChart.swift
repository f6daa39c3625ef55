import Foundation

/// Small self-contained SVG charts for run reports: line charts (curves per seed), heatmaps (confusion
/// matrices) and grouped bars (per-subgroup metrics). Output is well-formed XML.
public enum SVGChart {
    static let palette = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
    ]

    /// Escapes text for XML content and attributes.
    public static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    static func number(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A label for an axis tick: few digits, no trailing noise.
    static func tick(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude == 0 { return "0" }
        if value == value.rounded(), magnitude < 1e7 { return String(Int(value)) }
        if magnitude >= 1000 || magnitude < 0.001 { return String(format: "%.1e", value) }
        if magnitude >= 10 { return String(format: "%.0f", value) }
        return String(format: magnitude >= 1 ? "%.2f" : "%.3f", value)
    }

    /// A line chart: one polyline per series of (x, y) points; non-finite points are skipped.
    public static func lines(
        title: String, xLabel: String, series: [(name: String, points: [(Double, Double)])],
        width: Double = 460, height: Double = 260
    ) -> String {
        let finite = series.flatMap(\.points).filter { $0.0.isFinite && $0.1.isFinite }
        let (left, right, top, bottom) = (56.0, 12.0, 28.0, 40.0)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart line-chart\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        svg +=
            "<title>\(escape(title))</title><text x=\"\(number(width / 2))\" y=\"16\" text-anchor=\"middle\" class=\"chart-title\">\(escape(title))</text>"
        guard let minX = finite.map(\.0).min(), let maxX = finite.map(\.0).max(),
            var minY = finite.map(\.1).min(), var maxY = finite.map(\.1).max()
        else {
            return svg
                + "<text x=\"\(number(width / 2))\" y=\"\(number(height / 2))\" text-anchor=\"middle\">no data</text></svg>"
        }
        if maxY - minY < 1e-12 {
            minY -= 0.5 * max(abs(minY), 1e-3)
            maxY += 0.5 * max(abs(maxY), 1e-3)
        }
        let padY = (maxY - minY) * 0.05
        minY = minY >= 0 ? max(0, minY - padY) : minY - padY  // non-negative data keeps a non-negative axis
        maxY += padY
        let spanX = max(maxX - minX, 1e-12)
        func px(_ x: Double) -> Double { left + (x - minX) / spanX * (width - left - right) }
        func py(_ y: Double) -> Double { top + (maxY - y) / (maxY - minY) * (height - top - bottom) }
        svg +=
            "<rect x=\"\(number(left))\" y=\"\(number(top))\" width=\"\(number(width - left - right))\" height=\"\(number(height - top - bottom))\" class=\"plot-area\" fill=\"none\" stroke=\"#ccc\"/>"
        for index in 0...4 {
            let value = minY + (maxY - minY) * Double(index) / 4
            svg +=
                "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(number(py(value)))\" y2=\"\(number(py(value)))\" stroke=\"#eee\"/>"
            svg +=
                "<text x=\"\(number(left - 4))\" y=\"\(number(py(value) + 4))\" text-anchor=\"end\" class=\"tick\">\(tick(value))</text>"
        }
        // Integer x values (epochs) get integer ticks, at most about six of them.
        let integral = finite.allSatisfy { $0.0 == $0.0.rounded() }
        let step = integral ? max(1, ((maxX - minX) / 5).rounded(.up)) : spanX / 4
        let xTicks = stride(from: minX, through: maxX + step * 1e-9, by: step).map { $0 }
        for value in xTicks {
            svg +=
                "<text x=\"\(number(px(value)))\" y=\"\(number(height - bottom + 14))\" text-anchor=\"middle\" class=\"tick\">\(tick(value))</text>"
        }
        svg +=
            "<text x=\"\(number((left + width - right) / 2))\" y=\"\(number(height - 6))\" text-anchor=\"middle\" class=\"axis-label\">\(escape(xLabel))</text>"
        for (index, entry) in series.enumerated() {
            let color = palette[index % palette.count]
            let points = entry.points.filter { $0.0.isFinite && $0.1.isFinite }
            guard !points.isEmpty else { continue }
            let coordinates = points.map { "\(number(px($0.0))),\(number(py($0.1)))" }.joined(separator: " ")
            svg +=
                "<polyline class=\"series\" data-series=\"\(escape(entry.name))\" points=\"\(coordinates)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            if points.count == 1 {
                svg +=
                    "<circle cx=\"\(number(px(points[0].0)))\" cy=\"\(number(py(points[0].1)))\" r=\"3\" fill=\"\(color)\"/>"
            }
            svg +=
                "<text x=\"\(number(left + 8))\" y=\"\(number(top + 14 + 14 * Double(index)))\" fill=\"\(color)\" class=\"legend\">\(escape(entry.name))</text>"
        }
        return svg + "</svg>"
    }

    /// A heatmap of `matrix` (rows true class, columns predicted), cells shaded by row-normalised value and
    /// labelled with the count.
    public static func heatmap(title: String, matrix: [[Double]], labels: [String]? = nil) -> String {
        let size = matrix.count
        let cell = size <= 10 ? 34.0 : max(8, 340 / Double(max(size, 1)))
        // Room for the class names: on the left for rows, turned 45° under the columns when they are long.
        let longest = Double(labels?.map(\.count).max() ?? 2)
        let turned = longest > 3
        let (left, top) = (max(48.0, 6.5 * longest + 24), 40.0)
        let width = max(left + cell * Double(size) + 12 + (turned ? 4.6 * longest : 0), 7 * Double(title.count) + 20)
        let height = top + cell * Double(size) + 34 + (turned ? 4.6 * longest : 0)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart heatmap\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        svg +=
            "<title>\(escape(title))</title><text x=\"\(number(width / 2))\" y=\"16\" text-anchor=\"middle\" class=\"chart-title\">\(escape(title))</text>"
        svg +=
            "<text x=\"\(number(left + cell * Double(size) / 2))\" y=\"32\" text-anchor=\"middle\" class=\"axis-label\">predicted</text>"
        svg +=
            "<text x=\"12\" y=\"\(number(top + cell * Double(size) / 2))\" text-anchor=\"middle\" class=\"axis-label\" transform=\"rotate(-90 12 \(number(top + cell * Double(size) / 2)))\">true</text>"
        for (row, values) in matrix.enumerated() {
            let total = max(values.reduce(0, +), 1e-12)
            let name = labels.flatMap { row < $0.count ? $0[row] : nil } ?? "\(row)"
            svg +=
                "<text x=\"\(number(left - 4))\" y=\"\(number(top + cell * (Double(row) + 0.6)))\" text-anchor=\"end\" class=\"tick\">\(escape(name))</text>"
            for (column, value) in values.enumerated() where column < size {
                // White for none of the row, through to dark blue (#1f4e9c) for all of it.
                let share = max(0, min(1, value / total))
                let strength = share.squareRoot()
                let fill = String(
                    format: "#%02x%02x%02x", Int(255 - strength * (255 - 0x1f)), Int(255 - strength * (255 - 0x4e)),
                    Int(255 - strength * (255 - 0x9c)))
                svg +=
                    "<rect class=\"cell\" x=\"\(number(left + cell * Double(column)))\" y=\"\(number(top + cell * Double(row)))\" width=\"\(number(cell))\" height=\"\(number(cell))\" fill=\"\(fill)\" stroke=\"#fff\"/>"
                if cell >= 24 {
                    svg +=
                        "<text x=\"\(number(left + cell * (Double(column) + 0.5)))\" y=\"\(number(top + cell * (Double(row) + 0.62)))\" text-anchor=\"middle\" class=\"cell-label\" fill=\"\(strength > 0.6 ? "#fff" : "#222")\">\(tick(value))</text>"
                }
            }
        }
        for column in 0..<size where cell >= 16 {
            let name = labels.flatMap { column < $0.count ? $0[column] : nil } ?? "\(column)"
            let x = left + cell * (Double(column) + 0.5)
            let y = top + cell * Double(size) + 14
            let turn =
                turned
                ? " text-anchor=\"start\" transform=\"rotate(45 \(number(x)) \(number(y - 4)))\""
                : " text-anchor=\"middle\""
            svg += "<text x=\"\(number(x))\" y=\"\(number(y))\"\(turn) class=\"tick\">\(escape(name))</text>"
        }
        return svg + "</svg>"
    }

    /// Grouped bars: for each group (x), one bar per measure; `errors` (same shape) draws ± whiskers.
    public static func bars(
        title: String, groups: [String], measures: [String], values: [[Double?]],
        errors: [[Double?]]? = nil, height: Double = 260
    ) -> String {
        let (left, right, top, bottom) = (56.0, 12.0, 28.0, 54.0)
        let barWidth = 14.0
        let gap = 12.0
        let groupWidth = barWidth * Double(max(measures.count, 1)) + gap
        let width = max(320, left + right + groupWidth * Double(groups.count), 7 * Double(title.count) + 20)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart bar-chart\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        svg +=
            "<title>\(escape(title))</title><text x=\"\(number(width / 2))\" y=\"16\" text-anchor=\"middle\" class=\"chart-title\">\(escape(title))</text>"
        let all = values.flatMap { $0.compactMap { $0 } }.filter(\.isFinite)
        let maxY = max(all.max() ?? 1, 0) * 1.1
        let minY = min(all.min() ?? 0, 0) * 1.1
        let span = max(maxY - minY, 1e-12)
        func py(_ y: Double) -> Double { top + (maxY - y) / span * (height - top - bottom) }
        for index in 0...4 {
            let value = minY + span * Double(index) / 4
            svg +=
                "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(number(py(value)))\" y2=\"\(number(py(value)))\" stroke=\"#eee\"/>"
            svg +=
                "<text x=\"\(number(left - 4))\" y=\"\(number(py(value) + 4))\" text-anchor=\"end\" class=\"tick\">\(tick(value))</text>"
        }
        for (groupIndex, group) in groups.enumerated() {
            let start = left + groupWidth * Double(groupIndex) + gap / 2
            for (measureIndex, measure) in measures.enumerated() {
                guard groupIndex < values.count, measureIndex < values[groupIndex].count,
                    let value = values[groupIndex][measureIndex], value.isFinite
                else { continue }
                let x = start + barWidth * Double(measureIndex)
                let y0 = py(max(value, 0))
                let y1 = py(min(value, 0))
                svg +=
                    "<rect class=\"bar\" data-group=\"\(escape(group))\" data-measure=\"\(escape(measure))\" x=\"\(number(x))\" y=\"\(number(y0))\" width=\"\(number(barWidth - 2))\" height=\"\(number(max(y1 - y0, 0.5)))\" fill=\"\(palette[measureIndex % palette.count])\"><title>\(escape("\(group) \(measure): \(tick(value))"))</title></rect>"
                if let error = errors?[groupIndex][measureIndex], error.isFinite, error > 0 {
                    let center = x + (barWidth - 2) / 2
                    svg +=
                        "<line class=\"whisker\" x1=\"\(number(center))\" x2=\"\(number(center))\" y1=\"\(number(py(value + error)))\" y2=\"\(number(py(value - error)))\" stroke=\"#333\"/>"
                }
            }
            svg +=
                "<text x=\"\(number(start + groupWidth / 2 - gap / 2))\" y=\"\(number(height - bottom + 14))\" text-anchor=\"middle\" class=\"tick\">\(escape(group))</text>"
        }
        for (index, measure) in measures.enumerated() {
            let x = left + Double(index % 4) * 110
            let y = height - 22 + Double(index / 4) * 12
            svg +=
                "<rect x=\"\(number(x))\" y=\"\(number(y - 8))\" width=\"9\" height=\"9\" fill=\"\(palette[index % palette.count])\"/><text x=\"\(number(x + 12))\" y=\"\(number(y))\" class=\"legend\">\(escape(measure))</text>"
        }
        return svg + "</svg>"
    }
}
