/// A separable filter over one `height`×`width` plane (row-major): `kernel` along each row, then along each
/// column, centred, with `border(index, length)` giving the index read for a position outside the plane
/// (the padding rule: SciPy's `reflect`, torchvision's `reflect`, ...).
func separableFilter(
    _ plane: [Double], height: Int, width: Int, kernel: [Double], border: (Int, Int) -> Int
) -> [Double] {
    let half = kernel.count / 2
    var rows = [Double](repeating: 0, count: plane.count)
    for row in 0..<height {
        for column in 0..<width {
            var total = 0.0
            for (offset, weight) in kernel.enumerated() {
                total += weight * plane[row * width + border(column + offset - half, width)]
            }
            rows[row * width + column] = total
        }
    }
    var result = [Double](repeating: 0, count: plane.count)
    for row in 0..<height {
        for column in 0..<width {
            var total = 0.0
            for (offset, weight) in kernel.enumerated() {
                total += weight * rows[border(row + offset - half, height) * width + column]
            }
            result[row * width + column] = total
        }
    }
    return result
}
