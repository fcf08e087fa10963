// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "DeepFusion",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "dfc", targets: ["dfc"]),
        .library(
            name: "DeepFusion",
            targets: [
                "Tensors", "GraphIR", "ONNXImport", "ReferenceInterpreter", "GraphPasses", "Accelerator", "Compiler"
            ]
        )
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // libprotobuf-c, found through pkg-config; no code of its own.
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        // OpenBLAS (Debian's libopenblas-dev), found through pkg-config: the executor's matrix products.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // protoc-c output for proto/onnx-subset.proto (regenerate: make proto).
        .target(name: "CONNX", dependencies: ["CProtobufC"]),
        // The signal handler that removes temporary output files; C because it must be async-signal-safe.
        .target(name: "CTempFiles"),
        // CRC-32C with the CPU's crc32 instruction (SSE4.2, enabled for one function, checked at run time).
        .target(name: "CCRC32C"),
        // Row kernels of depthwise convolution and pooling with AVX2 and FMA, checked at run time; the executor's worker threads.
        .target(name: "CKernels"),
        // The tensor value, its dtype, .npy files, output files, the seeded generator and the comparator everyone shares.
        .target(name: "Tensors", dependencies: ["CTempFiles"]),
        // The graph IR: nodes, the closed op set, shape inference.
        .target(name: "GraphIR", dependencies: ["Tensors"]),
        // ONNX protobuf (and TensorProto files) -> graph IR; the only Swift that touches C.
        .target(name: "ONNXImport", dependencies: ["Tensors", "GraphIR", "CONNX"]),
        // Plain fp32 kernels that evaluate any graph: the oracle for passes and codegen.
        .target(name: "ReferenceInterpreter", dependencies: ["Tensors", "GraphIR"]),
        // The pass protocol, registry and manager, and the canonicalizing passes.
        .target(name: "GraphPasses", dependencies: ["Tensors", "GraphIR", "ReferenceInterpreter"]),
        // The modeled accelerator: config, ISA, .dfx container, executor.
        .target(name: "Accelerator", dependencies: ["Tensors", "CCRC32C", "COpenBLAS", "CKernels"]),
        // The compiler: fusion planning, memory layout, emission, the scheduling stages.
        .target(name: "Compiler", dependencies: ["Tensors", "GraphIR", "Accelerator"]),
        // SVG charts (axes with ticks, series, stacked bars, legends) for dfc explore; no dependencies.
        .target(name: "Plots"),
        // The command line as a library, so tests can drive it; also the --verify oracle.
        .target(
            name: "DFCCommands",
            dependencies: [
                "Tensors", "GraphIR", "ONNXImport", "ReferenceInterpreter", "GraphPasses", "Accelerator", "Compiler",
                "Plots", .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]
        ),
        .executableTarget(name: "dfc", dependencies: ["DFCCommands"]),
        // Prints the man page, dfc(1), from the command definitions; make install runs it.
        .executableTarget(name: "dfc-manual", dependencies: ["DFCCommands"]),

        // Helpers the test targets share: repository paths, seeded test tensors, fixtures.
        .target(name: "TestSupport", dependencies: ["Tensors", "GraphIR", "ONNXImport", "GraphPasses", "Accelerator"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(
            name: "GraphIRTests", dependencies: ["Tensors", "GraphIR", "ONNXImport", "GraphPasses", "TestSupport"]),
        .testTarget(name: "ONNXImportTests", dependencies: ["Tensors", "GraphIR", "ONNXImport", "TestSupport"]),
        .testTarget(
            name: "InterpreterTests",
            dependencies: ["Tensors", "GraphIR", "ONNXImport", "ReferenceInterpreter", "TestSupport"]),
        .testTarget(
            name: "GraphPassesTests",
            dependencies: ["Tensors", "GraphIR", "ONNXImport", "ReferenceInterpreter", "GraphPasses", "TestSupport"]
        ),
        .testTarget(
            name: "CompilerTests",
            dependencies: [
                "Tensors", "GraphIR", "ONNXImport", "ReferenceInterpreter", "GraphPasses", "Accelerator", "Compiler",
                "DFCCommands", "TestSupport"
            ]
        ),
        .testTarget(name: "PlotsTests", dependencies: ["Plots", "TestSupport"]),
        .testTarget(name: "AcceleratorTests", dependencies: ["Tensors", "Accelerator", "TestSupport"]),
        .testTarget(
            name: "DFCCommandsTests",
            dependencies: [
                "DFCCommands", "Tensors", "GraphIR", "ONNXImport", "GraphPasses", "Accelerator", "Compiler",
                "Plots", "TestSupport"
            ])
    ]
)
