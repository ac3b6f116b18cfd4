import CXFRM
import Glibc
import XFRMWire

/// A raw GETSA dump and when each of its datagrams arrived.
public struct RawSADumpResult: Sendable {
    public var dump: RawSADump
    /// Receive time of each of `dump.datagrams`.
    public var times: [Double]

    /// The datagrams as received (kernel unicast replies), for recordings.
    public var datagrams: [ReceivedDatagram] {
        zip(dump.datagrams, times).map { ReceivedDatagram(bytes: $0, senderPortID: 0, groups: 0, time: $1) }
    }
}

extension XFRMCommandChannel {
    /// A GETSA dump received without decoding its records: the periodic refresh hands it to the
    /// model, which decodes only the SAs whose configuration changed (`SAScan`). Only the netlink
    /// headers are walked here; NLMSG_DONE and NLMSG_ERROR end the dump (`endsDump`, as in `dump`).
    public func dumpSAsRaw(filter: XFRMRequest.DumpFilter? = nil) throws(KernelError) -> RawSADumpResult {
        var out = RawSADump()
        var times: [Double] = []
        try dumpSAsRaw(filter: filter) { d, part in
            times.append(d.time)
            out.append(contentsOf: part)
        }
        return RawSADumpResult(dump: out, times: times)
    }

    /// The same dump handed over datagram by datagram as it is received: `each` gets the datagram
    /// and its NEWSA records (possibly none) before the next one is read, so a dump of 100,000 SAs
    /// is never held whole. A dump that ends in error throws after the datagrams before the error.
    public func dumpSAsRaw(filter: XFRMRequest.DumpFilter? = nil,
                           each: (ReceivedDatagram, RawSADump) -> Void) throws(KernelError) {
        let operation = "dumping SAs"
        let seq = nextSequence()
        try socket.send(XFRMRequest.dumpSAs(sequence: seq, filter: filter))
        while true {
            guard case .datagram(let d) = try socket.receive(wait: true) else { continue }
            var part = RawSADump()
            var finished = false
            for range in part.append(d.bytes, sequence: seq) {
                // DONE, ERROR or anything else: the full decoder says what it is.
                let decoded = d.bytes.withUnsafeBytes { XFRMDecoder.decodeDatagram(UnsafeRawBufferPointer(rebasing: $0[range])) }
                for m in decoded.messages {
                    if case .success(let msg) = m.body, try XFRMCommandChannel.endsDump(msg, operation: operation) {
                        finished = true
                    }
                }
            }
            each(d, part)
            if finished { return }
        }
    }
}
