/// Contiguous, 64-byte aligned memory holding a tensor's elements. Reshaped tensors share it.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the elements.
    public let pointer: UnsafeMutableRawPointer
    /// Size of the buffer in bytes.
    public let byteCount: Int

    /// Allocates `byteCount` bytes, zero-filled when `zeroed` is true.
    init(byteCount: Int, zeroed: Bool) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
    }

    deinit { pointer.deallocate() }
}
