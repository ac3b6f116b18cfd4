/// An open-addressing hash index from a key to a slot number. Each bucket packs 32 bits of the
/// key's hash with the slot (8 bytes); the key itself lives in the slot's entry and is compared
/// through a closure.
///
/// The bucket count is not a power of two: a key's first bucket is its 32-bit hash scaled to the
/// table (multiply and shift), so a table reserved for n keys has about 1.4 n buckets whatever n is
/// (about 11 bytes per key), where rounding up to a power of two gave anywhere from 1.4 n to 2.7 n
/// (21 bytes per key at 100,000). At most three quarters of the buckets are in use (keys and
/// removal marks); beyond that the table grows by half.
struct SlotIndex: Sendable {
    private static let empty = UInt64.max
    private static let deleted = UInt64.max - 1
    private static let minimumSize = 16
    private var buckets: [UInt64] = Array(repeating: UInt64.max, count: SlotIndex.minimumSize)
    private(set) var count = 0
    private var tombstones = 0

    @inline(__always) private static func fold(_ hash: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: hash) ^ UInt32(truncatingIfNeeded: hash >> 32)
    }

    @inline(__always) private static func pack(_ h: UInt32, _ slot: Int32) -> UInt64 {
        UInt64(h) << 32 | UInt64(UInt32(bitPattern: slot))
    }

    /// The first bucket of a hash in a table of `size` buckets.
    @inline(__always) private static func home(_ h: UInt32, _ size: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(h) &* UInt64(size)) >> 32)
    }

    /// The slot whose key matches, if any.
    func find(hash: Int, matches: (Int32) -> Bool) -> Int32? {
        let h = SlotIndex.fold(hash)
        let size = buckets.count
        var i = SlotIndex.home(h, size)
        while true {
            let v = buckets[i]
            if v == SlotIndex.empty { return nil }
            if v != SlotIndex.deleted && UInt32(truncatingIfNeeded: v >> 32) == h {
                let slot = Int32(bitPattern: UInt32(truncatingIfNeeded: v))
                if matches(slot) { return slot }
            }
            i += 1
            if i == size { i = 0 }
        }
    }

    /// Adds a slot (the caller guarantees its key is not present).
    mutating func insert(_ slot: Int32, hash: Int) {
        if (count + tombstones + 1) * 4 > buckets.count * 3 { rebuild(keys: max(count + count / 2, count + 1)) }
        let h = SlotIndex.fold(hash)
        let size = buckets.count
        var i = SlotIndex.home(h, size)
        while buckets[i] < SlotIndex.deleted {
            i += 1
            if i == size { i = 0 }
        }
        if buckets[i] == SlotIndex.deleted { tombstones -= 1 }
        buckets[i] = SlotIndex.pack(h, slot)
        count += 1
    }

    /// Replaces the slot stored for a key (e.g. a tunnel's newest SA).
    @discardableResult
    mutating func replace(hash: Int, matches: (Int32) -> Bool, with slot: Int32) -> Bool {
        let h = SlotIndex.fold(hash)
        let size = buckets.count
        var i = SlotIndex.home(h, size)
        while true {
            let v = buckets[i]
            if v == SlotIndex.empty { return false }
            if v != SlotIndex.deleted && UInt32(truncatingIfNeeded: v >> 32) == h
                && matches(Int32(bitPattern: UInt32(truncatingIfNeeded: v))) {
                buckets[i] = SlotIndex.pack(h, slot)
                return true
            }
            i += 1
            if i == size { i = 0 }
        }
    }

    /// Removes the entry whose key matches; returns its slot.
    @discardableResult
    mutating func remove(hash: Int, matches: (Int32) -> Bool) -> Int32? {
        let h = SlotIndex.fold(hash)
        let size = buckets.count
        var i = SlotIndex.home(h, size)
        while true {
            let v = buckets[i]
            if v == SlotIndex.empty { return nil }
            if v != SlotIndex.deleted && UInt32(truncatingIfNeeded: v >> 32) == h {
                let slot = Int32(bitPattern: UInt32(truncatingIfNeeded: v))
                if matches(slot) {
                    buckets[i] = SlotIndex.deleted
                    tombstones += 1
                    count -= 1
                    return slot
                }
            }
            i += 1
            if i == size { i = 0 }
        }
    }

    /// Makes room for `n` entries, plus a sixteenth for those that come between two dumps, without
    /// growing again.
    mutating func reserve(_ n: Int) {
        if (n + tombstones) * 4 > buckets.count * 3 { rebuild(keys: max(n + n / 16, count)) }
    }

    /// Rebuilds the table with room for `keys` keys at three quarters of its buckets, dropping
    /// removal marks.
    private mutating func rebuild(keys: Int) {
        let size = max(SlotIndex.minimumSize, (keys * 4 + 2) / 3 + 1)
        let old = buckets
        buckets = Array(repeating: SlotIndex.empty, count: size)
        tombstones = 0
        for v in old where v < SlotIndex.deleted {
            var i = SlotIndex.home(UInt32(truncatingIfNeeded: v >> 32), size)
            while buckets[i] != SlotIndex.empty {
                i += 1
                if i == size { i = 0 }
            }
            buckets[i] = v
        }
    }

    /// Number of buckets.
    var bucketCount: Int { buckets.count }
    var residentBytes: Int { buckets.capacity * 8 }
}
