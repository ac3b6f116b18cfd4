import XFRMWire

/// The policies, dense: entries in one array, found through two `SlotIndex`es: by identity, and by
/// the kernel's (index, direction).
///
/// A `[PolicyIdentity: PolicyEntry]` dictionary kept every entry (368 bytes) and its key (93) in
/// buckets that are at most three quarters full, and the (index, direction) dictionary another
/// identity per policy: about 1.5 KB per policy at 100,000 policies. Here a policy costs its entry
/// (128 bytes) and an 8-byte bucket in each index, whose tables are kept at most three quarters
/// full (at 100,000 policies both have 262,144 buckets: 42 bytes per policy). Removal moves the
/// last entry into the freed position, so positions are stable only between changes (as a
/// dictionary's indices were).
struct PolicyTable: Sendable {
    /// The entries, in no particular order.
    var values: ContiguousArray<PolicyEntry> = []
    private var byIdentity = SlotIndex()
    /// (index, direction) -> the position of the policy that last took it. Holds at most one
    /// bucket per key, so a bucket is told by the key of the entry it points to.
    private var byKernelIndex = SlotIndex()

    typealias Index = Int

    var count: Int { values.count }
    var isEmpty: Bool { values.isEmpty }
    var capacity: Int { values.capacity }
    var startIndex: Int { 0 }
    var endIndex: Int { values.count }
    func formIndex(after i: inout Int) { i += 1 }

    mutating func reserveCapacity(_ n: Int) {
        values.reserveCapacity(n)
        byIdentity.reserve(n)
        byKernelIndex.reserve(n)
    }

    /// Identities of every entry, in table order.
    var keys: [PolicyIdentity] { values.map(\.identity) }

    /// The position of a policy.
    func index(forKey id: PolicyIdentity) -> Int? {
        let values = self.values
        return byIdentity.find(hash: id.slotHash) { values[Int($0)].hasIdentity(id) }.map(Int.init)
    }

    subscript(id: PolicyIdentity) -> PolicyEntry? {
        index(forKey: id).map { values[$0] }
    }

    /// The identity of the policy that last took the kernel's (index, direction).
    func identity(kernelIndex key: PolicyIndexKey) -> PolicyIdentity? {
        kernelSlot(key).map { values[Int($0)].identity }
    }

    /// The position `byKernelIndex` holds for a key.
    private func kernelSlot(_ key: PolicyIndexKey) -> Int32? {
        guard key.index != 0 else { return nil }
        let values = self.values
        return byKernelIndex.find(hash: key.slotHash) { values[Int($0)].kernelIndexKey == key }
    }

    /// Adds a policy whose identity is not in the table yet, or replaces the one with its identity.
    mutating func put(_ e: PolicyEntry) {
        let id = e.identity
        let slot: Int32
        if let i = index(forKey: id) {
            values[i] = e
            slot = Int32(i)
        } else {
            slot = Int32(values.count)
            values.append(e)
            byIdentity.insert(slot, hash: id.slotHash)
        }
        guard id.index != 0 else { return }
        let key = PolicyIndexKey(index: id.index, direction: id.direction.rawValue)
        if let owner = kernelSlot(key) {
            if owner != slot { byKernelIndex.replace(hash: key.slotHash, matches: { $0 == owner }, with: slot) }
        } else {
            byKernelIndex.insert(slot, hash: key.slotHash)
        }
    }

    /// Removes a policy; returns it when it was there.
    @discardableResult
    mutating func removeValue(forKey id: PolicyIdentity) -> PolicyEntry? {
        guard let i = index(forKey: id) else { return nil }
        let slot = Int32(i)
        let removed = values[i]
        let values = self.values
        byIdentity.remove(hash: id.slotHash) { $0 == slot }
        if id.index != 0 {
            byKernelIndex.remove(hash: PolicyIndexKey(index: id.index, direction: id.direction.rawValue).slotHash) {
                $0 == slot
            }
        }
        let last = Int32(values.count - 1)
        if slot != last {
            // The last entry takes the freed position.
            let moved = values[Int(last)].identity
            byIdentity.replace(hash: moved.slotHash, matches: { $0 == last }, with: slot)
            if moved.index != 0 {
                let movedKey = PolicyIndexKey(index: moved.index, direction: moved.direction.rawValue)
                byKernelIndex.replace(hash: movedKey.slotHash, matches: { $0 == last }, with: slot)
            }
            self.values[i] = values[Int(last)]
        }
        self.values.removeLast()
        return removed
    }
}

extension PolicyIndexKey {
    /// The hash `PolicyTable` files a kernel index under.
    var slotHash: Int {
        Int(bitPattern: UInt(Mix64.step(Mix64.step(UInt64(index) | UInt64(direction) << 32, 0x2545_F491_4F6C_DD1D),
                                        0x5851_F42D_4C95_7F2D)))
    }
}

extension PolicyEntry {
    /// The kernel's (index, direction) of this policy.
    var kernelIndexKey: PolicyIndexKey { PolicyIndexKey(index: index, direction: direction.rawValue) }
}

extension PolicyIdentity {
    /// The hash `PolicyTable` files a policy under (see `Mix64`).
    var slotHash: Int {
        var h = Mix64.step(UInt64(index) | UInt64(direction.rawValue) << 32 | UInt64(type) << 40, selector.mix64)
        if let m = mark { h = Mix64.step(h, UInt64(m.value) | UInt64(m.mask) << 32) }
        h = Mix64.step(h, UInt64(ifID))
        return Int(bitPattern: UInt(Mix64.step(h, 0x5851_F42D_4C95_7F2D)))
    }
}
