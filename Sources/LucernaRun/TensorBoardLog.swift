import Foundation
import LucernaComponents
import LucernaData

/// A run folder's TensorBoard events, `tb/events.out.tfevents.<seconds>.<host>`: a scalar summary for every
/// number of every `metrics.jsonl` record and an image summary for every PNG grid, so that
/// `tensorboard --logdir runs/` shows the curves of every run (and every seed) side by side.
///
/// Tags and steps: a record's numbers are tagged `<group>/<field>`, the group being its `trainer`
/// (`auditor/val_accuracy`, `gan/critic_loss`) or else its `phase` (`evaluation/test_accuracy`); its step is
/// its `step`, `epoch` or `round` field, in that order, or else its position in `metrics.jsonl` (from 0).
/// The step field itself and `time` (the wall time, which every event carries) are not tagged.
///
/// Reference: TensorBoard's event file format (tensorboard/summary/writer/event_file_writer.py).
final class TensorBoardLog {
    let path: String
    private let handle: FileHandle

    /// Creates `folder/tb/` and the event file with its version event.
    init(folder: String, wallTime: Double = Date().timeIntervalSince1970) throws {
        let directory = "\(folder)/tb"
        let host = ProcessInfo.processInfo.hostName.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
        path = "\(directory)/events.out.tfevents.\(Int(wallTime)).\(host.isEmpty ? "lucerna" : host)"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunError("run", "cannot create \(directory): \(error.localizedDescription)")
        }
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw RunError("run", "cannot create the TensorBoard event file \(path)") }
        self.handle = handle
        try write(TensorBoardEvents.versionEvent(wallTime: wallTime))
    }

    deinit { try? handle.close() }

    /// The step keys of a record, in order of preference.
    static let stepKeys = ["step", "epoch", "round"]

    /// Writes one `metrics.jsonl` record's numbers as one event; `index` is the record's position in the file.
    func log(_ record: [String: ConfigValue], index: Int, wallTime: Double) throws {
        let group: String? = {
            for key in ["trainer", "phase"] { if case .string(let name)? = record[key] { return name } }
            return nil
        }()
        var stepKey: String?
        var step = Int64(index)
        for key in Self.stepKeys {
            if let value = record[key]?.numberValue, value.isFinite, value.rounded() == value, abs(value) < 1e15 {
                stepKey = key
                step = Int64(value)
                break
            }
        }
        let scalars = record.keys.sorted().compactMap { key -> (tag: String, value: Float)? in
            guard key != "time", key != stepKey, let value = record[key]?.numberValue else { return nil }
            return (tag: group.map { "\($0)/\(key)" } ?? key, value: Float(value))
        }
        guard !scalars.isEmpty else { return }
        try write(TensorBoardEvents.scalarEvent(wallTime: wallTime, step: step, scalars: scalars))
    }

    /// Writes a PNG (`images/<name>.png`) as an image summary.
    func image(tag: String, step: Int, png: Data, wallTime: Double) throws {
        guard let header = PNG.header(png) else { return }
        try write(
            TensorBoardEvents.imageEvent(
                wallTime: wallTime, step: Int64(step), tag: tag, png: Array(png), height: header.height,
                width: header.width, colorspace: header.channels))
    }

    private func write(_ event: [UInt8]) throws {
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: TensorBoardEvents.record(event))
        } catch {
            throw RunError("run", "cannot write the TensorBoard event file \(path): \(error.localizedDescription)")
        }
    }
}
