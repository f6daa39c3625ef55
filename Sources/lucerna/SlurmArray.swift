import ArgumentParser
import Foundation
import LucernaRun
import LucernaTrain

/// The Slurm backend of `lucerna sweep`: the points to run as one job array (`sbatch --array=I,J,...%K`), each
/// task `lucerna run --manifest M --index $SLURM_ARRAY_TASK_ID`; the script is kept in the sweep folder
/// (`slurm/round-N.sbatch`) for a user to read or resubmit, the job followed with `squeue` until no task is
/// left. Which points finished is read from their `DONE` markers, not from the scheduler, so it needs no
/// accounting (`sacct`) and survives the scheduler forgetting finished jobs.
///
/// Reference: Slurm's sbatch(1) `--array`, `--parsable`, and squeue(1).
struct SlurmArray: SweepBackend {
    let command: PointCommand
    var folder: String { command.folder }
    /// At most this many tasks at once (`%K`).
    let throttle: Int
    /// `KEY=VALUE` pairs, each written as `#SBATCH --KEY=VALUE` (e.g. `partition=gpu`, `time=04:00:00`).
    let options: [String]
    var poll: TimeInterval = 3

    /// The array script for `indices`.
    func script(indices: [Int]) throws -> String {
        var lines = [
            "#!/bin/bash",
            "# lucerna sweep --backend slurm: one task per point of \(command.manifest)",
            "#SBATCH --job-name=lucerna-sweep",
            "#SBATCH --array=\(indices.map(String.init).joined(separator: ","))%\(throttle)",
            "#SBATCH --cpus-per-task=\(command.threads)",
            "#SBATCH --output=\(folder)/logs/slurm-%A_%a.log",
        ]
        for option in options {
            guard let equals = option.firstIndex(of: "="), equals != option.startIndex,
                option.allSatisfy({ !$0.isNewline })
            else {
                throw ValidationError("--slurm-option takes KEY=VALUE (e.g. partition=long), got '\(option)'")
            }
            lines.append("#SBATCH --\(option[..<equals])=\(option[option.index(after: equals)...])")
        }
        if command.data == nil, let data = ProcessInfo.processInfo.environment["LUCERNA_DATA"] {
            lines.append("export LUCERNA_DATA=\(Self.quote(data))")
        }
        let words = [ChildProcesses.executable.path] + command.arguments(index: "$SLURM_ARRAY_TASK_ID")
        lines.append(
            "exec " + words.map { $0 == "$SLURM_ARRAY_TASK_ID" ? "\"\($0)\"" : Self.quote($0) }.joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// Runs `points` as one array job (or follows the job an earlier, interrupted invocation submitted and that
    /// still has tasks), returning when no task of it is left.
    func run(_ points: [Sweep.Point], finishedBefore: Int, of total: Int) throws {
        let record = "\(folder)/slurm/job"
        if let earlier = try? String(contentsOfFile: record, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines),
            !earlier.isEmpty, !(try remainingTasks(earlier)).isEmpty
        {
            emit("slurm: following job \(earlier), submitted earlier and still running")
            try follow(earlier, points: points, finishedBefore: finishedBefore, of: total)
            return
        }
        var round = 1
        while FileManager.default.fileExists(atPath: "\(folder)/slurm/round-\(round).sbatch") { round += 1 }
        let path = "\(folder)/slurm/round-\(round).sbatch"
        do {
            try FileManager.default.createDirectory(atPath: "\(folder)/slurm", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(folder)/logs", withIntermediateDirectories: true)
            try script(indices: points.map(\.index)).write(toFile: path, atomically: true, encoding: .utf8)
        } catch let error as ValidationError {
            throw error
        } catch {
            report("error: cannot write \(path): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        let submitted = try Self.command("sbatch", ["--parsable", path])
        guard submitted.status == 0,
            let job = submitted.output.split(separator: "\n").first?.split(separator: ";").first.map(String.init),
            !job.isEmpty
        else {
            report("error: sbatch \(path) failed (exit \(submitted.status)): \(submitted.errors)")
            throw ExitCode(1)
        }
        try? "\(job)\n".write(toFile: record, atomically: true, encoding: .utf8)
        emit("slurm: submitted job \(job), \(points.count) task\(points.count == 1 ? "" : "s") (\(path))")
        try follow(job, points: points, finishedBefore: finishedBefore, of: total)
    }

    /// Waits until `job` has no task left in `squeue`, printing as they change the count of pending and running
    /// tasks, the points finished (their `DONE` markers) and an estimate of the time left from the rate so far.
    func follow(_ job: String, points: [Sweep.Point], finishedBefore: Int, of total: Int) throws {
        var last = ""
        let started = Date()
        while true {
            let states = try remainingTasks(job)
            if states.isEmpty { break }
            let finished = points.filter { Sweep.state(of: "\(folder)/\($0.folder)") == .finished }.count
            let counts = Dictionary(grouping: states, by: { $0 }).map { "\($0.value.count) \($0.key.lowercased())" }
                .sorted().joined(separator: ", ")
            let state = "\(counts); \(finishedBefore + finished) of \(total) points finished"
            if state != last {
                var line = "slurm: job \(job): \(state)"
                if finished > 0 {
                    let left = Date().timeIntervalSince(started) / Double(finished) * Double(points.count - finished)
                    line += ", about \(LucernaTrain.Progress.format(seconds: left)) left"
                }
                emit(line)
                last = state
            }
            usleep(UInt32(poll * 1_000_000))
        }
        emit("slurm: job \(job) has no task left")
    }

    /// The states of the job's tasks still known to `squeue` (an unknown job has none).
    func remainingTasks(_ job: String) throws -> [String] {
        let result = try Self.command("squeue", ["-h", "-j", job, "-o", "%T"])
        if result.status != 0 {
            // squeue answers "Invalid job id specified" for a job it no longer knows: nothing left.
            if result.errors.localizedCaseInsensitiveContains("invalid job id") { return [] }
            report("error: squeue -j \(job) failed (exit \(result.status)): \(result.errors)")
            throw ExitCode(1)
        }
        return result.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
    }

    /// Runs a Slurm client command found on the PATH.
    static func command(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String, errors: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [name] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            report("error: cannot run \(name) (is Slurm's client installed?): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 127 {
            report("error: \(name) not found on the PATH (is Slurm's client installed?)")
            throw ExitCode(1)
        }
        return (
            process.terminationStatus, String(decoding: outputData, as: UTF8.self),
            String(decoding: errorData, as: UTF8.self)
        )
    }

    /// A word for the shell: as it is when it holds only safe characters, else single-quoted.
    static func quote(_ text: String) -> String {
        let safe = CharacterSet(
            charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,@%+-")
        if !text.isEmpty, text.unicodeScalars.allSatisfy(safe.contains) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
