import Dispatch
import Glibc

/// The elements of a large JSON array written on every core, in order.
///
/// A snapshot of 100,000 SAs spends most of its time formatting JSON. The elements are written in
/// blocks, one writer per block; a wave of blocks (one per core) is written concurrently, then
/// appended to the output in order, so the document is byte for byte what one writer would write
/// and memory stays bounded by one wave. `body` must only read shared state (the model is a value,
/// and nothing changes it while a snapshot is written).
enum ParallelJSON {
    static let cores = max(1, min(8, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

    /// Appends the elements of positions `0..<count` to `w` (between `beginArray` and `endArray`):
    /// `body(&writer, range)` writes the elements of `range` as top-level values of `writer`
    /// (positions that hold no element write nothing).
    static func elements(into w: inout JSONWriter, count: Int, block: Int = 2048,
                         _ body: @escaping @Sendable (inout JSONWriter, Range<Int>) -> Void) {
        guard count > 0 else { return }
        let blocks = (count + block - 1) / block
        let lanes = min(cores, blocks)
        if lanes == 1 {
            var one = JSONWriter(reserve: 1 << 16)
            body(&one, 0..<count)
            w.appendElements(of: one)
            return
        }
        let writers = UnsafeMutableBufferPointer<JSONWriter>.allocate(capacity: lanes)
        _ = writers.initialize(from: (0..<lanes).map { _ in JSONWriter(reserve: 1 << 20) })
        defer { writers.deinitialize(); writers.deallocate() }
        nonisolated(unsafe) let lane = writers
        var first = 0
        while first < blocks {
            let n = min(lanes, blocks - first)
            let base = first
            DispatchQueue.concurrentPerform(iterations: n) { i in
                let b = base + i
                lane[i].reset()
                body(&lane[i], b * block..<min(count, (b + 1) * block))
            }
            for i in 0..<n { w.appendElements(of: writers[i]) }
            first += n
        }
    }
}
