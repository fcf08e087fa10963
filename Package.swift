// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "DeepFusion",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "dfc", targets: ["dfc"]),
        .library(name: "DeepFusion", targets: ["DeepFusion"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // libprotobuf-c, found through pkg-config; no code of its own.
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        // protoc-c output for proto/onnx-subset.proto (regenerate: make proto).
        .target(name: "CONNX", dependencies: ["CProtobufC"]),
        // The modeled accelerator: config, ISA, .dfx container, executor.
        .target(name: "Accelerator"),
        // The compiler: ONNX import, graph IR, passes, reference interpreter.
        .target(name: "DeepFusion", dependencies: ["CONNX", "Accelerator"]),
        // The command line as a library, so tests can drive it.
        .target(
            name: "DFCCommands",
            dependencies: [
                "DeepFusion", "Accelerator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "dfc", dependencies: ["DFCCommands"]),
        .testTarget(name: "DeepFusionTests", dependencies: ["DeepFusion"]),
        .testTarget(name: "AcceleratorTests", dependencies: ["Accelerator"]),
        .testTarget(name: "DFCCommandsTests", dependencies: ["DFCCommands", "DeepFusion"]),
    ]
)
