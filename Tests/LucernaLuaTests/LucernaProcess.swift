import Foundation
import LucernaTestSupport
import XCTest

/// Runs the `lucerna` executable from a test (the command-line and example tests share it).
extension XCTestCase {
    struct LucernaResult {
        let status: Int32
        let output: String
        let errors: String
    }

    var binary: URL {
        (Bundle.main.executableURL?.deletingLastPathComponent()
            ?? Fixture.repositoryRoot.appendingPathComponent(".build/release"))
            .appendingPathComponent("lucerna")
    }

    /// Runs the executable; `environment` adds variables to this process's (a nil value removes one).
    func lucerna(_ arguments: [String], environment: [String: String?] = [:]) throws -> LucernaResult {
        try execute(binary, arguments, environment: environment)
    }

    /// Runs `executable` in the repository root with `arguments`, collecting its output.
    func execute(_ executable: URL, _ arguments: [String], environment: [String: String?] = [:]) throws
        -> LucernaResult
    {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = Fixture.repositoryRoot
        if !environment.isEmpty {
            var variables = ProcessInfo.processInfo.environment
            for (name, value) in environment { variables[name] = value }
            process.environment = variables
        }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(
            process.terminationReason, .exit, "\(executable.lastPathComponent) \(arguments) was killed by a signal")
        return LucernaResult(
            status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
            errors: String(decoding: errorData, as: UTF8.self))
    }
}
