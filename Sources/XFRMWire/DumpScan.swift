import CXFRM

/// What a periodic GETSA dump changes for an SA that is already known: counters and replay state.
/// Everything else in a NEWSA record is configuration, summarised by `SAScan.configurationHash`.
public struct SACounters: Hashable, Sendable {
    public var lifetimeCurrent: XFRMLifetimeCurrent
    public var stats: XFRMStats
    public var replay: XFRMReplayState?
    public var replayESN: XFRMReplayStateESN?
    public var lastUsed: UInt64?

    public init(lifetimeCurrent: XFRMLifetimeCurrent, stats: XFRMStats, replay: XFRMReplayState?,
                replayESN: XFRMReplayStateESN?, lastUsed: UInt64?) {
        self.lifetimeCurrent = lifetimeCurrent; self.stats = stats; self.replay = replay
        self.replayESN = replayESN; self.lastUsed = lastUsed
    }

    /// The counters of a decoded state.
    public init(_ st: XFRMState) {
        self.init(lifetimeCurrent: st.lifetimeCurrent, stats: st.stats, replay: st.attributes.replay,
                  replayESN: st.attributes.replayESN, lastUsed: st.attributes.lastUsed)
    }
}

/// A NEWSA record read without decoding it: its identity, a hash of its configuration and its
/// counters. A refresh decodes a record fully only when the hash differs from the one the model
/// keeps for that SA, so an unchanged SA costs a hash and a lookup instead of a full decode.
public struct SAScan: Sendable {
    public var identity: SAIdentity
    /// 64-bit hash of every byte of the record except the counters: `xfrm_usersa_info` without
    /// `curlft` and `stats`, and every attribute except XFRMA_REPLAY_VAL, XFRMA_REPLAY_ESN_VAL and
    /// XFRMA_LASTUSED. Never 0 (0 means "unknown" to the model). Key bytes are zeroed on receipt,
    /// so they contribute only their length.
    public var configurationHash: UInt64
    public var counters: SACounters

    /// Scans the payload of a NEWSA/UPDSA message (after the netlink header). Nil when the record
    /// is too short or its attributes are malformed: decode it fully to get the error.
    public init?(payload p: UnsafeRawBufferPointer) {
        let infoSize = MemoryLayout<xfrm_usersa_info>.size
        guard p.count >= infoSize else { return nil }
        let info = p.loadUnaligned(as: xfrm_usersa_info.self)
        let family = AddressFamily(kernel: info.family)
        var h = ConfigurationHasher()
        // The fixed part without the two counter blocks.
        let curOffset = MemoryLayout<xfrm_usersa_info>.offset(of: \.curlft)!
        let curEnd = curOffset + MemoryLayout<xfrm_lifetime_cur>.size
        let statsOffset = MemoryLayout<xfrm_usersa_info>.offset(of: \.stats)!
        let statsEnd = statsOffset + MemoryLayout<xfrm_stats>.size
        h.add(UnsafeRawBufferPointer(rebasing: p[0..<curOffset]))
        h.add(UnsafeRawBufferPointer(rebasing: p[curEnd..<statsOffset]))
        h.add(UnsafeRawBufferPointer(rebasing: p[statsEnd..<infoSize]))

        var mark: XFRMMark?
        var replay: XFRMReplayState?
        var replayESN: XFRMReplayStateESN?
        var lastUsed: UInt64?
        // The decoder's own attribute walk and readers: a record the decoder refuses is refused here.
        do throws(WireError) {
            let attrs = XFRMDecoder.rest(p, after: infoSize)
            try XFRMDecoder.walkAttributes(attrs) { (type, a) throws(WireError) in
                switch type {
                case XFRMAttributeType.replayValue.rawValue: replay = try XFRMDecoder.replayState(a, type: type)
                case XFRMAttributeType.replayESNValue.rawValue: replayESN = try XFRMDecoder.replayStateESN(a, type: type)
                case XFRMAttributeType.lastUsed.rawValue: lastUsed = try XFRMDecoder.attrStruct(UInt64.self, a, type: type)
                default:
                    if type == XFRMAttributeType.mark.rawValue { mark = try XFRMDecoder.mark(a, type: type) }
                    h.add(UInt64(type) | UInt64(a.count + 4) << 16)
                    h.add(a)
                }
            }
        } catch {
            return nil
        }

        identity = withUnsafeBytes(of: info.id.daddr) { d in
            SAIdentity(family: family, destination: IPAddress(xfrmBytes: d, family: family),
                       spi: UInt32(bigEndian: info.id.spi), proto: IPsecProtocol(rawValue: info.id.proto), mark: mark)
        }
        configurationHash = h.value
        counters = SACounters(
            lifetimeCurrent: XFRMLifetimeCurrent(bytes: info.curlft.bytes, packets: info.curlft.packets,
                                                 addTime: info.curlft.add_time, useTime: info.curlft.use_time),
            stats: XFRMStats(replayWindow: info.stats.replay_window, replay: info.stats.replay,
                             integrityFailed: info.stats.integrity_failed),
            replay: replay, replayESN: replayESN, lastUsed: lastUsed)
    }
}

/// A fast 64-bit hash over byte ranges (8 bytes per `Mix64` step). Not
/// cryptographic: it tells "same configuration as last time" apart from "changed".
struct ConfigurationHasher {
    private(set) var state: UInt64 = 0x243F_6A88_85A3_08D3

    mutating func add(_ word: UInt64) { state = Mix64.step(state, word) }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        // Two words at a time in two independent chains, folded after: one chain waits for each
        // multiply before the next (the hash was a tenth of a refresh where every SA moved).
        if n >= 16 {
            var a = state, b = state ^ 0x6A09_E667_F3BC_C909
            while i + 16 <= n {
                a = Mix64.step(a, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                b = Mix64.step(b, bytes.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
                i += 16
            }
            state = Mix64.step(a, b)
        }
        while i + 8 <= n {
            add(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            add(tail ^ (UInt64(n & 7) << 56))
        }
        add(UInt64(n))
    }

    var value: UInt64 {
        var v = state
        v ^= v >> 32
        v = v &* 0xD6E8_FEB8_6659_FD93
        v ^= v >> 32
        return v == 0 ? 1 : v
    }
}

/// The NEWSA records of one GETSA dump as received (key bytes already zeroed), not yet decoded.
public struct RawSADump: Sendable {
    /// The dump's datagrams.
    public var datagrams: [[UInt8]]
    /// (datagram index, payload offset, payload length) of each NEWSA record, in dump order.
    public var records: [(datagram: Int32, offset: Int32, length: Int32)]

    public init(datagrams: [[UInt8]] = [], records: [(datagram: Int32, offset: Int32, length: Int32)] = []) {
        self.datagrams = datagrams
        self.records = records
    }

    public var count: Int { records.count }

    /// Adds a received datagram: its NEWSA records (of `sequence`, when given) become records;
    /// the byte ranges of its other messages of that sequence (NLMSG_DONE, NLMSG_ERROR, ...) are
    /// returned for the caller to decode. Only netlink headers are read; a message whose length
    /// runs past the datagram ends the walk.
    @discardableResult
    public mutating func append(_ bytes: [UInt8], sequence: UInt32? = nil) -> [Range<Int>] {
        let index = Int32(datagrams.count)
        let newSA = XFRMMessageType.newSA.rawValue
        var others: [Range<Int>] = []
        bytes.withUnsafeBytes { b in
            // A framing error ends the walk; what came before it is kept (the decoder reports it).
            _ = XFRMDecoder.forEachMessage(in: b) { (header: NetlinkHeader, payload: UnsafeRawBufferPointer) in
                guard sequence == nil || header.sequence == sequence else { return }
                let start = payload.baseAddress.map { $0 - b.baseAddress! } ?? 0
                if header.type == newSA {
                    records.append((index, Int32(start), Int32(payload.count)))
                } else {
                    others.append((start - NetlinkHeader.size)..<(start + payload.count))
                }
            }
        }
        datagrams.append(bytes)
        return others
    }

    /// Calls `body` with each record's payload, in dump order.
    public func forEachPayload(_ body: (UnsafeRawBufferPointer) -> Void) {
        for r in records {
            datagrams[Int(r.datagram)].withUnsafeBytes { d in
                body(UnsafeRawBufferPointer(rebasing: d[Int(r.offset)..<Int(r.offset + r.length)]))
            }
        }
    }
}

extension XFRMDecoder {
    /// Decodes the payload of one NEWSA message; nil when it is malformed.
    public static func decodeState(payload p: UnsafeRawBufferPointer) -> XFRMState? {
        var context = Context()
        return try? decodeState(payload: p, context: &context)
    }
}
