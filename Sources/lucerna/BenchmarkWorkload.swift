import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN
import LucernaTrain

/// The fixed benchmark workloads of `lucerna bench` (random MNIST-shaped data, fixed seed); the
/// PyTorch equivalents are in `scripts/bench/bench_torch.py` (scikit-learn's for `spray`).
enum BenchmarkWorkload: String, CaseIterable {
    case mlpTrain = "mlp_train"
    case cnnTrain = "cnn_train"
    case cnnInfer = "cnn_infer"
    case wganGradientPenaltyStep = "wgan_gp_step"
    case attentionWGANStep = "attention_wgan_step"
    case rrrStep = "rrr_step"
    case camPlusPlusPenaltyStep = "campp_penalty_step"
    case gradCAMPlusPlus = "gradcampp"
    case saliency = "saliency"
    case integratedGradients = "integrated_gradients"
    case fgsm = "fgsm"
    case pgd10 = "pgd10"
    case spray = "spray"
    case sgemm = "sgemm"

    static var names: [String] { allCases.map(\.rawValue) }

    var unit: String {
        switch self {
        case .wganGradientPenaltyStep, .attentionWGANStep: "generator_steps/s"
        case .sgemm: "MFLOP/s"
        default: "samples/s"
        }
    }

    /// The side of `sgemm`'s square matrices (2,000 MFLOP a product).
    static let sgemmSize = 1000

    /// Floating-point operations (multiply and add counted apart) of one training sample of `cnn_train`: the
    /// forward pass of the benchmark CNN (conv1 1→32 and conv2 32→64, 3×3 at 28×28 and 14×14, fc1
    /// 3136→128, fc2 128→10) three times over — forward, input gradients, weight gradients — less conv1's
    /// input gradient, which is not computed. Pooling, activations, the loss and the optimizer are not
    /// counted. cnn_train's throughput times this, over `sgemm`'s FLOP/s, is the share of the machine's
    /// matrix-product limit the step reaches.
    static var cnnTrainFLOPsPerSample: Int {
        let conv1 = 2 * 28 * 28 * 32 * 9
        let conv2 = 2 * 14 * 14 * 64 * 32 * 9
        let linear = 2 * 3136 * 128 + 2 * 128 * 10
        return 3 * (conv1 + conv2 + linear) - conv1
    }

    /// What one measurement found: throughput, and the memory the workload took.
    struct Measurement {
        /// Units (samples or generator steps) per second.
        var throughput: Double
        /// The process's peak resident bytes over the whole benchmark (set-up, warm-up and measurement), and
        /// its resident bytes before the workload was built (the executable and libraries).
        var peakResidentBytes: Int?, baselineResidentBytes: Int?
        /// Tensor storages allocated per measured iteration, and the share of the large ones (64 KiB and
        /// more) served from the buffer cache.
        var allocationsPerStep: Double, cacheReuse: Double?
    }

    /// Runs the workload for one warm-up second, then for `seconds`, and returns units per second with the
    /// memory measurements.
    func measure(seconds: Double) throws -> Measurement {
        let baseline = ResidentMemory.currentBytes()
        let generator = RandomGenerator(seed: 0)
        RandomGenerator.shared.reseed(0)
        let step = try makeStep(generator: generator)
        let warmUp = Date()
        while Date().timeIntervalSince(warmUp) < 1 { _ = try step() }
        let (allocations, cache) = (TensorStorage.allocationCount, TensorStorage.cacheCounts)
        let start = Date()
        var (units, steps) = (0, 0)
        while Date().timeIntervalSince(start) < seconds {
            units += try step()
            steps += 1
        }
        let throughput = Double(units) / Date().timeIntervalSince(start)
        let after = TensorStorage.cacheCounts
        let (reused, fresh) = (after.reused - cache.reused, after.fresh - cache.fresh)
        return Measurement(
            throughput: throughput, peakResidentBytes: ResidentMemory.peakBytes(), baselineResidentBytes: baseline,
            allocationsPerStep: Double(TensorStorage.allocationCount - allocations) / Double(max(steps, 1)),
            cacheReuse: reused + fresh > 0 ? Double(reused) / Double(reused + fresh) : nil)
    }

    /// A closure doing one iteration and returning how many units (samples or generator steps) it did.
    private func makeStep(generator: RandomGenerator) throws -> () throws -> Int {
        func images(_ batch: Int) throws -> Tensor { try Tensor.uniform([batch, 1, 28, 28], generator: generator) }
        func labels(_ batch: Int) throws -> Tensor {
            try Tensor(shape: [batch], integers: (0..<batch).map { _ in generator.nextInt(below: 10) })
        }
        switch self {
        case .spray:
            // SpRAy on 5,000 synthetic 28×28 heatmaps (ten blob positions): the 32-nearest-neighbour affinity,
            // 32 eigenvectors, k-means with 10 clusters.
            let (samples, side) = (5000, 28)
            let maps = Self.syntheticHeatmaps(count: samples, side: side)
            return {
                let embedding = try SpectralEmbedding(
                    points: maps, samples: samples, features: side * side, neighbours: 32, components: 32)
                _ = try KMeans(clusters: 10).fit(points: embedding.coordinates, samples: samples, features: 32)
                return samples
            }
        case .sgemm:
            // OpenBLAS SGEMM as the engine runs it (split over the engine's threads) on square matrices: the
            // machine's matrix-product limit, in MFLOP per step.
            let n = Self.sgemmSize
            let (a, b) = (
                try Tensor.uniform([n, n], generator: generator), try Tensor.uniform([n, n], generator: generator)
            )
            return {
                _ = try noGrad { try a.matmul(b) }
                return 2 * n * n * n / 1_000_000
            }
        case .mlpTrain:
            let model = try MLP(generator: generator)
            let optimizer = try AdamW(parameters: model.parameters(), learningRate: 1e-3, weightDecay: 1e-2)
            let (x, y) = (try images(128).reshaped([128, 784]), try labels(128))
            return {
                optimizer.zeroGrad()
                try Losses.crossEntropy(model(x), y).backward()
                try optimizer.step()
                return 128
            }
        case .cnnTrain:
            let model = try CNN(generator: generator)
            let optimizer = try AdamW(parameters: model.parameters(), learningRate: 1e-3, weightDecay: 1e-2)
            let (x, y) = (try images(64), try labels(64))
            return {
                optimizer.zeroGrad()
                try Losses.crossEntropy(model(x), y).backward()
                try optimizer.step()
                return 64
            }
        case .cnnInfer:
            let model = try CNN(generator: generator).eval()
            let x = try images(256)
            return {
                _ = try noGrad { try model(x) }
                return 256
            }
        case .gradCAMPlusPlus, .saliency, .integratedGradients:
            // Explanations of the benchmark CNN for the predicted classes: Grad-CAM++ on relu2 (maps resized to
            // 28x28 and normalised as pytorch-grad-cam), saliency (|gradient|), Integrated Gradients with 32
            // Gauss-Legendre steps in one batch (as Captum by default).
            let model = try CNN(generator: generator).eval()
            let batch = self == .integratedGradients ? 32 : 256
            let x = try images(batch)
            let (name, options): (String, [String: ConfigValue]) =
                switch self {
                case .gradCAMPlusPlus: ("grad_cam_pp", ["layer": .string("relu2")])
                case .saliency: ("saliency", [:])
                default:
                    (
                        "integrated_gradients",
                        ["steps": .number(32), "batch_steps": .number(32), "internal_batch_size": .number(1024)]
                    )
                }
            let explainer = try Registry.standard().build(.explainer, name, options: options)
            return {
                _ = try explainer.attribute(model: model, inputs: x, targets: nil)
                return batch
            }
        case .fgsm, .pgd10:
            // Attacks on the benchmark CNN in evaluation mode, batch 256, eps 0.1 (PGD: 10 steps of 0.01 from a
            // random start), against the true labels, as torchattacks' FGSM and PGD.
            let model = try CNN(generator: generator).eval()
            let (x, y) = (try images(256), try labels(256))
            let options: [String: ConfigValue] =
                self == .fgsm
                ? ["eps": .number(0.1)]
                : ["eps": .number(0.1), "alpha": .number(0.01), "steps": .number(10), "random_start": .boolean(true)]
            let attack = try Registry.standard().build(.attack, self == .fgsm ? "fgsm" : "pgd", options: options)
            return {
                _ = try attack.perturb(model: model, inputs: x, targets: y)
                return 256
            }
        case .rrrStep:
            let model = try CNN(generator: generator)
            let optimizer = try AdamW(parameters: model.parameters(), learningRate: 1e-3, weightDecay: 1e-2)
            let (x, y) = (try images(64), try labels(64))
            var border = [Float](repeating: 0, count: 28 * 28)
            for row in 0..<28 {
                for column in 0..<28 where min(row, column, 27 - row, 27 - column) < 4 { border[row * 28 + column] = 1 }
            }
            let mask = try Tensor(shape: [1, 1, 28, 28], scalars: border)
            return {
                optimizer.zeroGrad()
                let input = try x.detach().requiringGrad()
                let logits = try model(input)
                let crossEntropy = try Losses.crossEntropy(logits, y)
                let logProbabilitySum = try logits.logSoftmax(axis: 1).sum()
                guard
                    let inputGradient = try Tensor.gradients(
                        of: [logProbabilitySum], withRespectTo: [input], createGraph: true)[0]
                else {
                    throw TensorError("rrr_step", "no input gradient")
                }
                let penalty = try (mask * inputGradient).square().sum(axes: [1, 2, 3]).mean()
                try (crossEntropy + penalty * 10).backward()
                try optimizer.step()
                return 64
            }
        case .camPlusPlusPenaltyStep:
            // One training step of the benchmark CNN with the Grad-CAM++ penalty (grad_cam_pp_penalty, λ 10):
            // the share of the map of relu2 for the labels, resized to 28x28, on a 4-pixel border, the map
            // differentiated through the network (gradients of gradients); batch 64.
            let model = try CNN(generator: generator)
            let optimizer = try AdamW(parameters: model.parameters(), learningRate: 1e-3, weightDecay: 1e-2)
            let (x, y) = (try images(64), try labels(64))
            var border = [Float](repeating: 0, count: 64 * 28 * 28)
            for index in border.indices {
                let (row, column) = ((index / 28) % 28, index % 28)
                if min(row, column, 27 - row, 27 - column) < 4 { border[index] = 1 }
            }
            let batch = [
                "images": x, "labels": y, "artifact_masks": try Tensor(shape: [64, 1, 28, 28], scalars: border),
            ]
            let penalty = try Registry.standard().build(
                .regularizer, "grad_cam_pp_penalty", options: ["layer": .string("relu2"), "weight": .number(10)])
            let regularized = RegularizedModel(module: model, inputKey: "images")
            return {
                optimizer.zeroGrad()
                let (logits, activations) = try regularized.forward(batch, capturing: ["relu2"], owner: "bench")
                let context = RegularizerContext(
                    logits: logits, targets: y, model: regularized, batch: batch, activations: activations,
                    inputKey: "images")
                try (Losses.crossEntropy(logits, y) + penalty.penalty(context)).backward()
                try optimizer.step()
                return 64
            }
        case .attentionWGANStep:
            // The paper's model as `train_gan{}` trains it: models.cgan_generator{} and models.cgan_critic{} at
            // their defaults (self-attention at 14×14 in both, projection critic), Adam (1e-4, β (0, 0.9)) for
            // each, the weight average, batch 64, 5 critic updates with the gradient penalty per generator update.
            let generatorModel = try GANGenerator(generator: generator)
            let critic = try GANCritic(generator: generator)
            let trainer = try GANTrainer(
                generator: generatorModel, critic: critic,
                generatorOptimizer: Adam(parameters: generatorModel.parameters(), learningRate: 1e-4, betas: (0, 0.9)),
                criticOptimizer: Adam(parameters: critic.parameters(), learningRate: 1e-4, betas: (0, 0.9)),
                options: GANTrainer.Options())
            let (real, y) = (try images(64).affine(scale: 2, shift: -1), try labels(64))
            return {
                _ = try trainer.trainStep(classes: Array(0..<10)) { GANTrainer.Batch(images: real, labels: y) }
                return 1
            }
        case .wganGradientPenaltyStep:
            let generatorModel = try ConditionalGenerator(generator: generator)
            let critic = try ConditionalCritic(generator: generator)
            let generatorOptimizer = try Adam(
                parameters: generatorModel.parameters(), learningRate: 1e-4, betas: (0, 0.9))
            let criticOptimizer = try Adam(parameters: critic.parameters(), learningRate: 1e-4, betas: (0, 0.9))
            let real = try images(64).affine(scale: 2, shift: -1)
            let y = try labels(64)
            return {
                for _ in 0..<5 {
                    criticOptimizer.zeroGrad()
                    let noise = try Tensor.normal([64, 64], generator: generator)
                    let fake = try noGrad { try generatorModel.generate(noise: noise, labels: y) }
                    let loss =
                        try critic.critique(images: fake, labels: y).mean()
                        - critic.critique(images: real, labels: y).mean()
                        + critic.gradientPenalty(real: real, fake: fake, labels: y, generator: generator)
                    try loss.backward()
                    try criticOptimizer.step()
                }
                for parameter in critic.parameters() { try parameter.requiringGrad(false) }
                defer { for parameter in critic.parameters() { _ = try? parameter.requiringGrad(true) } }
                generatorOptimizer.zeroGrad()
                let noise = try Tensor.normal([64, 64], generator: generator)
                let generated = try generatorModel.generate(noise: noise, labels: y)
                try critic.critique(images: generated, labels: y).mean().negated().backward()
                try generatorOptimizer.step()
                return 1
            }
        }
    }

    /// `count` heatmaps of `side`×`side`, each a Gaussian blob at one of ten positions (by index mod 10),
    /// jittered, plus noise, normalised to sum 1; from a hash of the index, so `bench_torch.py` builds the
    /// same maps.
    static func syntheticHeatmaps(count: Int, side: Int) -> [Double] {
        func hash(_ index: Double, _ salt: Double) -> Double {
            let value = sin(index * 12.9898 + salt * 78.233) * 43758.5453
            return value - value.rounded(.down)
        }
        var maps = [Double](repeating: 0, count: count * side * side)
        for map in 0..<count {
            let cluster = Double(map % 10)
            let golden = cluster * 0.618034
            let silver = cluster * 0.381966 + 0.25
            let centreX = 4 + 20 * (golden - golden.rounded(.down)) + 2 * (hash(Double(map), 1) - 0.5)
            let centreY = 4 + 20 * (silver - silver.rounded(.down)) + 2 * (hash(Double(map), 2) - 0.5)
            var total = 0.0
            for y in 0..<side {
                for x in 0..<side {
                    let squared =
                        (Double(x) - centreX) * (Double(x) - centreX) + (Double(y) - centreY) * (Double(y) - centreY)
                    let value = exp(-squared / 8) + 0.1 * hash(Double(map * side * side + y * side + x), 3)
                    maps[(map * side + y) * side + x] = value
                    total += value
                }
            }
            for index in (map * side * side)..<((map + 1) * side * side) { maps[index] /= total }
        }
        return maps
    }
}
