import LucernaCore

/// A clustering of samples, as scikit-learn's `fit_predict`: the rows of `points` `[N, features]` get a
/// label each, `-1` for a sample left as noise.
public protocol Clustering: AnyObject {
    func fit(_ points: Tensor) throws -> Tensor
}

extension Clustering {
    /// The points as row-major doubles with their count and width, checked: a 2-D tensor of finite values.
    static func rows(_ points: Tensor, _ owner: String) throws -> (values: [Double], samples: Int, features: Int) {
        guard points.rank == 2, points.shape[0] >= 1, points.shape[1] >= 1 else {
            throw TensorError(owner, "needs points [samples, features], got \(describe(shape: points.shape))")
        }
        let values = points.toDoubles()
        guard values.allSatisfy(\.isFinite) else { throw TensorError(owner, "the points have NaN or infinite values") }
        return (values, points.shape[0], points.shape[1])
    }

    /// Labels as an int64 tensor `[N]`.
    static func labels(_ labels: [Int]) throws -> Tensor { try Tensor(shape: [labels.count], integers: labels) }
}

extension ComponentKind {
    /// Clusterings: labels for the rows of a `[N, features]` tensor (SpRAy clusters explanations with them).
    public static let clustering = ComponentKind(
        name: "clustering", namespace: "clusterings", protocolName: "Clustering", accepts: { $0 is Clustering },
        conformance: { instance, probe in
            let clustering = try probe.instance(instance, as: (any Clustering).self, "a clustering")
            // Three tight groups of ten points far apart in the plane.
            var values: [Double] = []
            for point in 0..<30 {
                let group = Double(point % 3)
                values += [
                    10 * group + 0.1 * probe.generator.nextNormal(), -10 * group + 0.1 * probe.generator.nextNormal(),
                ]
            }
            let labels = try clustering.fit(try Tensor(shape: [30, 2], doubles: values))
            guard labels.shape == [30] else {
                throw probe.fail("labels of shape \(describe(shape: labels.shape)) for 30 points")
            }
            let found = labels.toIntegers()
            guard found.allSatisfy({ $0 >= -1 }) else { throw probe.fail("a label below -1") }
            probe.passed("30 points in three groups: \(Set(found.filter { $0 >= 0 }).count) clusters")
        })
}

extension ComponentKindKey where Self == TypedComponentKind<any Clustering> {
    public static var clustering: Self { TypedComponentKind(.clustering) }
}
