import Foundation
import LucernaCore
import XCTest

/// Golden tensors written by `scripts/golden/make_golden.py` (PyTorch).
public struct Fixture {
    public let tensors: [String: Tensor]

    public init(_ name: String, file: String = #filePath) throws {
        let folder = Fixture.folder
        let contents = try Safetensors.read(folder.appendingPathComponent(name).path)
        tensors = Dictionary(uniqueKeysWithValues: contents.tensors.map { ($0.name, $0.tensor) })
    }

    public subscript(_ name: String) -> Tensor {
        get throws {
            guard let tensor = tensors[name] else { throw TensorError("fixture", "no tensor \(name)") }
            return tensor
        }
    }

    public func has(_ name: String) -> Bool { tensors[name] != nil }

    /// The tensors named `prefix` + entry, by entry: a state dict saved under `model.`.
    public func state(prefix: String = "model.") -> [String: Tensor] {
        Dictionary(
            uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix(prefix) }.map {
                (String($0.key.dropFirst(prefix.count)), $0.value)
            })
    }

    /// `Tests/Fixtures`.
    public static var folder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "Fixtures")
    }

    /// The repository root (for examples and plugins).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }
}

/// Asserts two tensors have the same shape and values within `tolerance` (absolute + relative).
public func assertClose(
    _ actual: Tensor?, _ expected: Tensor, tolerance: Double = 1e-9, _ message: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard let actual else { return XCTFail("\(message): missing", file: file, line: line) }
    XCTAssertEqual(actual.shape, expected.shape, "\(message): shape", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let (a, e) = (actual.toDoubles(), expected.toDoubles())
    var worst = 0.0
    var worstIndex = 0
    for index in a.indices {
        let error = abs(a[index] - e[index]) / (1 + abs(e[index]))
        if !(error <= worst) {
            worst = error
            worstIndex = index
        }
    }
    XCTAssert(
        worst <= tolerance, "\(message): element \(worstIndex) is \(a[worstIndex]), expected \(e[worstIndex])",
        file: file, line: line)
}
