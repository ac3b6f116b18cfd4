/// An open-addressing hash index from a key to a slot number. Each bucket packs 32 bits of the
/// key's hash with the slot (8 bytes); the key itself lives in the slot's entry and is compared
/// through a closure. About 20 bytes per entry at 100,000 entries, instead of a Dictionary's key copies.
struct SlotIndex: Sendable {
    private static let empty = UInt64.max
    private static let deleted = UInt64.max - 1
    private var buckets: [UInt64] = Array(repeating: UInt64.max, count: 16)
    private(set) var count = 0
    private var tombstones = 0

    private var mask: Int { buckets.count - 1 }

    @inline(__always) private static func fold(_ hash: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: hash) ^ UInt32(truncatingIfNeeded: hash >> 32)
    }

    @inline(__always) private static func pack(_ h: UInt32, _ slot: Int32) -> UInt64 {
        UInt64(h) << 32 | UInt64(UInt32(bitPattern: slot))
    }

    /// The slot whose key matches, if any.
    func find(hash: Int, matches: (Int32) -> Bool) -> Int32? {
        let h = SlotIndex.fold(hash)
        var i = Int(h) & mask
        while true {
            let v = buckets[i]
            if v == SlotIndex.empty { return nil }
            if v != SlotIndex.deleted && UInt32(truncatingIfNeeded: v >> 32) == h {
                let slot = Int32(bitPattern: UInt32(truncatingIfNeeded: v))
                if matches(slot) { return slot }
            }
            i = (i + 1) & mask
        }
    }

    /// Adds a slot (the caller guarantees its key is not present).
    mutating func insert(_ slot: Int32, hash: Int) {
        if (count + tombstones + 1) * 4 > buckets.count * 3 { rebuild(capacity: max(16, count * 2)) }
        let h = SlotIndex.fold(hash)
        var i = Int(h) & mask
        while buckets[i] < SlotIndex.deleted { i = (i + 1) & mask }
        if buckets[i] == SlotIndex.deleted { tombstones -= 1 }
        buckets[i] = SlotIndex.pack(h, slot)
        count += 1
    }

    /// Replaces the slot stored for a key (e.g. a tunnel's newest SA).
    @discardableResult
    mutating func replace(hash: Int, matches: (Int32) -> Bool, with slot: Int32) -> Bool {
        let h = SlotIndex.fold(hash)
        var i = Int(h) & mask
        while true {
            let v = buckets[i]
            if v == SlotIndex.empty { return false }
            if v != SlotIndex.deleted && UInt32(truncatingIfNeeded: v >> 32) == h
                && matches(Int32(bitPattern: UInt32(truncatingIfNeeded: v))) {
                buckets[i] = SlotIndex.pack(h, slot)
                return true
            }
            i = (i + 1) & mask
        }
    }

    /// Removes the entry whose key matches; returns its slot.
    @discardableResult
    mutating func remove(hash: Int, matches: (Int32) -> Bool) -> Int32? {
        let h = SlotIndex.fold(hash)
        var i = Int(h) & mask
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
            i = (i + 1) & mask
        }
    }

    /// Makes room for `n` entries without growing again.
    mutating func reserve(_ n: Int) {
        if (n + tombstones) * 4 > buckets.count * 3 { rebuild(capacity: n) }
    }

    private mutating func rebuild(capacity: Int) {
        var size = 16
        while size * 3 < capacity * 4 + 4 { size <<= 1 }
        let old = buckets
        buckets = Array(repeating: SlotIndex.empty, count: size)
        tombstones = 0
        let m = size - 1
        for v in old where v < SlotIndex.deleted {
            var i = Int(v >> 32) & m
            while buckets[i] != SlotIndex.empty { i = (i + 1) & m }
            buckets[i] = v
        }
    }

    var residentBytes: Int { buckets.capacity * 8 }
}
