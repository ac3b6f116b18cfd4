import XCTest
@testable import IPsecViews

/// Frame-build measurements with 100,000 SAs. Not a test of speed (nothing is asserted about
/// time): it runs only with `IPSECTOP_BENCH=1` and prints p50/p99. Use a release build
/// (`swift test -c release -Xswiftc -enable-testing --filter FrameBenchmark`) for real numbers.
final class FrameBenchmark: XCTestCase {
    func testFrameBuildWith100kSAs() throws {
        guard ProcessInfo.processInfo.environment["IPSECTOP_BENCH"] == "1" else { throw XCTSkip("set IPSECTOP_BENCH=1") }
        let data = Fixtures.data(extraSAs: 100_000 - 6)
        var clock = ContinuousClock.now
        func lap() -> Double {
            let n = ContinuousClock.now
            let d = n - clock
            clock = n
            return Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
        }
        var d = Dashboard(cols: 200, rows: 50)
        _ = lap()
        d.update(data, now: Fixtures.now)
        let firstUpdate = lap()
        // Sort by rate, descending, then filter.
        for _ in 0..<20 where d.lists[0].sortColumn != "rate" { _ = d.handle(.key(.character(">")), now: Fixtures.now) }
        _ = d.handle(.key(.character("I")), now: Fixtures.now)
        let sort = lap()
        for ch in "198.51.100.1" { _ = d.handle(.key(.character(ch)), now: Fixtures.now) } // not editing: ignored keys
        _ = d.handle(.key(.character("/")), now: Fixtures.now)
        var typing: [Double] = []
        for ch in "198.51.100.1" { _ = lap(); _ = d.handle(.key(.character(ch)), now: Fixtures.now); typing.append(lap()) }
        _ = d.handle(.key(.enter), now: Fixtures.now)
        let visible = d.lists[0].visible.count
        // Refresh with new counters (what happens once per interval).
        _ = lap()
        d.update(data, now: Fixtures.now + 1)
        let refresh = lap()
        // Where a refresh goes: re-sort alone, search keys alone.
        _ = lap()
        d.lists[0].sortedAll = nil
        d.refreshList(.sas)
        let resortOnly = lap()
        d.searchKeys[0] = nil
        _ = d.keys(.sas)
        let keysCached = lap()
        var copy = d
        _ = lap()
        copy.update(data, now: Fixtures.now + 2)
        let update2 = lap()
        print("  breakdown: re-sort+filter \(Format.fixed(resortOnly, 1)), cached keys \(Format.fixed(keysCached, 1)), update again \(Format.fixed(update2, 1))")
        // Frames: render only (the per-frame path), and key press + render.
        var frames: [Double] = []
        var keyFrames: [Double] = []
        for i in 0..<300 {
            _ = lap()
            _ = d.render(now: Fixtures.now + 1 + Double(i) / 100)
            frames.append(lap())
            _ = d.handle(.key(i % 40 < 20 ? .down : .pageDown), now: Fixtures.now + 1)
            _ = d.render(now: Fixtures.now + 1)
            keyFrames.append(lap())
        }
        func pct(_ xs: [Double], _ p: Double) -> String {
            let s = xs.sorted()
            return Format.fixed(s[min(s.count - 1, Int(Double(s.count) * p))], 3)
        }
        print("""
            FrameBenchmark 100k SAs (200x50), ms:
              first update (copy, change tracking, sort): \(Format.fixed(firstUpdate, 1))
              re-sort by rate desc: \(Format.fixed(sort, 1))
              filter keystroke: p50 \(pct(typing, 0.5)) max \(pct(typing, 1)) (\(visible) rows match)
              refresh update: \(Format.fixed(refresh, 1))
              frame build: p50 \(pct(frames, 0.5)) p99 \(pct(frames, 0.99))
              key press + frame: p50 \(pct(keyFrames, 0.5)) p99 \(pct(keyFrames, 0.99))
            """)
    }
}
