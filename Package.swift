// swift-tools-version:6.0
import PackageDescription

/// Warnings are errors in every Swift target.
let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]
let strictC: [CSetting] = [.unsafeFlags(["-Wall", "-Werror"])]

let package = Package(
    name: "ipsectop",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ipsectop", targets: ["ipsectop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/pointfreeco/swift-snapshot-testing", from: "1.17.0"),
    ],
    targets: [
        // C shims: kernel XFRM/netlink headers only (no library linked).
        .target(name: "CXFRM", cSettings: strictC),
        // C shims over libmnl (links libmnl).
        .target(name: "CMNL", dependencies: ["CXFRM"], cSettings: strictC,
                linkerSettings: [.linkedLibrary("mnl")]),
        // C shims over ncursesw (links ncursesw).
        .target(name: "CNCurses", cSettings: strictC,
                linkerSettings: [.linkedLibrary("ncursesw")]),

        // Pure wire codec: bytes <-> typed XFRM messages.
        .target(name: "XFRMWire", dependencies: ["CXFRM"], swiftSettings: strict),
        // Sockets: the only Swift code that talks to the kernel.
        .target(name: "XFRMKernel", dependencies: ["XFRMWire", "CMNL", "CXFRM"], swiftSettings: strict),
        // The live model: a pure reducer.
        .target(name: "IPsecModel", dependencies: [
            "XFRMWire", .product(name: "Collections", package: "swift-collections"),
        ], swiftSettings: strict),
        // Action planning: SA selection, validity checks, confirmation text (pure).
        .target(name: "IPsecActions", dependencies: ["XFRMWire"], swiftSettings: strict),
        // Snapshot/event export (text tables, JSON, NDJSON) from the same model.
        .target(name: "IPsecExport", dependencies: ["IPsecModel", "XFRMWire"], swiftSettings: strict),
        // Views rendered into an in-memory screen buffer.
        .target(name: "IPsecViews", dependencies: ["IPsecModel", "XFRMWire"], swiftSettings: strict),
        // The only code that calls ncurses.
        .target(name: "TerminalBackend", dependencies: ["IPsecViews", "CNCurses"], swiftSettings: strict),
        .executableTarget(name: "ipsectop", dependencies: [
            "XFRMWire", "XFRMKernel", "IPsecModel", "IPsecExport", "IPsecActions", "IPsecViews", "TerminalBackend",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        // Helpers shared by the test targets (not part of any product).
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "XFRMWireTests", dependencies: ["XFRMWire", "CXFRM", "TestSupport"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "XFRMKernelTests", dependencies: ["XFRMKernel", "XFRMWire"], swiftSettings: strict),
        .testTarget(name: "IPsecModelTests", dependencies: ["IPsecModel", "XFRMWire", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "IPsecActionsTests", dependencies: ["IPsecActions", "XFRMWire", "XFRMKernel"], swiftSettings: strict),
        .testTarget(name: "IPsecExportTests", dependencies: ["IPsecExport", "IPsecModel", "XFRMWire", "TestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "IPsecViewsTests", dependencies: [
            "IPsecViews", "IPsecModel", "XFRMWire", "TestSupport",
            .product(name: "SnapshotTesting", package: "swift-snapshot-testing"),
        ],
                    resources: [.copy("__Snapshots__")], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: ["XFRMWire"], swiftSettings: strict),
    ]
)
