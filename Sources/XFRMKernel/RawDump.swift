import CXFRM
import Glibc
import XFRMWire

/// A raw GETSA dump and its datagrams as received (for recordings).
public struct RawSADumpResult: Sendable {
    public var dump: RawSADump
    public var datagrams: [ReceivedDatagram]
}

extension XFRMCommandChannel {
    /// A GETSA dump received without decoding its records: the periodic refresh hands it to the
    /// model, which decodes only the SAs whose configuration changed (`SAScan`). Only the netlink
    /// headers are walked here; NLMSG_DONE and NLMSG_ERROR end the dump as in `dump(_:)`.
    public func dumpSAsRaw(filter: XFRMRequest.DumpFilter? = nil) throws(KernelError) -> RawSADumpResult {
        let operation = "dumping SAs"
        let seq = nextSequence()
        try socket.send(XFRMRequest.dumpSAs(sequence: seq, filter: filter))
        var out = RawSADump()
        var received: [ReceivedDatagram] = []
        while true {
            guard case .datagram(let d) = try socket.receive(wait: true) else { continue }
            received.append(d)
            var finished = false
            for range in out.append(d.bytes, sequence: seq) {
                // DONE, ERROR or anything else: the full decoder says what it is.
                let decoded = d.bytes.withUnsafeBytes { XFRMDecoder.decodeDatagram(UnsafeRawBufferPointer(rebasing: $0[range])) }
                for m in decoded.messages {
                    if case .success(let msg) = m.body, try XFRMCommandChannel.endsDump(msg, operation: operation) {
                        finished = true
                    }
                }
            }
            if finished { return RawSADumpResult(dump: out, datagrams: received) }
        }
    }
}
