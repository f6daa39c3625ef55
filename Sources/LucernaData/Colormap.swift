import Foundation
import LucernaCore

/// Perceptual colormaps for heatmaps: matplotlib's `viridis` and `inferno` (CC0, van der Walt & Smith),
/// stored as 33 evenly spaced colours and linearly interpolated (within 5 levels of matplotlib's
/// 256-entry tables), and `gray`.
///
/// Reference: Smith & van der Walt, "A Better Default Colormap for Matplotlib", SciPy 2015.
public enum Colormap: String, CaseIterable, Sendable {
    case viridis, inferno, gray

    static let viridisStops: [(Double, Double, Double)] = [
        (68, 1, 84), (71, 13, 96), (72, 24, 106), (72, 35, 116), (71, 45, 123), (69, 55, 129), (66, 64, 134),
        (62, 73, 137),
        (59, 82, 139), (55, 91, 141), (51, 99, 141), (47, 107, 142), (44, 114, 142), (41, 122, 142), (38, 130, 142),
        (35, 137, 142), (33, 145, 140), (31, 152, 139), (31, 160, 136), (34, 167, 133), (40, 174, 128), (50, 182, 122),
        (63, 188, 115), (78, 195, 107), (94, 201, 98), (112, 207, 87), (132, 212, 75), (152, 216, 62), (173, 220, 48),
        (194, 223, 35), (216, 226, 25), (236, 229, 27), (253, 231, 37),
    ]
    static let infernoStops: [(Double, Double, Double)] = [
        (0, 0, 4), (4, 3, 18), (11, 7, 36), (21, 11, 55), (33, 12, 74), (47, 10, 91), (61, 9, 101), (74, 12, 107),
        (87, 16, 110), (100, 21, 110), (113, 25, 110), (125, 30, 109), (138, 34, 106), (151, 39, 102), (163, 44, 97),
        (176, 49, 91), (188, 55, 84), (199, 62, 76), (210, 70, 68), (219, 80, 59), (228, 90, 49), (235, 102, 40),
        (241, 115, 29), (246, 128, 19), (249, 142, 9), (251, 157, 7), (252, 172, 17), (251, 188, 33), (249, 203, 53),
        (245, 219, 76), (242, 234, 105), (243, 246, 138), (252, 255, 164),
    ]

    /// The colour of `value` in [0, 1] (clamped; NaN gives the lowest colour).
    public func color(_ value: Double) -> (red: Double, green: Double, blue: Double) {
        let t = value.isNaN ? 0 : Swift.max(0, Swift.min(1, value))
        switch self {
        case .gray: return (255 * t, 255 * t, 255 * t)
        case .viridis, .inferno:
            let stops = self == .viridis ? Colormap.viridisStops : Colormap.infernoStops
            let position = t * Double(stops.count - 1)
            let lower = Swift.min(Int(position), stops.count - 2)
            let fraction = position - Double(lower)
            let (a, b) = (stops[lower], stops[lower + 1])
            return (a.0 + (b.0 - a.0) * fraction, a.1 + (b.1 - a.1) * fraction, a.2 + (b.2 - a.2) * fraction)
        }
    }
}

extension PNG {
    /// A grid of explanation overlays: the first row shows the `images` in grey, then one row per entry of
    /// `maps` (`[N, H, W]` or `[N, C, H, W]`, channels summed), each map min-max normalised per image,
    /// coloured with `colormap` and blended over the grey image with opacity `alpha`; a vertical colour bar
    /// (low at the bottom) closes every row.
    public static func explanationGrid(
        images: Tensor, maps: [(name: String, maps: Tensor)], colormap: Colormap = .inferno,
        alpha: Double = 0.6, padding: Int = 2
    ) throws -> Data {
        let imageShape = images.rank == 3 ? [images.shape[0], 1, images.shape[1], images.shape[2]] : images.shape
        guard imageShape.count == 4, imageShape[0] > 0, imageShape[1] == 1 || imageShape[1] == 3 else {
            throw TensorError(
                "explanation grid",
                "images must be [N, H, W] or [N, C, H, W] with C 1 or 3, got \(describe(shape: images.shape))")
        }
        guard alpha >= 0, alpha <= 1, padding >= 0, padding < 64 else {
            throw TensorError("explanation grid", "alpha must be in [0, 1] and padding in [0, 64)")
        }
        let (count, channels, height, width) = (imageShape[0], imageShape[1], imageShape[2], imageShape[3])
        guard count * width <= 4096, maps.count <= 64 else {
            throw TensorError("explanation grid", "at most 4096 pixels across and 64 rows")
        }
        // 1. Grey images scaled to [0, 1] over the whole batch.
        let pixels = images.toDoubles()
        let low = pixels.filter(\.isFinite).min() ?? 0
        let high = pixels.filter(\.isFinite).max() ?? 1
        let plane = height * width
        let grey: [Double] = (0..<(count * plane)).map { index in
            let (n, p) = (index / plane, index % plane)
            let value = (0..<channels).reduce(0) { $0 + pixels[(n * channels + $1) * plane + p] } / Double(channels)
            return high > low ? (value - low) / (high - low) : 0
        }
        // 2. Each method's maps, summed over channels and normalised per image.
        var rows: [[Double]] = []
        for (name, tensor) in maps {
            let shape = tensor.rank == 4 ? [tensor.shape[0], tensor.shape[2], tensor.shape[3]] : tensor.shape
            guard shape == [count, height, width] else {
                throw TensorError(
                    "explanation grid",
                    "maps \(name) are \(describe(shape: tensor.shape)); the images are \(count) of \(height)x\(width)")
            }
            let mapChannels = tensor.rank == 4 ? tensor.shape[1] : 1
            let values = tensor.toDoubles()
            var row = [Double](repeating: 0, count: count * plane)
            for n in 0..<count {
                for p in 0..<plane {
                    row[n * plane + p] = (0..<mapChannels).reduce(0) { $0 + values[(n * mapChannels + $1) * plane + p] }
                }
                let slice = row[n * plane..<(n + 1) * plane].filter(\.isFinite)
                let (a, b) = (slice.min() ?? 0, slice.max() ?? 0)
                for p in 0..<plane { row[n * plane + p] = b > a ? (row[n * plane + p] - a) / (b - a) : 0 }
            }
            rows.append(row)
        }
        // 3. Compose: cells of width x height, a colour bar of width 4 at the right of each row.
        let barWidth = 4
        let gridWidth = count * (width + padding) + padding + barWidth + padding
        let gridHeight = (rows.count + 1) * (height + padding) + padding
        var canvas = [UInt8](repeating: 255, count: gridWidth * gridHeight * 3)
        func put(_ x: Int, _ y: Int, _ color: (Double, Double, Double)) {
            let offset = (y * gridWidth + x) * 3
            canvas[offset] = UInt8(Swift.max(0, Swift.min(255, color.0.rounded())))
            canvas[offset + 1] = UInt8(Swift.max(0, Swift.min(255, color.1.rounded())))
            canvas[offset + 2] = UInt8(Swift.max(0, Swift.min(255, color.2.rounded())))
        }
        for row in 0...rows.count {
            let top = padding + row * (height + padding)
            for n in 0..<count {
                let left = padding + n * (width + padding)
                for y in 0..<height {
                    for x in 0..<width {
                        let g = 255 * grey[n * plane + y * width + x]
                        if row == 0 {
                            put(left + x, top + y, (g, g, g))
                        } else {
                            let heat = colormap.color(rows[row - 1][n * plane + y * width + x])
                            put(
                                left + x, top + y,
                                (
                                    alpha * heat.red + (1 - alpha) * g, alpha * heat.green + (1 - alpha) * g,
                                    alpha * heat.blue + (1 - alpha) * g
                                ))
                        }
                    }
                }
            }
            guard row > 0 else { continue }
            let barLeft = padding + count * (width + padding)
            for y in 0..<height {
                let color = colormap.color(1 - Double(y) / Double(Swift.max(height - 1, 1)))
                for x in 0..<barWidth { put(barLeft + x, top + y, (color.red, color.green, color.blue)) }
            }
        }
        return try encode(pixels: canvas, width: gridWidth, height: gridHeight, channels: 3)
    }
}
