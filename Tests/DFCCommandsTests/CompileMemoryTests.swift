import Foundation
import ONNXImport
import Tensors
import TestSupport
import Testing

/// A compile's peak memory: the large weights stay in the model file (read
/// when a pass or the program writer needs them, in cache-sized chunks), so
/// the whole process stays well within the model's size plus what dfc needs
/// for any model at all.
@Suite("dfc compile memory")
struct CompileMemoryTests {
    /// A chain of `layers` fully connected layers of `width` x `width` fp32 weights (Gemm, transB=1, with
    /// a bias) and ReLUs, on a 1 x `width` input: a model that is almost all weights.
    /// With `batchNorm`, an inference BatchNormalization follows each Gemm (before its ReLU), which
    /// fold-batchnorm folds into the Gemm's weights.
    static func wideModel(layers: Int, width: Int, batchNorm: Bool = false) -> [UInt8] {
        var graph: [UInt8] = []
        var random = SeededRandom(seed: 13)
        var previous = "x"
        for k in 0..<layers {
            let output = k + 1 == layers ? "y" : "h\(k)"
            let weights = (0..<width * width).map { _ in Float(Int(random.next() % 2001) - 1000) * 1e-6 }
            let bias = (0..<width).map { Float($0 % 7) * 0.01 }
            field(5, TensorProtoFile.encode(Tensor(shape: [width, width], floats: weights), name: "w\(k)"), &graph)
            field(5, TensorProtoFile.encode(Tensor(shape: [width], floats: bias), name: "b\(k)"), &graph)
            var transB: [UInt8] = []
            field(1, Array("transB".utf8), &transB)
            varint(3 << 3, &transB)
            varint(1, &transB)
            varint(20 << 3, &transB)
            varint(2, &transB)  // AttributeProto.INT
            var gemm: [UInt8] = []
            for input in [previous, "w\(k)", "b\(k)"] { field(1, Array(input.utf8), &gemm) }
            let gemmOutput = k + 1 == layers ? output : "g\(k)"
            field(2, Array((batchNorm ? "n\(k)" : gemmOutput).utf8), &gemm)
            field(4, Array("Gemm".utf8), &gemm)
            field(5, transB, &gemm)
            field(1, gemm, &graph)
            if batchNorm {
                let parameters = ["scale", "shift", "mean", "variance"].map { "\($0)\(k)" }
                for (i, name) in parameters.enumerated() {
                    let values: [Float] = (0..<width).map { c in
                        let step = i == 3 ? 1 + c % 5 : 1 + c % 3
                        return Float(step) * 0.5
                    }
                    field(5, TensorProtoFile.encode(Tensor(shape: [width], floats: values), name: name), &graph)
                }
                var norm: [UInt8] = []
                for input in ["n\(k)"] + parameters { field(1, Array(input.utf8), &norm) }
                field(2, Array(gemmOutput.utf8), &norm)
                field(4, Array("BatchNormalization".utf8), &norm)
                field(1, norm, &graph)
            }
            if k + 1 < layers {
                var relu: [UInt8] = []
                field(1, Array("g\(k)".utf8), &relu)
                field(2, Array(output.utf8), &relu)
                field(4, Array("Relu".utf8), &relu)
                field(1, relu, &graph)
            }
            previous = output
        }
        field(2, Array("wide".utf8), &graph)
        field(11, valueInfo("x", width), &graph)
        field(12, valueInfo("y", width), &graph)
        var model: [UInt8] = []
        varint(1 << 3, &model)
        varint(8, &model)  // ir_version
        var opset: [UInt8] = []
        varint(2 << 3, &opset)
        varint(13, &opset)
        field(8, opset, &model)
        field(7, graph, &model)
        return model
    }

    /// A ValueInfoProto: `name`, fp32, shape 1 x `width`.
    private static func valueInfo(_ name: String, _ width: Int) -> [UInt8] {
        var shape: [UInt8] = []
        for d in [1, width] {
            var dim: [UInt8] = []
            varint(1 << 3, &dim)
            varint(UInt64(d), &dim)
            field(1, dim, &shape)
        }
        var tensorType: [UInt8] = []
        varint(1 << 3, &tensorType)
        varint(1, &tensorType)
        field(2, shape, &tensorType)
        var type: [UInt8] = []
        field(1, tensorType, &type)
        var info: [UInt8] = []
        field(1, Array(name.utf8), &info)
        field(2, type, &info)
        return info
    }

    private static func field(_ number: UInt64, _ bytes: some Collection<UInt8>, _ out: inout [UInt8]) {
        varint(number << 3 | 2, &out)
        varint(UInt64(bytes.count), &out)
        out += bytes
    }

    private static func varint(_ value: UInt64, _ out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Runs dfc with `arguments` and `DFC_MEMORY_TRACE` set: its exit status and its own peak resident memory
    /// in MiB, as it reports it last. (A child's `ru_maxrss` would count the test process's memory too: Linux
    /// carries the parent's peak over into a spawned child.)
    static func peakMemory(_ arguments: [String]) throws -> (status: Int32, mebibytes: Double) {
        let (status, phases) = try phasePeaks(arguments)
        return (status, phases["write"] ?? .infinity)
    }

    /// `peakMemory`, for every phase dfc reports: its peak resident memory in MiB when the phase ended.
    static func phasePeaks(_ arguments: [String]) throws -> (status: Int32, mebibytes: [String: Double]) {
        let process = Process()
        process.executableURL = DFCProcess.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["DFC_MEMORY_TRACE": "1"]) { $1 }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        var phases: [String: Double] = [:]
        for line in stderr.split(separator: "\n") where line.hasPrefix("dfc: memory: ") {
            let words = line.split(separator: " ")
            guard words.count > 4, words[3] == "peak", let figure = Double(words[4]) else { continue }
            phases[String(words[2].dropLast())] = figure
        }
        return (process.terminationStatus, phases)
    }

    @Test("folding a BatchNormalization leaves the weights in the file: they are scaled as they are written")
    func foldInPlace() throws {
        let scratch = try ScratchFolder("dfc-memory-fold")
        defer { scratch.remove() }
        // 2 layers of 2048 x 2048 weights, 16 MiB each; a copy of one would raise the peak by 16 MiB.
        let model = scratch.path("folded.onnx")
        try Data(Self.wideModel(layers: 2, width: 2048, batchNorm: true)).write(to: URL(fileURLWithPath: model))
        let (status, phases) = try Self.phasePeaks(["compile", model, "-o", scratch.path("folded.dfx")])
        #expect(status == 0)
        let imported = phases["import"] ?? .infinity, folded = phases["fold-batchnorm"] ?? .infinity
        let written = phases["write"] ?? .infinity
        #expect(folded - imported < 1, "peak \(imported) MiB after import, \(folded) MiB after fold-batchnorm")
        // Neither layer's 16 MiB of weights is ever in memory whole, not even while the program is written.
        #expect(written - imported < 8, "peak \(imported) MiB after import, \(written) MiB after the write")
    }

    @Test("a compile's peak memory stays within 0.5x the model's size above dfc's own baseline")
    func peakWithinModelSize() throws {
        let scratch = try ScratchFolder("dfc-memory")
        defer { scratch.remove() }
        // 4 layers of 1536 x 1536 weights: 36 MiB of the model's 36 MiB.
        let model = scratch.path("wide.onnx")
        let bytes = Self.wideModel(layers: 4, width: 1536)
        try Data(bytes).write(to: URL(fileURLWithPath: model))
        // What dfc takes for any model at all: a tiny one, compiled the same way.
        let tiny = DFCProcess.repoRoot.appendingPathComponent("Fixtures/onnx/tiny_cnn.onnx").path
        let baseline = try Self.peakMemory(["compile", tiny, "-o", scratch.path("tiny.dfx")])
        #expect(baseline.status == 0)
        let wide = try Self.peakMemory(["compile", model, "-o", scratch.path("wide.dfx")])
        #expect(wide.status == 0)
        let program = try FileManager.default.attributesOfItem(atPath: scratch.path("wide.dfx"))[.size] as? Int ?? 0
        #expect(program > bytes.count)
        let size = Double(bytes.count) / 1_048_576
        let ratio = (wide.mebibytes - baseline.mebibytes) / size
        #expect(
            ratio <= 0.5,
            "peak \(wide.mebibytes) MiB, baseline \(baseline.mebibytes) MiB, model \(size) MiB: \(ratio)x")
    }
}
