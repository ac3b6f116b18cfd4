import XFRMWire

extension XFRMCommandChannel {
    /// A GETSA dump received whole without decoding its records, for `.saDumpRaw` (the model
    /// decodes only the SAs whose configuration changed: `SAScan`). Only the netlink headers are
    /// walked here; NLMSG_DONE and NLMSG_ERROR end the dump (`endsDump`, as in `dump`). The live
    /// source streams its dumps instead (`dumpSAsRaw(each:)`); the benchmarks time the two apart.
    public func dumpSAsRaw(filter: XFRMRequest.DumpFilter? = nil) throws(KernelError) -> RawSADump {
        var out = RawSADump()
        try receiveSADump(filter: filter) { d, seq in out.append(d.bytes, sequence: seq) }
        return out
    }

    /// The same dump handed over datagram by datagram as it is received: `each` gets the datagram
    /// and its NEWSA records (possibly none) before the next one is read, so a dump of 100,000 SAs
    /// is never held whole. A dump that ends in error throws after handing over the datagrams
    /// before the error (and the records of the datagram that carries it).
    public func dumpSAsRaw(filter: XFRMRequest.DumpFilter? = nil,
                           each: (ReceivedDatagram, RawSADump) -> Void) throws(KernelError) {
        try receiveSADump(filter: filter) { d, seq in
            var part = RawSADump()
            let others = part.append(d.bytes, sequence: seq)
            each(d, part)
            return others
        }
    }

    /// Sends a GETSA dump request and receives until NLMSG_DONE or NLMSG_ERROR: `take` files each
    /// datagram's NEWSA records of the dump's sequence and returns the byte ranges of its other
    /// messages, which are decoded here to find the end.
    private func receiveSADump(filter: XFRMRequest.DumpFilter?,
                               _ take: (ReceivedDatagram, UInt32) -> [Range<Int>]) throws(KernelError) {
        let operation = "dumping SAs"
        let seq = nextSequence()
        try socket.send(XFRMRequest.dumpSAs(sequence: seq, filter: filter))
        while true {
            guard case .datagram(let d) = try socket.receive(wait: true) else { continue }
            var finished = false
            for range in take(d, seq) {
                // DONE, ERROR or anything else: the full decoder says what it is.
                let decoded = d.bytes.withUnsafeBytes { XFRMDecoder.decodeDatagram(UnsafeRawBufferPointer(rebasing: $0[range])) }
                for m in decoded.messages {
                    if case .success(let msg) = m.body, try XFRMCommandChannel.endsDump(msg, operation: operation) {
                        finished = true
                    }
                }
            }
            if finished { return }
        }
    }
}
