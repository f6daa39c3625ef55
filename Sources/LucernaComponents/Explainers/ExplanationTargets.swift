import LucernaCore
import LucernaNN

/// What the explainers share: the classes explained (given, or the predicted ones), the target scores
/// and their gradient with respect to the inputs, with the model in evaluation mode.
enum ExplanationTargets {
    /// The class of each sample: `targets` checked against the logits, or the argmax when nil.
    static func classes(_ targets: Tensor?, logits: Tensor, owner: String) throws -> [Int] {
        guard logits.rank == 2 else { throw TensorError(owner, "the model must return logits [N, classes], got \(describe(shape: logits.shape))") }
        let (count, classCount) = (logits.shape[0], logits.shape[1])
        guard let targets else { return try logits.argmax(axis: 1).toIntegers() }
        guard targets.count == count else { throw TensorError(owner, "\(targets.count) targets for \(count) inputs") }
        let values = targets.toIntegers()
        if let bad = values.first(where: { $0 < 0 || $0 >= classCount }) {
            throw TensorError(owner, "target class \(bad) is out of range for \(classCount) classes")
        }
        return values
    }

    /// Σₙ logits[n, classₙ] as a scalar tensor.
    static func score(_ logits: Tensor, classes: [Int]) throws -> Tensor {
        try logits.gathering(axis: 1, indices: Tensor(shape: [classes.count, 1], integers: classes)).sum()
    }

    /// Runs `body` with the model in evaluation mode, restoring its mode afterwards.
    static func evaluating<T>(_ model: Module, _ body: () throws -> T) rethrows -> T {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        return try body()
    }

    /// d Σₙ logits[n, classₙ] / d inputs, and the classes (resolved on the unperturbed `reference` inputs
    /// when given, else on `inputs`).
    static func inputGradient(model: Module, inputs: Tensor, classes: [Int]?, targets: Tensor?, owner: String) throws -> (gradient: Tensor, classes: [Int]) {
        let input = try inputs.detach().requiringGrad()
        let logits = try model(input)
        let resolved = try classes ?? self.classes(targets, logits: logits, owner: owner)
        guard let gradient = try Tensor.gradients(of: [score(logits, classes: resolved)], withRespectTo: [input]).first ?? nil else {
            throw TensorError(owner, "the target scores do not depend on the inputs")
        }
        return (gradient, resolved)
    }

    /// The predicted or given classes of `inputs` (one forward pass, without recording).
    static func resolve(model: Module, inputs: Tensor, targets: Tensor?, owner: String) throws -> [Int] {
        try classes(targets, logits: noGrad { try model(inputs) }, owner: owner)
    }
}
