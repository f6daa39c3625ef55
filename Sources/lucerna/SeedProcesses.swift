import ArgumentParser
import Foundation
import LucernaTrain

/// The processes of a run's seeds while `--jobs` runs them at once, so a terminating signal to the run
/// reaches them too (a resumed run would otherwise start a second process on the same seed folder).
nonisolated(unsafe) private var seedProcessIdentifiers: [pid_t] = []

/// Runs seeds of a saved multi-seed run as child `lucerna run --resume FOLDER --only-seed N` processes,
/// `jobs` at a time, each writing its output to `seed-N/output.log`; prints when each starts and ends, the
/// latest line of each running seed every `heartbeat` seconds, and an estimate of the time left.
struct SeedProcesses {
    let folder: String
    let threads: Int
    let data: String?
    let jobs: Int
    /// Pass `--restart` to each seed (their training starts over).
    var restart = false
    var heartbeat: TimeInterval = 300

    /// This executable (the child processes run the same build).
    static var executable: URL {
        let link = URL(fileURLWithPath: "/proc/self/exe")
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: link.path) {
            return URL(fileURLWithPath: resolved)
        }
        return Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    }

    /// Runs `seeds`; throws `ExitCode(1)` after all have ended if any failed.
    func run(_ seeds: [Int]) throws {
        Self.forwardTerminationSignals()
        var queue = seeds[...]
        var running: [(seed: Int, process: Process, started: Date)] = []
        var durations: [TimeInterval] = []
        var failed: [Int] = []
        var lastHeartbeat = Date()
        emit(
            "running seeds \(seeds.map(String.init).joined(separator: ", ")): \(min(jobs, seeds.count)) at a time, \(threads) thread\(threads == 1 ? "" : "s") each"
        )
        while !queue.isEmpty || !running.isEmpty {
            while running.count < jobs, let seed = queue.popFirst() {
                do {
                    running.append((seed, try start(seed), Date()))
                } catch {
                    for entry in running { entry.process.terminate() }  // no seed is left running without its run
                    throw error
                }
            }
            usleep(200_000)
            for (index, entry) in running.enumerated().reversed() where !entry.process.isRunning {
                running.remove(at: index)
                let seconds = Date().timeIntervalSince(entry.started)
                seedProcessIdentifiers.removeAll { $0 == entry.process.processIdentifier }
                let succeeded = entry.process.terminationReason == .exit && entry.process.terminationStatus == 0
                if succeeded { durations.append(seconds) } else { failed.append(entry.seed) }
                var line =
                    "seed \(entry.seed): \(succeeded ? "finished" : "failed (exit \(entry.process.terminationStatus); see \(logPath(entry.seed)))") after \(LucernaTrain.Progress.format(seconds: seconds))"
                if let left = timeLeft(queued: queue.count, running: running.map(\.started), durations: durations) {
                    line += "; about \(LucernaTrain.Progress.format(seconds: left)) left"
                }
                emit(line)
            }
            if Date().timeIntervalSince(lastHeartbeat) >= heartbeat {
                lastHeartbeat = Date()
                for entry in running {
                    emit(
                        "seed \(entry.seed) (\(LucernaTrain.Progress.format(seconds: Date().timeIntervalSince(entry.started)))): \(latestLine(entry.seed))"
                    )
                }
            }
        }
        if !failed.isEmpty {
            report(
                "error: seed\(failed.count == 1 ? "" : "s") \(failed.map(String.init).joined(separator: ", ")) failed; their output is in seed-N/output.log; `lucerna run --resume \(folder)` runs the unfinished seeds again"
            )
            throw ExitCode(1)
        }
    }

    func logPath(_ seed: Int) -> String { "\(folder)/seed-\(seed)/output.log" }

    /// Starts one seed's process with its output appended to `seed-N/output.log`.
    func start(_ seed: Int) throws -> Process {
        let path = logPath(seed)
        do {
            try FileManager.default.createDirectory(atPath: "\(folder)/seed-\(seed)", withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
            }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try log.seekToEnd()
            let process = Process()
            process.executableURL = Self.executable
            process.arguments =
                ["run", "--resume", folder, "--only-seed", String(seed), "--threads", String(threads)]
                + (restart ? ["--restart"] : [])
                + (data.map { ["--data", $0] } ?? [])
            process.standardOutput = log
            process.standardError = log
            try process.run()
            try? log.close()
            seedProcessIdentifiers.append(process.processIdentifier)
            emit("seed \(seed): started (process \(process.processIdentifier); output in \(path))")
            return process
        } catch {
            report(
                "error: cannot start seed \(seed) (\(Self.executable.path), log \(path)): \(error.localizedDescription)"
            )
            throw ExitCode(1)
        }
    }

    /// The last non-empty line (or progress-bar state) of a seed's output.
    func latestLine(_ seed: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: logPath(seed)) else { return "(no output yet)" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 2048 ? size - 2048 : 0)
        let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return lines.last(where: { !$0.isEmpty }) ?? "(no output yet)"
    }

    /// The estimated time until every seed has finished, from the mean duration of the finished seeds.
    func timeLeft(queued: Int, running: [Date], durations: [TimeInterval]) -> TimeInterval? {
        guard !durations.isEmpty else { return nil }
        let mean = durations.reduce(0, +) / Double(durations.count)
        let work = Double(queued) * mean + running.map { max(mean - Date().timeIntervalSince($0), 0) }.reduce(0, +)
        return work / Double(max(min(jobs, queued + running.count), 1))
    }

    /// On SIGINT or SIGTERM, terminates the seed processes before exiting.
    static func forwardTerminationSignals() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                for identifier in seedProcessIdentifiers { kill(identifier, SIGTERM) }
                _exit(128 + received)
            }
        }
    }
}
