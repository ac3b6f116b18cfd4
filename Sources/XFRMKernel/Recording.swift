import Foundation
import XFRMWire

/// One record of a recording (docs/recording.md).
public enum RecordedItem: Sendable {
    case event(ReceivedDatagram)
    case dump(what: String, ReceivedDatagram)
    case reply(ReceivedDatagram)
    case proc(text: String, time: Double)
    case keepalive(outbound: Bool, source: String, destination: String, time: Double)
    case overrun(time: Double)

    public var time: Double {
        switch self {
        case .event(let d), .dump(_, let d), .reply(let d): return d.time
        case .proc(_, let t), .keepalive(_, _, _, let t), .overrun(let t): return t
        }
    }
}

public enum RecordingError: Error, CustomStringConvertible {
    case cannotOpen(String, Errno)
    case badHeader(String)
    case badLine(Int, String)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let e): return "cannot open recording \(p): \(e)"
        case .badHeader(let m): return "not an ipsectop recording: \(m)"
        case .badLine(let n, let m): return "recording line \(n): \(m)"
        }
    }
}

/// Writes a recording. Datagrams reaching it are already redacted by `NetlinkSocket`;
/// they are redacted again here so no caller can leak key bytes into a file.
public final class Recorder {
    let handle: FileHandle
    public let path: String

    public init(path: String, netns: String?, kernel: String, host: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let h = FileHandle(forWritingAtPath: path) else {
            throw RecordingError.cannotOpen(path, .current)
        }
        handle = h
        self.path = path
        var header = "{\"format\":\"ipsectop-recording\",\"version\":1,\"started\":\"\(Recorder.iso(wallClock()))\""
        header += ",\"host\":\(Recorder.quote(host)),\"netns\":\(netns.map(Recorder.quote) ?? "null"),\"kernel\":\(Recorder.quote(kernel))}\n"
        handle.write(Data(header.utf8))
    }

    deinit { try? handle.close() }

    static func iso(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](); out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func t(_ v: Double) -> String { String(format: "%.6f", v) }

    public func write(_ item: RecordedItem) {
        var line: String
        switch item {
        case .event(let d):
            var b = d.bytes; XFRMRedaction.redactKeys(&b)
            line = "{\"t\":\(Recorder.t(d.time)),\"kind\":\"event\",\"group\":\(d.groups),\"hex\":\"\(Recorder.hex(b))\"}"
        case .dump(let what, let d):
            var b = d.bytes; XFRMRedaction.redactKeys(&b)
            line = "{\"t\":\(Recorder.t(d.time)),\"kind\":\"dump\",\"what\":\(Recorder.quote(what)),\"hex\":\"\(Recorder.hex(b))\"}"
        case .reply(let d):
            var b = d.bytes; XFRMRedaction.redactKeys(&b)
            line = "{\"t\":\(Recorder.t(d.time)),\"kind\":\"reply\",\"hex\":\"\(Recorder.hex(b))\"}"
        case .proc(let text, let time):
            line = "{\"t\":\(Recorder.t(time)),\"kind\":\"proc\",\"text\":\(Recorder.quote(text))}"
        case .keepalive(let out, let src, let dst, let time):
            line = "{\"t\":\(Recorder.t(time)),\"kind\":\"keepalive\",\"dir\":\"\(out ? "out" : "in")\",\"src\":\(Recorder.quote(src)),\"dst\":\(Recorder.quote(dst))}"
        case .overrun(let time):
            line = "{\"t\":\(Recorder.t(time)),\"kind\":\"enobufs\"}"
        }
        handle.write(Data((line + "\n").utf8))
    }
}

/// Reads a recording back.
public struct Recording {
    public var header: [String: Any]
    public var items: [RecordedItem]
    /// Lines of unknown kinds that were skipped.
    public var skipped: Int

    public var netns: String? { header["netns"] as? String }
    public var kernel: String? { header["kernel"] as? String }
    public var host: String? { header["host"] as? String }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecordingError.cannotOpen(path, .current)
        }
        try self.init(data: data)
    }

    public init(data: Data) throws {
        var lines = data.split(separator: 0x0a, omittingEmptySubsequences: true)[...]
        guard let first = lines.popFirst(),
              let h = (try? JSONSerialization.jsonObject(with: Data(first))) as? [String: Any] else {
            throw RecordingError.badHeader("the first line is not a JSON header")
        }
        guard h["format"] as? String == "ipsectop-recording" else { throw RecordingError.badHeader("format is not ipsectop-recording") }
        guard (h["version"] as? Int) == 1 else { throw RecordingError.badHeader("unsupported version \(h["version"] ?? "none")") }
        header = h
        items = []
        skipped = 0
        var n = 1
        for line in lines {
            n += 1
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                throw RecordingError.badLine(n, "not a JSON object")
            }
            guard let t = (o["t"] as? NSNumber)?.doubleValue, let kind = o["kind"] as? String else {
                throw RecordingError.badLine(n, "missing t or kind")
            }
            func datagram() throws -> ReceivedDatagram {
                guard let hex = o["hex"] as? String, let bytes = Recording.unhex(hex) else {
                    throw RecordingError.badLine(n, "bad or missing hex")
                }
                let g = (o["group"] as? NSNumber)?.uint32Value ?? 0
                return ReceivedDatagram(bytes: bytes, senderPortID: 0, groups: g, time: t)
            }
            switch kind {
            case "event": items.append(.event(try datagram()))
            case "dump": items.append(.dump(what: o["what"] as? String ?? "sa", try datagram()))
            case "reply": items.append(.reply(try datagram()))
            case "proc": items.append(.proc(text: o["text"] as? String ?? "", time: t))
            case "keepalive":
                items.append(.keepalive(outbound: (o["dir"] as? String) == "out", source: o["src"] as? String ?? "",
                                        destination: o["dst"] as? String ?? "", time: t))
            case "enobufs": items.append(.overrun(time: t))
            default: skipped += 1
            }
        }
    }

    static func unhex(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8](); out.reserveCapacity(u.count / 2)
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < u.count {
            guard let hi = v(u[i]), let lo = v(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
