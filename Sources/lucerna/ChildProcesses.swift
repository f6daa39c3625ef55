import ArgumentParser
import Foundation
import LucernaTrain

/// The child processes running at the moment, so a terminating signal to this process reaches them too (a
/// resumed run would otherwise start a second process on the same folder).
nonisolated(unsafe) private var childProcessIdentifiers: [pid_t] = []

/// Runs child `lucerna` processes, `jobs` at a time, each writing its output to its own log file; prints when
/// each starts and ends, the latest line of each running one every `heartbeat` seconds, and an estimate of the
/// time left. The seeds of `lucerna run --jobs` and the points of `lucerna sweep` run through it.
struct ChildProcesses {
    /// One process: a label for the messages (`seed 3`, `point-004`), its arguments, its log file.
    struct Task {
        let label: String
        let arguments: [String]
        let log: String
    }

    let jobs: Int
    var heartbeat: TimeInterval = 300

    /// This executable (the child processes run the same build).
    static var executable: URL {
        let link = URL(fileURLWithPath: "/proc/self/exe")
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: link.path) {
            return URL(fileURLWithPath: resolved)
        }
        return Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    }

    /// Runs `tasks` and returns the labels of those that failed, after all have ended; `finished` is called
    /// with the label of each task that succeeded, as it ends.
    func run(_ tasks: [Task], finished: (String) -> Void = { _ in }) throws -> [String] {
        Self.forwardTerminationSignals()
        var queue = tasks[...]
        var running: [(task: Task, process: Process, started: Date)] = []
        var durations: [TimeInterval] = []
        var failed: [String] = []
        var lastHeartbeat = Date()
        while !queue.isEmpty || !running.isEmpty {
            while running.count < jobs, let task = queue.popFirst() {
                do {
                    running.append((task, try start(task), Date()))
                } catch {
                    for entry in running { entry.process.terminate() }  // nothing is left running without its parent
                    throw error
                }
            }
            usleep(200_000)
            for (index, entry) in running.enumerated().reversed() where !entry.process.isRunning {
                running.remove(at: index)
                let seconds = Date().timeIntervalSince(entry.started)
                childProcessIdentifiers.removeAll { $0 == entry.process.processIdentifier }
                let succeeded = entry.process.terminationReason == .exit && entry.process.terminationStatus == 0
                if succeeded {
                    durations.append(seconds)
                    finished(entry.task.label)
                } else {
                    failed.append(entry.task.label)
                }
                var line =
                    "\(entry.task.label): \(succeeded ? "finished" : "failed (exit \(entry.process.terminationStatus); see \(entry.task.log))") after \(LucernaTrain.Progress.format(seconds: seconds))"
                line += "; \(running.count) running, \(queue.count) queued, \(failed.count) failed"
                if let left = timeLeft(queued: queue.count, running: running.map(\.started), durations: durations) {
                    line += "; about \(LucernaTrain.Progress.format(seconds: left)) left"
                }
                emit(line)
            }
            if Date().timeIntervalSince(lastHeartbeat) >= heartbeat {
                lastHeartbeat = Date()
                for entry in running {
                    emit(
                        "\(entry.task.label) (\(LucernaTrain.Progress.format(seconds: Date().timeIntervalSince(entry.started)))): \(Self.latestLine(entry.task.log))"
                    )
                }
            }
        }
        return failed
    }

    /// Starts one process with its output appended to its log.
    func start(_ task: Task) throws -> Process {
        do {
            let folder = URL(fileURLWithPath: task.log).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: task.log) {
                _ = FileManager.default.createFile(atPath: task.log, contents: nil)
            }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: task.log))
            try log.seekToEnd()
            let process = Process()
            process.executableURL = Self.executable
            process.arguments = task.arguments
            process.standardOutput = log
            process.standardError = log
            try process.run()
            try? log.close()
            childProcessIdentifiers.append(process.processIdentifier)
            emit("\(task.label): started (process \(process.processIdentifier); output in \(task.log))")
            return process
        } catch {
            report(
                "error: cannot start \(task.label) (\(Self.executable.path), log \(task.log)): \(error.localizedDescription)"
            )
            throw ExitCode(1)
        }
    }

    /// The last non-empty line (or progress-bar state) of a log.
    static func latestLine(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "(no output yet)" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 2048 ? size - 2048 : 0)
        let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return lines.last(where: { !$0.isEmpty }) ?? "(no output yet)"
    }

    /// The estimated time until every task has finished, from the mean duration of the finished ones.
    func timeLeft(queued: Int, running: [Date], durations: [TimeInterval]) -> TimeInterval? {
        guard !durations.isEmpty else { return nil }
        let mean = durations.reduce(0, +) / Double(durations.count)
        let work = Double(queued) * mean + running.map { max(mean - Date().timeIntervalSince($0), 0) }.reduce(0, +)
        return work / Double(max(min(jobs, queued + running.count), 1))
    }

    /// On SIGINT or SIGTERM, terminates the child processes before exiting.
    static func forwardTerminationSignals() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                for identifier in childProcessIdentifiers { kill(identifier, SIGTERM) }
                _exit(128 + received)
            }
        }
    }
}

/// Runs seeds of a saved multi-seed run as child `lucerna run --resume FOLDER --only-seed N` processes, each
/// writing its output to `seed-N/output.log`.
struct SeedProcesses {
    let folder: String
    let threads: Int
    let data: String?
    let jobs: Int
    /// Pass `--restart` to each seed (their training starts over).
    var restart = false

    /// Runs `seeds`; throws `ExitCode(1)` after all have ended if any failed.
    func run(_ seeds: [Int]) throws {
        emit(
            "running seeds \(seeds.map(String.init).joined(separator: ", ")): \(min(jobs, seeds.count)) at a time, \(threads) thread\(threads == 1 ? "" : "s") each"
        )
        let tasks = seeds.map { seed in
            ChildProcesses.Task(
                label: "seed \(seed)",
                arguments: ["run", "--resume", folder, "--only-seed", String(seed), "--threads", String(threads)]
                    + (restart ? ["--restart"] : []) + (data.map { ["--data", $0] } ?? []),
                log: "\(folder)/seed-\(seed)/output.log")
        }
        let failed = try ChildProcesses(jobs: jobs).run(tasks)
        if !failed.isEmpty {
            report(
                "error: \(failed.joined(separator: ", ")) failed; their output is in seed-N/output.log; `lucerna run --resume \(folder)` runs the unfinished seeds again"
            )
            throw ExitCode(1)
        }
    }
}
