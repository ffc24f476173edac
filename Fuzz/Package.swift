// swift-tools-version: 6.1
import Foundation
import PackageDescription

// libFuzzer targets (one binary, `FUZZ_TARGET` picks the surface), a package of their own so `make test` never builds them (`make fuzz` does, with
// `-Xswiftc -sanitize=fuzzer,address`). Each target feeds bytes to one property in the root
// package's FuzzProperties; the root is a path dependency whose identity is its directory's name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "imagebuildd-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(
            name: "imagebuildd-fuzz",
            dependencies: [.product(name: "FuzzProperties", package: root.lastPathComponent)],
            // libFuzzer supplies main().
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
