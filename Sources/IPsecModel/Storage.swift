import XFRMWire

/// SA table primitives: entries in a flat array, found through `SlotIndex`es.
extension LiveModel {
    /// The entry slot of an SA.
    func lookup(_ id: SAIdentity) -> Int32? { LiveModel.lookup(id, entries: entries, index: saIndex) }

    /// `lookup(_:)` with the tables passed in: loops of a mutating method call this one (a method
    /// call on the model there copies the whole model).
    static func lookup(_ id: SAIdentity, entries: ContiguousArray<SAEntry>, index: SlotIndex) -> Int32? {
        index.find(hash: id.slotHash) { v in isEntry(Int(v), id, entries: entries) }
    }

    /// Whether the entry at `i` has identity `id`.
    @inline(__always)
    static func isEntry(_ i: Int, _ id: SAIdentity, entries: ContiguousArray<SAEntry>) -> Bool {
        entries[i].spi == id.spi && entries[i].destination == id.destination && entries[i].proto == id.proto
            && entries[i].mark == id.mark && entries[i].family == id.family
    }

    /// A copy of an SA's entry.
    func entry(_ id: SAIdentity) -> SAEntry? { lookup(id).map { entries[Int($0)] } }

    /// The slot of the SA of the same tunnel as `e` with SPI `spi`, when it is alive.
    func lookupSibling(of e: SAEntry, spi: UInt32) -> Int32? { lookup(e.sibling(spi)) }

    /// The tunnel's newest live entry.
    func newestInTunnel(_ key: TunnelKey, hash: Int) -> Int32? {
        tunnelIndex.find(hash: hash) { entries[Int($0)].tunnelKey == key }
    }

    /// Stores a new entry and indexes it by identity. Returns its slot.
    mutating func store(_ e: SAEntry) -> Int32 {
        var e = e
        entrySerial &+= 1
        e.serial = entrySerial
        let slot: Int32
        if let f = freeEntries.popLast() {
            slot = f
            entries[Int(f)] = e
        } else {
            slot = Int32(entries.count)
            entries.append(e)
        }
        saIndex.insert(slot, hash: e.identity.slotHash)
        liveCount += 1
        touchSA(slot)
        return slot
    }

    /// Unindexes and frees an entry.
    mutating func discard(_ slot: Int32) {
        touchSA(slot)
        carries[slot] = nil
        let id = entries[Int(slot)].identity
        saIndex.remove(hash: id.slotHash) { $0 == slot }
        entries[Int(slot)].alive = false
        freeEntries.append(slot)
        liveCount -= 1
    }

    mutating func indexTunnel(_ slot: Int32) {
        tunnelIndex.insert(slot, hash: entries[Int(slot)].tunnelKey.hashValue)
    }

    /// The shared attribute box for a state's attributes (reusing `current` when unchanged).
    static func intern(_ a: XFRMAttributes, current: AttributeBox?,
                       boxes: inout [XFRMAttributes: AttributeBox]) -> AttributeBox {
        let shared = AttributeBox.sharedPart(of: a)
        if let c = current, c.attributes == shared { return c }
        if let b = boxes[shared] { return b }
        let b = AttributeBox(shared)
        boxes[shared] = b
        return b
    }

    /// The shared selector box for a state's selector (reusing `current` when unchanged); nil for
    /// the host selector of the state's own addresses, which is not boxed.
    static func intern(_ st: XFRMState, current: SelectorBox?,
                       selectors: inout [UInt64: SelectorBox]) -> SelectorBox? {
        let sel = st.selector
        if let c = current, c.selector == sel { return c }
        if sel == SelectorBox.host(source: st.source, destination: st.destination, family: st.family) { return nil }
        let key = sel.mix64
        if let b = selectors[key] {
            // Another selector with the same 64-bit mix (not expected in practice) is not interned.
            return b.selector == sel ? b : SelectorBox(sel)
        }
        let b = SelectorBox(sel)
        selectors[key] = b
        return b
    }

    mutating func makeEntry(_ st: XFRMState, now: ModelTime) -> SAEntry {
        let b = LiveModel.intern(st.attributes, current: nil, boxes: &boxes)
        let sb = LiveModel.intern(st, current: nil, selectors: &selectors)
        return SAEntry(state: st, box: b, selector: sb, now: now)
    }

    /// Forgets attribute sets no SA uses any more (when there are many).
    /// A table is pruned again only once it has grown by a quarter (at least 1,024) since its last
    /// pruning: when every SA has its own selector, the table is legitimately larger than the
    /// threshold and rebuilding it on every refresh would find nothing to forget.
    mutating func pruneBoxes() {
        if boxes.count > 1024 && boxes.count > liveCount / 4
            && boxes.count >= boxesAfterPrune + max(1024, boxesAfterPrune / 4) {
            var keep: [XFRMAttributes: AttributeBox] = [:]
            for i in entries.indices where entries[i].alive {
                let b = entries[i].box
                keep[b.attributes] = b
            }
            boxes = keep
            boxesAfterPrune = keep.count
        }
        if selectors.count > 1024 && selectors.count > liveCount / 2
            && selectors.count >= selectorsAfterPrune + max(1024, selectorsAfterPrune / 4) {
            var keep: [UInt64: SelectorBox] = [:]
            for i in entries.indices where entries[i].alive {
                if let b = entries[i].selectorBox { keep[b.selector.mix64] = b }
            }
            selectors = keep
            selectorsAfterPrune = keep.count
        }
    }

    /// Indices of live entries.
    var liveSlots: [Int] { entries.indices.filter { entries[$0].alive } }
}

extension SAIdentity {
    /// The hash `saIndex` files an SA under: the identity's fields through `Mix64`,
    /// several times cheaper than `hashValue` (SipHash) and as good for a table of our own SAs
    /// (the index compares the full identity on every hit).
    var slotHash: Int {
        var h = Mix64.step(UInt64(spi) | UInt64(proto.rawValue) << 32, destination.mix64)
        if let m = mark { h = Mix64.step(h, UInt64(m.value) | UInt64(m.mask) << 32) }
        return Int(bitPattern: UInt(Mix64.step(h, 0x5851_F42D_4C95_7F2D)))
    }
}
