// swift-tools-version:6.0
// libFuzzer harness for Lucerna's file readers (IDX/gzip, WAV, CSV, safetensors), checkpoint resume and the
// WAV resampler. Built and run by scripts/fuzz.sh with
// -sanitize=fuzzer,address; not part of the main package.
import PackageDescription

let package = Package(
    name: "LucernaFuzz",
    dependencies: [.package(name: "Lucerna", path: "../..")],
    targets: [
        .executableTarget(
            name: "LucernaFuzz",
            dependencies: [
                .product(name: "LucernaData", package: "Lucerna"), .product(name: "LucernaTrain", package: "Lucerna"),
            ])
    ]
)
