// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Lucerna",
    products: [
        .executable(name: "lucerna", targets: ["lucerna"]),
        .library(name: "LucernaCore", targets: ["LucernaCore"]),
        .library(name: "LucernaNN", targets: ["LucernaNN"]),
        .library(name: "LucernaData", targets: ["LucernaData"]),
        .library(name: "LucernaTrain", targets: ["LucernaTrain"]),
        .library(name: "LucernaComponents", targets: ["LucernaComponents"]),
        .library(name: "LucernaRun", targets: ["LucernaRun"]),
        .library(name: "LucernaLua", targets: ["LucernaLua"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CLua", path: "Sources/CLua", pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]),
        .target(name: "LucernaCore", dependencies: ["CBLAS", "CKernels"]),
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "LucernaNN", dependencies: ["LucernaCore", "CKernels"]),
        .target(name: "LucernaData", dependencies: ["LucernaCore", "CZlib"]),
        .target(name: "LucernaTrain", dependencies: ["LucernaCore", "LucernaNN", "LucernaData", "LucernaComponents"]),
        .target(name: "LucernaComponents", dependencies: ["LucernaCore", "LucernaNN", "LucernaData"]),
        .target(
            name: "LucernaRun",
            dependencies: ["LucernaCore", "LucernaNN", "LucernaData", "LucernaComponents", "LucernaTrain"]),
        .target(
            name: "LucernaLua",
            dependencies: [
                "CLua", "LucernaCore", "LucernaNN", "LucernaData", "LucernaComponents", "LucernaTrain", "LucernaRun",
            ]),
        .executableTarget(
            name: "lucerna",
            dependencies: [
                "LucernaCore", "LucernaNN", "LucernaData", "LucernaTrain", "LucernaComponents", "LucernaRun",
                "LucernaLua",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(
            name: "LucernaTestSupport", dependencies: ["LucernaCore", "LucernaData"], path: "Tests/LucernaTestSupport"),
        .testTarget(name: "LucernaCoreTests", dependencies: ["LucernaCore"]),
        .testTarget(name: "LucernaNNTests", dependencies: ["LucernaNN", "LucernaTestSupport"]),
        .testTarget(name: "LucernaDataTests", dependencies: ["LucernaData", "LucernaTestSupport"]),
        .testTarget(
            name: "LucernaTrainTests", dependencies: ["LucernaTrain", "LucernaComponents", "LucernaTestSupport"]),
        .testTarget(name: "LucernaComponentsTests", dependencies: ["LucernaComponents", "LucernaTestSupport"]),
        .testTarget(name: "LucernaRunTests", dependencies: ["LucernaRun", "LucernaComponents", "LucernaTestSupport"]),
        .testTarget(
            name: "LucernaLuaTests",
            dependencies: ["LucernaLua", "LucernaRun", "LucernaComponents", "LucernaTestSupport", "lucerna"]),
    ]
)
