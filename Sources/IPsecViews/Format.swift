import XFRMWire

/// Line-drawing and symbol glyphs: UTF-8, or ASCII for terminals without it.
public struct Glyphs: Hashable, Sendable {
    public var horizontal: String, vertical: String
    public var topLeft: String, topRight: String, bottomLeft: String, bottomRight: String
    public var arrow: String, bidirectional: String, breadcrumb: String, ellipsis: String
    public var up: String, down: String, sortAscending: String, sortDescending: String
    public var barFull: String, barEmpty: String, tag: String
    /// Eight levels, lowest first.
    public var levels: [String]

    public static let unicode = Glyphs(horizontal: "─", vertical: "│", topLeft: "┌", topRight: "┐", bottomLeft: "└",
                                       bottomRight: "┘", arrow: "→", bidirectional: "⇄", breadcrumb: " › ",
                                       ellipsis: "…", up: "↑", down: "↓", sortAscending: "▲", sortDescending: "▼",
                                       barFull: "█", barEmpty: "░", tag: "●",
                                       levels: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"])
    public static let ascii = Glyphs(horizontal: "-", vertical: "|", topLeft: "+", topRight: "+", bottomLeft: "+",
                                     bottomRight: "+", arrow: ">", bidirectional: "<>", breadcrumb: " > ",
                                     ellipsis: "~", up: "^", down: "v", sortAscending: "^", sortDescending: "v",
                                     barFull: "#", barEmpty: ".", tag: "*",
                                     levels: ["_", ".", ",", "-", "=", "+", "*", "#"])
}

/// Number, time and size formatting for narrow cells. Pure and locale-independent.
public enum Format {
    /// `Int(x)` that never traps: NaN becomes 0, out-of-range values clamp.
    public static func clampedInt(_ x: Double) -> Int {
        guard !x.isNaN else { return 0 }
        if x >= 9.0e18 { return 9_000_000_000_000_000_000 }
        if x <= -9.0e18 { return -9_000_000_000_000_000_000 }
        return Int(x)
    }

    /// `1.2K`, `34M`, `5.0G` (powers of 1024, at most 5 columns); `?` when not a number.
    public static func size(_ v: Double) -> String {
        guard v.isFinite else { return "?" }
        if v < 0 { return "-" + size(-v) }
        if v < 1000 { return String(Int(v.rounded())) }
        let units = ["K", "M", "G", "T", "P", "E"]
        var x = v
        var i = -1
        while x >= 1000 && i < units.count - 1 { x /= 1024; i += 1 }
        return (x < 10 ? fixed(x, 1) : String(clampedInt(x.rounded()))) + units[i]
    }

    public static func size(_ v: UInt64) -> String { size(Double(v)) }

    /// A rate in bytes per second: `1.2M/s`, `0/s`.
    public static func rate(_ bytesPerSecond: Double) -> String { size(bytesPerSecond) + "/s" }

    /// `x` with `digits` decimals, rounded half up.
    public static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite, abs(x) < 1e15 else { return x.isNaN ? "?" : (x < 0 ? "-inf" : "inf") }
        var m = 1.0
        for _ in 0..<digits { m *= 10 }
        let r = Int((x * m).rounded())
        let ip = r / Int(m), fp = abs(r % Int(m))
        if digits == 0 { return String(ip) }
        let f = String(fp)
        return "\(ip).\(String(repeating: "0", count: max(0, digits - f.count)))\(f)"
    }

    /// Compact duration: `42s`, `3m12s`, `2h05m`, `3d04h`; `-` for negative.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        if seconds >= 86400 * 100_000 { return ">100000d" }
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
        if s < 86400 { return "\(s / 3600)h\(two(s % 3600 / 60))m" }
        return "\(s / 86400)d\(two(s % 86400 / 3600))h"
    }

    static func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// `HH:MM:SS` of an epoch time shifted by `utcOffset` seconds.
    public static func clock(_ t: Double, utcOffset: Int = 0) -> String {
        guard t.isFinite, abs(t) < 1e15 else { return "--:--:--" }
        let s = ((Int(t.rounded(.down)) + utcOffset) % 86400 + 86400) % 86400
        return "\(two(s / 3600)):\(two(s % 3600 / 60)):\(two(s % 60))"
    }

    /// `ago` relative to now: `3s ago`, `never`.
    public static func ago(_ t: Double?, now: Double) -> String {
        guard let t, t > 0 else { return "never" }
        return duration(max(0, now - t)) + " ago"
    }

    /// Integer with thin grouping: `1234567` -> `1,234,567`.
    public static func grouped(_ v: UInt64) -> String {
        let s = String(v)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }

    /// A sparkline of the last `width` samples scaled to their maximum.
    public static func sparkline(_ values: [Double], width: Int, glyphs: Glyphs) -> String {
        guard width > 0 else { return "" }
        let tail = values.suffix(width).map { $0.isFinite ? $0 : 0 }
        let peak = tail.max() ?? 0
        var s = String(repeating: " ", count: width - tail.count)
        for v in tail {
            if peak <= 0 || v <= 0 { s += " "; continue }
            let i = min(7, max(0, Int((v / peak * 8).rounded(.up)) - 1))
            s += glyphs.levels[i]
        }
        return s
    }

    /// Rows of a bar graph (top row first), `height` rows of eight levels each.
    public static func graph(_ values: [Double], width: Int, height: Int, glyphs: Glyphs) -> [String] {
        guard width > 0, height > 0 else { return [] }
        let tail = values.suffix(width).map { $0.isFinite ? $0 : 0 }
        let peak = tail.max() ?? 0
        let pad = width - tail.count
        return (0..<height).map { rowFromTop -> String in
            let row = height - 1 - rowFromTop
            var s = String(repeating: " ", count: pad)
            for v in tail {
                let eighths = peak > 0 ? Int((v / peak * Double(height * 8)).rounded(.up)) : 0
                let here = eighths - row * 8
                if here <= 0 { s += " " } else { s += glyphs.levels[min(7, here - 1)] }
            }
            return s
        }
    }

    /// `espinudp 4500→31245`.
    public static func encap(_ e: XFRMEncapsulation?, glyphs: Glyphs) -> String {
        guard let e else { return "-" }
        return "\(e.sourcePort)\(glyphs.arrow)\(e.destinationPort)"
    }
}

/// How much of an SA's lifetime is used: the largest of time, bytes and packets
/// relative to the hard limit (or soft limit when there is no hard one).
public struct LifetimeUse: Hashable, Sendable {
    /// 0...1 of the hard limit; nil when the SA has no limit at all.
    public var fraction: Double?
    /// Position of the soft limit on the same scale.
    public var softFraction: Double?
    /// Which limit is closest: `time`, `bytes`, `packets`.
    public var limitKind: String
    /// Seconds until hard expiry by time, if time-limited.
    public var secondsToHard: Double?

    public init(state: XFRMState, now: Double) {
        self.init(config: state.lifetimeConfig, current: state.lifetimeCurrent, now: now)
    }

    /// The same from the two lifetime records alone.
    public init(config cfg: XFRMLifetimeConfig, current cur: XFRMLifetimeCurrent, now: Double) {
        var best: (Double, Double?, String)? = nil
        func consider(_ used: Double, soft: UInt64, hard: UInt64, zeroIsInfinite: Bool, kind: String) {
            let inf: (UInt64) -> Bool = { $0 == .max || (zeroIsInfinite && $0 == 0) }
            let limit = !inf(hard) ? hard : (!inf(soft) ? soft : nil)
            guard let limit, limit > 0 else { return }
            let f = min(1, used / Double(limit))
            let sf = inf(soft) ? nil : min(1, Double(soft) / Double(limit))
            if best == nil || f > best!.0 { best = (f, sf, kind) }
        }
        let age = cur.addTime > 0 ? max(0, now - Double(cur.addTime)) : 0
        consider(age, soft: cfg.softAddExpiresSeconds, hard: cfg.hardAddExpiresSeconds, zeroIsInfinite: true, kind: "time")
        consider(Double(cur.bytes), soft: cfg.softByteLimit, hard: cfg.hardByteLimit, zeroIsInfinite: false, kind: "bytes")
        consider(Double(cur.packets), soft: cfg.softPacketLimit, hard: cfg.hardPacketLimit, zeroIsInfinite: false, kind: "packets")
        fraction = best?.0; softFraction = best?.1; limitKind = best?.2 ?? "none"
        if cfg.hardAddExpiresSeconds != 0, cfg.hardAddExpiresSeconds != .max, cur.addTime > 0 {
            secondsToHard = Double(cur.addTime) + Double(cfg.hardAddExpiresSeconds) - now
        } else { secondsToHard = nil }
    }
}
