import XCTest
@testable import IPsecViews

final class ThemeTests: XCTestCase {
    static let themesDirectory: String = {
        // Tests/IPsecViewsTests/ThemeTests.swift -> checkout root.
        var p = #filePath
        for _ in 0..<3 { p = String(p[..<p.lastIndex(of: "/")!]) }
        return p + "/Themes"
    }()

    static let shipped = ["default-dark", "light", "high-contrast", "colorblind-safe", "monochrome"]

    func testEveryShippedThemeLoads() throws {
        for name in Self.shipped {
            let theme = try Theme.load(path: Self.themesDirectory + "/\(name).theme")
            XCTAssertEqual(theme.styles.count, ThemeRole.allCases.count, name)
            XCTAssertFalse(theme.name.isEmpty)
        }
        // And every *.theme file in the directory, including ones added later.
        let dir = try XCTUnwrap(opendir(Self.themesDirectory))
        var count = 0
        while let e = readdir(dir) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard n.hasSuffix(".theme") else { continue }
            _ = try Theme.load(path: Self.themesDirectory + "/" + n)
            count += 1
        }
        closedir(dir)
        XCTAssertGreaterThanOrEqual(count, 5)
    }

    func testMonochromeThemeHasNoColours() throws {
        let t = try Theme.load(path: Self.themesDirectory + "/monochrome.theme")
        for r in ThemeRole.allCases {
            XCTAssertEqual(t.style(r).foreground, .terminalDefault)
            XCTAssertEqual(t.style(r).background, .terminalDefault)
        }
        XCTAssertTrue(t.style(.rowSelected).attributes.contains(.reverse))
    }

    func testUnknownKeyNamesFileLineAndKey() {
        let text = "normal = default default\nrow-selectd = black white\n"
        XCTAssertThrowsError(try Theme.parse(text, file: "x.theme")) { e in
            let err = e as! Theme.LoadError
            XCTAssertEqual(err.file, "x.theme")
            XCTAssertEqual(err.line, 2)
            XCTAssertEqual(err.key, "row-selectd")
            XCTAssertEqual(err.description, "x.theme:2: row-selectd: unknown key")
        }
    }

    func testMissingKeyIsAnError() throws {
        var text = try XCTUnwrap(readTextFile(Self.themesDirectory + "/light.theme"))
        text = text.split(separator: "\n").filter { !$0.hasPrefix("sparkline") }.joined(separator: "\n")
        XCTAssertThrowsError(try Theme.parse(text, file: "light.theme")) { e in
            XCTAssertEqual((e as! Theme.LoadError).key, "sparkline")
            XCTAssertEqual((e as! Theme.LoadError).reason, "missing key")
        }
    }

    func testBadColourAndAttributeAndDuplicate() {
        XCTAssertThrowsError(try Theme.parse("normal = purple default", file: "f")) {
            XCTAssertEqual(($0 as! Theme.LoadError).reason, "unknown colour \"purple\"")
        }
        XCTAssertThrowsError(try Theme.parse("normal = red default blink", file: "f")) {
            XCTAssertEqual(($0 as! Theme.LoadError).reason, "unknown attribute \"blink\"")
        }
        XCTAssertThrowsError(try Theme.parse("normal = red default\nnormal = red default", file: "f")) {
            XCTAssertEqual(($0 as! Theme.LoadError).line, 2)
        }
    }

    func testColourDepthReduction() {
        XCTAssertEqual(ThemeColor(name: "color196")?.reduced(to: .colors256), .palette(196))
        XCTAssertEqual(ThemeColor(name: "color196")?.reduced(to: .colors16), .palette(9))
        XCTAssertEqual(ThemeColor(name: "color196")?.reduced(to: .colors8), .palette(1))
        XCTAssertEqual(ThemeColor(name: "bright-green")?.reduced(to: .colors8), .palette(2))
        XCTAssertEqual(ThemeColor(name: "color110")?.reduced(to: .colors8), .palette(6), "light blue reads as cyan")
        XCTAssertEqual(ThemeColor(name: "color114")?.reduced(to: .colors8), .palette(2), "light green stays green")
        XCTAssertEqual(ThemeColor(name: "color214")?.reduced(to: .colors8), .palette(3), "orange becomes yellow")
        XCTAssertEqual(ThemeColor(name: "color203")?.reduced(to: .colors8), .palette(1))
        XCTAssertEqual(ThemeColor(name: "color236")?.reduced(to: .colors8), .palette(0))
        XCTAssertEqual(ThemeColor(name: "color250")?.reduced(to: .colors8), .palette(7))
        XCTAssertEqual(ThemeColor(name: "color244")?.reduced(to: .colors8), .terminalDefault, "no grey in 8 colours")
        XCTAssertEqual(ThemeColor(name: "color244")?.reduced(to: .colors16), .palette(8))
        XCTAssertNil(ThemeColor(name: "red")?.reduced(to: .monochrome))
        XCTAssertEqual(ColorDepth.detect(colors: 256, environment: ["NO_COLOR": "1"]), .monochrome)
        XCTAssertEqual(ColorDepth.detect(colors: 256, environment: ["NO_COLOR": ""]), .colors256)
        XCTAssertEqual(ColorDepth.detect(colors: 8, environment: [:]), .colors8)
    }

    func testReducedColoursNeverHideTextInEveryShippedTheme() throws {
        for name in Self.shipped {
            let t = try Theme.load(path: Self.themesDirectory + "/\(name).theme")
            for depth in [ColorDepth.colors256, .colors16, .colors8] {
                for r in ThemeRole.allCases {
                    let x = t.resolved(r, depth: depth)
                    if case .palette(let f)? = x.fg, case .palette(let b)? = x.bg {
                        XCTAssertNotEqual(f, b, "\(name) \(r) at \(depth)")
                    }
                }
            }
        }
    }

    func testMonochromeKeepsSelectionVisibleForAnyTheme() throws {
        let t = try Theme.load(path: Self.themesDirectory + "/default-dark.theme")
        let r = t.resolved(.rowSelected, depth: .monochrome)
        XCTAssertNil(r.fg)
        XCTAssertTrue(r.attributes.contains(.reverse))
    }

    func testLocatorOrder() throws {
        let tmp = "/tmp/ipsectop-theme-test-\(getpid())"
        mkdir(tmp, 0o755); mkdir(tmp + "/ipsectop", 0o755); mkdir(tmp + "/ipsectop/themes", 0o755)
        let user = tmp + "/ipsectop/themes/light.theme"
        let f = fopen(user, "w")
        fputs(try XCTUnwrap(readTextFile(Self.themesDirectory + "/light.theme")).replacingOccurrences(of: "name = Light", with: "name = Mine"), f)
        fclose(f)
        defer { unlink(user) }
        let loc = ThemeLocator(environment: ["XDG_CONFIG_HOME": tmp], executablePath: "/nonexistent/bin/ipsectop")
        XCTAssertEqual(loc.path(for: "light"), user)
        XCTAssertEqual(try loc.load("light").name, "Mine")
        XCTAssertEqual(try loc.load("high-contrast").name, "High contrast")
        XCTAssertEqual(try loc.load(nil).name, "Default dark")
        XCTAssertEqual(try loc.load(Self.themesDirectory + "/monochrome.theme").name, "Monochrome")
        XCTAssertThrowsError(try loc.load("nope"))
        XCTAssertEqual(loc.shippedDirectory.map { $0.hasSuffix("/Themes") }, true)
        XCTAssertEqual(loc.availableThemes(), ["default-dark", "colorblind-safe", "high-contrast", "light", "monochrome"])
    }
}

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: a) {
            out += rest[..<r.lowerBound] + b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
