// swift-tools-version:6.0
//
// ipsectop benchmarks: a plain executable, built separately from the main package so
// that `swift build` at the root stays as light as before (CI rebuilds from scratch).
//
// The root package exports only the `ipsectop` executable, so a path dependency on it
// cannot import its library targets. Shared/ holds symlinks to ../Sources/<Target>:
// the benchmark compiles exactly the sources the tool ships, with the same settings.
// Run it through Benchmarks/run.sh (see BENCHMARKS.md).
import PackageDescription

let package = Package(
    name: "ipsectop-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        .target(name: "CXFRM", path: "Shared/CXFRM"),
        .target(name: "CMNL", dependencies: ["CXFRM"], path: "Shared/CMNL",
                linkerSettings: [.linkedLibrary("mnl")]),
        .target(name: "XFRMWire", dependencies: ["CXFRM"], path: "Shared/XFRMWire"),
        // VICI.swift (strongSwan control socket) is not needed to dump or to decode.
        .target(name: "XFRMKernel", dependencies: ["XFRMWire", "CMNL", "CXFRM"], path: "Shared/XFRMKernel",
                exclude: ["VICI.swift"]),
        .target(name: "IPsecModel", dependencies: [
            "XFRMWire", .product(name: "Collections", package: "swift-collections"),
        ], path: "Shared/IPsecModel"),
        .target(name: "IPsecViews", dependencies: ["IPsecModel", "XFRMWire"], path: "Shared/IPsecViews"),
        .executableTarget(name: "ipsectop-bench", dependencies: [
            "CXFRM", "XFRMWire", "XFRMKernel", "IPsecModel", "IPsecViews",
        ]),
    ]
)
