/// Per-SA traffic samples in one flat ring, aligned on the global dump sequence.
///
/// Each SA with traffic owns a slot of `columns` cells; column `d % columns` holds the bytes and
/// packets the SA carried between dump `d - 1` and dump `d`, as 16-bit mini-floats (4 bytes a
/// column: 172 bytes per busy SA at a 1 s refresh). Dump times are stored once, globally.
/// No per-SA allocation: slots are reused through a free list.
struct RateStore: Sendable {
    let columns: Int
    /// Time of each dump, by column.
    private(set) var times: [Double]
    /// Index of the latest dump (-1 before the first).
    private(set) var dumpIndex: Int = -1
    private var bytes: [UInt16] = []
    private var packets: [UInt16] = []
    private var free: [Int32] = []
    /// By slot: the rates of the last dump (`computeRates`: 2 s bytes/s, packets/s, 10 s ..., 40 s ...).
    private var computed: [Float] = []
    /// By slot: bytes and packets of the last dump interval, exact (up to 2^32 - 1).
    private var lastDelta: [UInt32] = []
    private var slotCount: Int32 = 0
    /// For each window (2, 10, 40 s): how many columns back it reaches and its span in seconds.
    private(set) var windowColumns: [Int] = [0, 0, 0]
    private(set) var windowSpans: [Double] = [0, 0, 0]

    init(refreshInterval: Double) {
        let interval = max(0.05, refreshInterval)
        columns = max(8, min(512, Int((40 / interval).rounded(.up)) + 3))
        times = Array(repeating: 0, count: columns)
    }

    var column: Int { dumpIndex < 0 ? 0 : dumpIndex % columns }
    var slotsInUse: Int { Int(slotCount) - free.count }

    /// Starts a new dump at `now` and chooses, for each window, the past dump closest to `now - window`.
    mutating func beginDump(at now: Double) {
        dumpIndex += 1
        times[dumpIndex % columns] = now
        for (w, window) in WindowedRates.windows.enumerated() {
            let target = now - window
            var best = 0
            var bestDistance = Double.infinity
            var j = 1
            while j <= min(dumpIndex, columns - 1) {
                let t = times[(dumpIndex - j) % columns]
                let d = abs(t - target)
                if d < bestDistance { best = j; bestDistance = d }
                if t <= target { break }
                j += 1
            }
            windowColumns[w] = best
            windowSpans[w] = best == 0 ? 0 : now - times[(dumpIndex - best) % columns]
        }
    }

    mutating func allocate() -> Int32 {
        let slot: Int32
        if let f = free.popLast() {
            slot = f
        } else {
            slot = slotCount
            slotCount += 1
            if bytes.count + columns > bytes.capacity {
                // Grown by a quarter, not doubled: the rings are most of a busy SA's memory.
                let slots = Int(slotCount) + max(64, Int(slotCount) / 4)
                bytes.reserveCapacity(slots * columns)
                packets.reserveCapacity(slots * columns)
                computed.reserveCapacity(slots * 6)
                lastDelta.reserveCapacity(slots * 2)
            }
            bytes.append(contentsOf: repeatElement(0, count: columns))
            packets.append(contentsOf: repeatElement(0, count: columns))
            computed.append(contentsOf: repeatElement(0, count: 6))
            lastDelta.append(contentsOf: repeatElement(0, count: 2))
        }
        let base = Int(slot) * columns
        for i in base..<(base + columns) { bytes[i] = 0; packets[i] = 0 }
        for i in 0..<6 { computed[Int(slot) * 6 + i] = 0 }
        lastDelta[Int(slot) * 2] = 0; lastDelta[Int(slot) * 2 + 1] = 0
        return slot
    }

    /// Records the traffic of the current dump interval in the ring, and exactly as the last delta.
    mutating func write(_ slot: Int32, bytes b: UInt64, packets p: UInt64) {
        let i = Int(slot) * columns + column
        bytes[i] = MiniFloat.encode(b)
        packets[i] = MiniFloat.encode(p)
        lastDelta[Int(slot) * 2] = UInt32(truncatingIfNeeded: min(b, UInt64(UInt32.max)))
        lastDelta[Int(slot) * 2 + 1] = UInt32(truncatingIfNeeded: min(p, UInt64(UInt32.max)))
    }

    /// Bytes and packets of the last dump interval (capped at 2^32 - 1); zero without a slot.
    @inline(__always)
    func delta(_ slot: Int32) -> (bytes: UInt32, packets: UInt32) {
        slot < 0 ? (0, 0) : (lastDelta[Int(slot) * 2], lastDelta[Int(slot) * 2 + 1])
    }

    /// Whether the last dump interval of the slot carried traffic.
    @inline(__always)
    func moved(_ slot: Int32) -> Bool {
        slot >= 0 && (lastDelta[Int(slot) * 2] != 0 || lastDelta[Int(slot) * 2 + 1] != 0)
    }

    /// Computes and keeps the slot's rates (`rates(_:)`) after a dump.
    mutating func computeRates(_ slot: Int32) {
        let r = rates(slot)
        let b = Int(slot) * 6
        computed[b] = r.0; computed[b + 1] = r.1; computed[b + 2] = r.2
        computed[b + 3] = r.3; computed[b + 4] = r.4; computed[b + 5] = r.5
    }

    /// The rates kept by `computeRates` (zero without a slot).
    @inline(__always)
    func computedRates(_ slot: Int32) -> PeerRates {
        guard slot >= 0 else { return .zero }
        let b = Int(slot) * 6
        return PeerRates(b2: computed[b], p2: computed[b + 1], b10: computed[b + 2], p10: computed[b + 3],
                         b40: computed[b + 4], p40: computed[b + 5])
    }

    /// The 2 s byte rate kept by `computeRates` (zero without a slot).
    @inline(__always)
    func byteRate2s(_ slot: Int32) -> Float { slot < 0 ? 0 : computed[Int(slot) * 6] }

    mutating func release(_ slot: Int32) {
        guard slot >= 0 else { return }
        free.append(slot)
    }

    /// Adds one slot's samples into another (rekey: the successor inherits the window).
    mutating func merge(_ from: Int32, into to: Int32) {
        let a = Int(from) * columns, b = Int(to) * columns
        for k in 0..<columns where bytes[a + k] != 0 || packets[a + k] != 0 {
            bytes[b + k] = MiniFloat.encode(MiniFloat.decode(bytes[b + k]) &+ MiniFloat.decode(bytes[a + k]))
            packets[b + k] = MiniFloat.encode(MiniFloat.decode(packets[b + k]) &+ MiniFloat.decode(packets[a + k]))
        }
    }

    /// Sums a slot over the three windows and divides by their spans:
    /// (2 s bytes/s, 2 s packets/s, 10 s ..., 40 s ...). A tuple kept in registers: writing the
    /// rates into `computed` inside the loop made a refresh of 100,000 busy SAs 2.5 ms slower.
    func rates(_ slot: Int32) -> (Float, Float, Float, Float, Float, Float) {
        guard slot >= 0, dumpIndex >= 1 else { return (0, 0, 0, 0, 0, 0) }
        let base = Int(slot) * columns
        var sb: UInt64 = 0, sp: UInt64 = 0
        var out: (Float, Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0, 0)
        var w = 0
        var j = 0
        let maxJ = windowColumns[2]
        while j < maxJ {
            let col = (dumpIndex - j) % columns
            sb &+= MiniFloat.decode(bytes[base + col])
            sp &+= MiniFloat.decode(packets[base + col])
            j += 1
            while w < 3 && windowColumns[w] == j {
                let span = windowSpans[w]
                let rb = span > 0 ? Float(Double(sb) / span) : 0
                let rp = span > 0 ? Float(Double(sp) / span) : 0
                switch w {
                case 0: out.0 = rb; out.1 = rp
                case 1: out.2 = rb; out.3 = rp
                default: out.4 = rb; out.5 = rp
                }
                w += 1
            }
        }
        return out
    }

    /// Bytes and packets of one dump interval, `back` dumps ago (0 = the latest).
    func sample(_ slot: Int32, back: Int) -> (UInt64, UInt64) {
        guard slot >= 0, back <= dumpIndex, back < columns else { return (0, 0) }
        let i = Int(slot) * columns + (dumpIndex - back) % columns
        return (MiniFloat.decode(bytes[i]), MiniFloat.decode(packets[i]))
    }

    /// Approximate resident bytes.
    var residentBytes: Int {
        (bytes.capacity + packets.capacity) * 2 + free.capacity * 4 + times.capacity * 8 + computed.capacity * 4
            + lastDelta.capacity * 4
    }
}
