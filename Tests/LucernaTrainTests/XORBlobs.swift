import LucernaComponents
import LucernaCore

/// Four Gaussian blobs at (±2, ±2) in an XOR layout, two classes: `count` points whose coordinates have standard
/// deviation `spread` around their centre, drawn from `seed`. The trainer and adversarial-training tests share it.
func xorBlobs(_ count: Int, seed: UInt64, spread: Double) throws -> TensorDataset {
    let generator = RandomGenerator(seed: seed)
    var points: [Float] = []
    var labels: [Int] = []
    let centres: [(Double, Double)] = [(-2, -2), (2, 2), (-2, 2), (2, -2)]
    for index in 0..<count {
        let cluster = index % 4
        points += [
            Float(centres[cluster].0 + spread * generator.nextNormal()),
            Float(centres[cluster].1 + spread * generator.nextNormal()),
        ]
        labels.append(cluster < 2 ? 0 : 1)
    }
    return TensorDataset(
        name: "xor_blobs",
        tensors: [
            ("features", try Tensor(shape: [count, 2], scalars: points)),
            ("labels", try Tensor(shape: [count], integers: labels)),
        ])
}
