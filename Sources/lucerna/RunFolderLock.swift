import Foundation
import LucernaCore

/// An exclusive lock on a run folder while a `lucerna run` works in it (`flock` on `<folder>/.lock`, which
/// holds the process id): a second run on the same folder — `--resume` while the first still runs, or a
/// seed started twice — stops with an error instead of interleaving its writes with the first one's. The
/// lock ends with the process, however it ends.
final class RunFolderLock {
    private let descriptor: Int32

    init(folder: String) throws {
        let path = "\(folder)/.lock"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw TensorError("run", "cannot create the run folder \(folder): \(error.localizedDescription)")
        }
        let opened = open(path, O_RDWR | O_CREAT, 0o644)
        guard opened >= 0 else { throw TensorError("run", "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(opened, LOCK_EX | LOCK_NB) == 0 else {
            let holder =
                (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                ?? ""
            close(opened)
            throw TensorError(
                "run",
                "\(folder) is in use by another lucerna run\(holder.isEmpty ? "" : " (process \(holder))"); wait for it to end or stop it first"
            )
        }
        _ = ftruncate(opened, 0)
        let line = Array("\(getpid())\n".utf8)
        _ = line.withUnsafeBytes { write(opened, $0.baseAddress, $0.count) }
        descriptor = opened
    }

    deinit { close(descriptor) }
}
