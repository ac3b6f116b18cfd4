// libFuzzer entry point for the XFRM wire codec. Built by Fuzz/run.sh with
// `swiftc -sanitize=fuzzer,address` against the XFRMWire sources; never part of `swift build`.
import XFRMWireFuzzed

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    let decoded = XFRMDecoder.decodeDatagram(buffer)
    for m in decoded.messages {
        if case .success(let msg) = m.body { _ = msg.kindName }
    }
    var copy = Array(buffer)
    XFRMRedaction.redactKeys(&copy)
    // Redaction must never change what decodes (it only zeroes key bytes).
    let again = XFRMDecoder.decodeDatagram(copy)
    if again.messages.count != decoded.messages.count { fatalError("redaction changed message framing") }
    // The refresh path: NEWSA records scanned without a full decode must agree with the decoder.
    var raw = RawSADump()
    raw.append(copy)
    raw.forEachPayload { p in
        guard let scan = SAScan(payload: p), let st = XFRMDecoder.decodeState(payload: p) else { return }
        if scan.identity != st.identity { fatalError("scan and decoder disagree on the identity") }
        if scan.counters != SACounters(st) { fatalError("scan and decoder disagree on the counters") }
    }
    return 0
}
