import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import ONNXImport

@Suite("ONNX import")
struct ImportTests {
    @Test("tiny_cnn imports with its nodes, names, weights and opset")
    func tinyCNN() throws {
        let graph = try ONNXImporter.load(path: ImportFixtures.path("tiny_cnn.onnx"))
        #expect(graph.opsetVersion == 13)
        #expect(graph.inputs == ["input"])
        #expect(graph.outputs == ["output"])
        let kinds = graph.nodes.map(\.kind)
        #expect(kinds.first == .conv)
        #expect(kinds.last == .softmax)
        #expect(kinds.contains(.batchNormalization) && kinds.contains(.gemm) && kinds.contains(.globalAveragePool))
        #expect(graph.nodes.contains { $0.name == "conv1" })
        let conv1 = try #require(graph.nodes.first { $0.name == "conv1" })
        let weight = try #require(graph.initializers[conv1.inputs[1]])
        #expect(weight.shape == [8, 3, 3, 3])
        #expect(weight.dtype == .float32)
        #expect(conv1.ints("pads") == [1, 1, 1, 1])
    }

    @Test("external data (one side file) gives the same weights as inline data")
    func externalData() throws {
        let inline = try ONNXImporter.load(path: ImportFixtures.path("tiny_cnn.onnx"))
        for name in ["external_data.onnx", "external_data_offsets.onnx"] {
            let external = try ONNXImporter.load(path: ImportFixtures.path(name))
            #expect(external.initializers.keys.sorted() == inline.initializers.keys.sorted(), "\(name)")
            for (key, tensor) in inline.initializers {
                #expect(external.initializers[key] == tensor, "\(name): initializer \(key) differs")
            }
        }
    }

    @Test("initializers listed as graph inputs are constants, not inputs")
    func initializerAsInput() throws {
        let graph = try ONNXImporter.load(path: ImportFixtures.path("initializer_as_input.onnx"))
        #expect(!graph.initializers.isEmpty)
        #expect(graph.inputs.allSatisfy { graph.initializers[$0] == nil })
        #expect(graph.inputs.count == 1)
    }

    @Test("fp16, fp64 and integer weights are converted to fp32 and int64")
    func weightConversion() throws {
        for name in ["weights_fp16.onnx", "weights_fp64.onnx"] {
            let graph = try ONNXImporter.load(path: ImportFixtures.path(name))
            #expect(!graph.initializers.isEmpty)
            #expect(graph.initializers.values.allSatisfy { $0.dtype == .float32 }, "\(name)")
            #expect(graph.initializers.values.contains { $0.floats.contains { $0 != 0 } })
        }
        let ints = try ONNXImporter.load(path: ImportFixtures.path("weights_int.onnx"))
        let intWeights = ints.initializers.values.filter { $0.dtype == .int64 }
        #expect(intWeights.count == 2)
        #expect(intWeights.contains { $0.ints.contains { abs($0) > 1000 } }, "int32 values up to 1e5 survive")
        #expect(intWeights.contains { $0.ints.contains { $0 < 0 } }, "int8 values keep their sign")
    }

    @Test("binary16 decoding covers normals, subnormals and specials")
    func halfPrecision() {
        #expect(TensorDecoding.halfToFloat(0x3c00) == 1)
        #expect(TensorDecoding.halfToFloat(0xc000) == -2)
        #expect(TensorDecoding.halfToFloat(0x7bff) == 65504)
        #expect(TensorDecoding.halfToFloat(0x0001) == 0x1p-24)
        #expect(TensorDecoding.halfToFloat(0x8000).sign == .minus)
        #expect(TensorDecoding.halfToFloat(0x7c00) == .infinity)
        #expect(TensorDecoding.halfToFloat(0x7e00).isNaN)
    }

    /// Every bad input gives one error naming the file and the problem.
    @Test(
        "bad inputs are rejected with a clear message",
        arguments: [
            ("does_not_exist.onnx", "no such file"),
            ("empty.onnx", "the file is empty"),
            ("not_onnx.onnx", "not an ONNX model"),
            ("truncated.onnx", "truncated protobuf"),
            ("corrupted.onnx", "corrupted protobuf"),
            ("deep_nesting.onnx", "nested deeper than"),
            ("missing_external.onnx", "external data file 'does_not_exist.bin' not found")
        ])
    func badInputs(file: String, message: String) {
        let path = ImportFixtures.path(file)
        do {
            _ = try ONNXImporter.load(path: path)
            Issue.record("\(file) was accepted")
        } catch let error as DFCError {
            #expect(error.file == path)
            #expect(error.message.contains(message), "\(error)")
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("unexpected error type: \(error)")
        }
    }

    @Test("every unsupported op is reported at once, with its node name")
    func unsupportedOps() throws {
        let graph = try ONNXImporter.load(path: ImportFixtures.path("unsupported_ops.onnx"))
        #expect(throws: DFCError.self) { try graph.checkSupported() }
        do {
            try graph.checkSupported()
        } catch let error as DFCError {
            for fragment in ["TopK", "topk_1", "Einsum", "einsum_1", "Hardmax", "hardmax_1"] {
                #expect(error.message.contains(fragment), "\(error.message) lacks \(fragment)")
            }
            #expect(!error.message.contains("relu_1"))
        }
    }

    @Test("a node from an unknown opset domain is named with its domain")
    func unknownDomain() throws {
        let graph = try ONNXImporter.load(path: ImportFixtures.path("unknown_domain.onnx"))
        do {
            try graph.checkSupported()
            Issue.record("unknown domain accepted")
        } catch let error as DFCError {
            #expect(error.message.contains("com.example.custom"))
            #expect(error.message.contains("custom_1"))
        }
    }

    @Test("external data may not leave the model's directory")
    func externalDataEscape() throws {
        let data = ONNXProto.TensorData(
            name: "w", dims: [2], dataType: 1,
            payload: .external(["location": "../secret.bin"]))
        #expect(throws: DFCError.self) { try TensorDecoding.decode(data, externalBase: ImportFixtures.directory) }
        let absolute = ONNXProto.TensorData(
            name: "w", dims: [2], dataType: 1, payload: .external(["location": "/etc/passwd"]))
        #expect(throws: DFCError.self) { try TensorDecoding.decode(absolute, externalBase: ImportFixtures.directory) }
    }

    @Test("raw data whose size disagrees with the shape is rejected")
    func rawSizeMismatch() {
        let data = ONNXProto.TensorData(name: "w", dims: [3], dataType: 1, payload: .raw([0, 0, 0, 0]))
        #expect(throws: DFCError.self) { try TensorDecoding.decode(data, externalBase: nil) }
        let huge = ONNXProto.TensorData(name: "w", dims: [1 << 40, 1 << 40], dataType: 1, payload: .raw([]))
        #expect(throws: DFCError.self) { try TensorDecoding.decode(huge, externalBase: nil) }
    }
}
