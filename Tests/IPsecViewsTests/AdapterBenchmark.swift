import XCTest
import IPsecModel
import XFRMWire
@testable import IPsecViews

/// Cost of turning the live model into view data with 100,000 SAs (printed, not asserted;
/// runs only with `IPSECTOP_BENCH=1`).
final class AdapterBenchmark: XCTestCase {
    func testDashboardDataFromModelWith100kSAs() throws {
        guard ProcessInfo.processInfo.environment["IPSECTOP_BENCH"] == "1" else { throw XCTSkip("set IPSECTOP_BENCH=1") }
        let rows = Fixtures.data(extraSAs: 100_000 - 6).sas
        var m = LiveModel()
        m.apply(.localAddresses([Fixtures.local, Fixtures.local6]), at: Fixtures.now - 1)
        m.apply(.dumpBegan(.sa), at: Fixtures.now - 1)
        m.apply(.saDump(rows.map(\.state)), at: Fixtures.now - 1)
        m.apply(.dumpBegan(.sa), at: Fixtures.now)
        m.apply(.saDump(rows.map(\.state)), at: Fixtures.now)
        var times: [Double] = []
        for i in 0..<5 {
            let t0 = ContinuousClock.now
            let data = DashboardData(model: m, now: Fixtures.now + Double(i), host: HostInfo(host: "h", netns: "n", kernel: "k"))
            let d = ContinuousClock.now - t0
            times.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
            XCTAssertEqual(data.sas.count, 100_000)
        }
        print("AdapterBenchmark DashboardData(model:) 100k SAs, ms: " + times.map { Format.fixed($0, 1) }.joined(separator: " "))
        // Resident memory the view layer adds: the data plus a dashboard holding it (filter keys built).
        let before = residentBytes()
        var d = Dashboard(cols: 200, rows: 50)
        d.update(DashboardData(model: m, now: Fixtures.now, host: HostInfo(host: "h", netns: "n", kernel: "k")), now: Fixtures.now)
        _ = d.handle(.key(.character("/")), now: Fixtures.now)
        _ = d.handle(.key(.character("1")), now: Fixtures.now)
        let after = residentBytes()
        print("AdapterBenchmark view layer resident bytes per SA: \((after - before) / 100_000)")
        XCTAssertEqual(d.data.sas.count, 100_000)
    }

    func residentBytes() -> Int {
        let parts = (readTextFile("/proc/self/statm") ?? "").split(separator: " ")
        let pages = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
