import Foundation
import LucernaRun

/// Where the points of a sweep run. A backend runs `lucerna run --manifest M --index I` for each point given
/// and returns when none of them is running; `lucerna sweep` then reads which finished from their `DONE`
/// markers and hands the rest to the backend again (up to `--retries` times). Another engine (Ray, Dask, a
/// cloud batch service) is one more type conforming to this protocol and one more `--backend` name.
protocol SweepBackend {
    /// Runs `points`; `finishedBefore` of the sweep's `total` points had finished before this round.
    func run(_ points: [Sweep.Point], finishedBefore: Int, of total: Int) throws
}

/// What every backend's worker runs: `lucerna run --manifest MANIFEST --index I --threads T [--data D]`.
struct PointCommand {
    /// The sweep folder and its manifest.
    let folder: String
    let manifest: String
    let threads: Int
    let data: String?

    /// The arguments of the worker for point `index` (a number, or a shell variable for a job script).
    func arguments(index: String) -> [String] {
        ["run", "--manifest", manifest, "--index", index, "--threads", String(threads)]
            + (data.map { ["--data", $0] } ?? [])
    }
}

/// The local backend: a pool of `jobs` child processes on this machine, each point's output in
/// `SWEEP_DIR/logs/point-NNN.log`.
struct LocalPool: SweepBackend {
    let command: PointCommand
    let jobs: Int

    func run(_ points: [Sweep.Point], finishedBefore: Int, of total: Int) throws {
        let tasks = points.map { point in
            ChildProcesses.Task(
                label: "\(point.folder) [\(point.name)]",
                arguments: command.arguments(index: String(point.index)),
                log: "\(command.folder)/logs/\(point.folder).log")
        }
        var done = finishedBefore
        _ = try ChildProcesses(jobs: jobs).run(tasks) { _ in
            done += 1
            emit("sweep: \(done) of \(total) points finished")
        }
    }
}
