import XCTest
@testable import IPsecViews

final class ScreenBufferTests: XCTestCase {
    func testWriteClipsAtWidthAndEdge() {
        var b = ScreenBuffer(cols: 10, rows: 2)
        XCTAssertEqual(b.write("hello world", x: 0, y: 0, maxWidth: 5), 5)
        XCTAssertEqual(b.line(0), "hello     ")
        XCTAssertEqual(b.write("abcdef", x: 7, y: 1), 3)
        XCTAssertEqual(b.line(1), "       abc")
        XCTAssertEqual(b.write("x", x: 0, y: 5), 0)
        XCTAssertEqual(b.write("xyz", x: -2, y: 1), 1)
        XCTAssertEqual(b.line(1), "z      abc")
    }

    func testWideCharactersTakeTwoCellsAndAreNeverSplit() {
        var b = ScreenBuffer(cols: 6, rows: 1)
        XCTAssertEqual(b.write("漢字x", x: 0, y: 0), 5)
        XCTAssertTrue(b[1, 0].isContinuation)
        XCTAssertEqual(b.line(0), "漢字x ")
        var c = ScreenBuffer(cols: 6, rows: 1)
        // Only 3 columns allowed: the second wide char would straddle, so a space is drawn.
        XCTAssertEqual(c.write("漢字", x: 0, y: 0, maxWidth: 3), 3)
        XCTAssertEqual(c.line(0), "漢    ")
        XCTAssertEqual(TextWidth.of("a\u{301}b"), 2)
        XCTAssertEqual(TextWidth.of("🔒"), 2)
    }

    func testOverwritingHalfOfAWideCharBlanksTheOtherHalf() {
        var b = ScreenBuffer(cols: 4, rows: 1)
        b.write("漢", x: 0, y: 0)
        b.write("a", x: 1, y: 0)
        XCTAssertEqual(b.line(0), " a  ")
    }

    func testControlCharactersAreMadeVisible() {
        var b = ScreenBuffer(cols: 20, rows: 1)
        b.write("a\u{1b}[31mb\u{7}", x: 0, y: 0)
        XCTAssertEqual(b.line(0), "a^[[31mb^G          ")
        XCTAssertEqual(Sanitizer.clean("ctx\u{1b}]0;pwned\u{7}\u{202e}x"), "ctx\\x1b]0;pwned\\x07\\u{202e}x")
        XCTAssertEqual(Sanitizer.clean("system_u:object_r:ipsec_spd_t:s0"), "system_u:object_r:ipsec_spd_t:s0")
    }

    func testStyleRunsAndSnapshotText() {
        var b = ScreenBuffer(cols: 8, rows: 2)
        b.write("ab", x: 0, y: 0, role: .header, attributes: .bold)
        b.write("cd", x: 4, y: 1, role: .error)
        let runs = b.styleRuns
        XCTAssertEqual(runs.count, 2)
        XCTAssertEqual(runs[0], .init(row: 0, column: 0, length: 2, role: .header, attributes: .bold))
        XCTAssertEqual(b.snapshotText, "ab\n    cd\n--- styles (row col+len role attrs) ---\n0 0+2 header bold\n1 4+2 error\n")
    }

    func testTruncateAndPad() {
        XCTAssertEqual(TextWidth.truncate("abcdef", to: 4), "abc…")
        XCTAssertEqual(TextWidth.truncate("abc", to: 4), "abc")
        XCTAssertEqual(TextWidth.pad("ab", to: 4, right: true), "  ab")
        XCTAssertEqual(TextWidth.pad("abcdef", to: 4, ellipsis: "~"), "abc~")
    }
}
