import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import ONNXImport

/// A model file is imported without ever being read whole (`ModelFile`,
/// `ElidedModel`); what comes out must be what decoding the whole file in
/// memory gives: the same graph, or the same error.
@Suite("ONNX import from the file")
struct ModelFileTests {
    static let fixtures: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: ImportFixtures.directory.path)) ?? []
        return names.filter { $0.hasSuffix(".onnx") }.sorted()
    }()

    @Test("each fixture imports from its file as from its bytes in memory", arguments: fixtures)
    func sameAsInMemory(name: String) throws {
        let path = ImportFixtures.path(name)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let fromFile = Result { try ONNXImporter.load(path: path) }
        let fromMemory = Result { try ONNXImporter.load(data: data, directory: ImportFixtures.directory) }
        switch (fromFile, fromMemory) {
        case (.success(let a), .success(let b)):
            #expect(a == b)
        case (.failure(let a as DFCError), .failure(let b as DFCError)):
            // An empty file is refused before decoding; the bytes in memory go on to the decoder.
            if !data.isEmpty { #expect(a.message == b.message && a.kind == b.kind) }
        default:
            Issue.record("\(name): from the file \(fromFile), from memory \(fromMemory)")
        }
    }

    @Test("the elided copy keeps everything but the initializers' raw_data, and finds every one")
    func elision() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: ImportFixtures.path("tiny_cnn.onnx")))
        let graph = try ONNXImporter.load(data: data)
        let elided = try #require(data.withUnsafeBytes { ElidedModel($0) })
        let raw = elided.rawData.compactMap { $0 }
        #expect(raw.count == graph.initializers.count)
        #expect(elided.bytes.count + raw.map(\.count).reduce(0, +) < data.count)
        // Without its raw_data the model decodes, with every initializer present and empty.
        let model = try elided.bytes.withUnsafeBytes { try ONNXProtobuf.decodeModel($0) }
        #expect(model.graph.initializers.count == graph.initializers.count)
        for tensor in model.graph.initializers {
            guard case .none = tensor.payload else {
                Issue.record("\(tensor.name) kept a payload")
                continue
            }
        }
    }

    /// ResNet-8's model in a scratch folder, imported from there: it has seven initializers of 4 KiB or more.
    static func importedCopy(_ scratch: ScratchFolder, name: String = "resnet8.onnx") throws -> (
        path: String, graph: Graph
    ) {
        let path = scratch.path(name)
        try FileManager.default.copyItem(
            atPath: TestPaths.repository.appendingPathComponent("Fixtures/demo/resnet8.onnx").path, toPath: path)
        return (path, try ONNXImporter.load(path: path))
    }

    @Test("large fp32 initializers stay in the file until used, small ones are read at import")
    func largeInitializersDeferred() throws {
        let scratch = try ScratchFolder("dfc-deferred")
        defer { scratch.remove() }
        let (path, graph) = try Self.importedCopy(scratch)
        let inMemory = try ONNXImporter.load(data: Data(contentsOf: URL(fileURLWithPath: path)))
        let deferred = graph.initializers.filter(\.value.isDeferred)
        #expect(deferred.count == 7)
        for (name, tensor) in graph.initializers {
            let bytes = tensor.count * tensor.dtype.byteSize
            #expect(tensor.isDeferred == (bytes >= TensorDecoding.deferredBytes), "\(name): \(bytes) bytes")
            #expect(tensor == inMemory.initializers[name], "\(name)")
        }
        try Tensor.checkSources(of: graph.initializers.values)
    }

    @Test("a model truncated after import reads as zeros and its check names the file")
    func truncatedUnderUs() throws {
        let scratch = try ScratchFolder("dfc-deferred")
        defer { scratch.remove() }
        let (path, graph) = try Self.importedCopy(scratch)
        #expect(truncate(path, 1000) == 0)
        let deferred = graph.initializers.values.filter(\.isDeferred)
        let weight = try #require(deferred.first)
        #expect(weight.floats.allSatisfy { $0 == 0 })
        let error = #expect(throws: DFCError.self) { try Tensor.checkSources(of: graph.initializers.values) }
        #expect(error?.file == path && error?.kind == .io)
        #expect(error?.message.contains("truncated") == true)
    }

    @Test("a model rewritten in place after import fails the check; one replaced by a rename keeps its weights")
    func changedUnderUs() throws {
        let scratch = try ScratchFolder("dfc-deferred")
        defer { scratch.remove() }
        let (path, graph) = try Self.importedCopy(scratch)
        let original = graph.initializers.mapValues(\.floats)
        // A rename leaves the open file as it was: its weights still read as imported.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try Data(count: bytes.count).write(to: URL(fileURLWithPath: scratch.path("zeros.onnx")))
        #expect(rename(scratch.path("zeros.onnx"), path) == 0)
        #expect(graph.initializers.mapValues(\.floats) == original)
        try Tensor.checkSources(of: graph.initializers.values)

        // The same bytes written in place, a second later: the modification time says it changed.
        let (again, reimported) = try Self.importedCopy(scratch, name: "again.onnx")
        let handle = try #require(FileHandle(forWritingAtPath: again))
        try handle.write(contentsOf: bytes)
        try handle.close()
        var times = [timeval(tv_sec: time(nil) + 5, tv_usec: 0), timeval(tv_sec: time(nil) + 5, tv_usec: 0)]
        #expect(utimes(again, &times) == 0)
        let error = #expect(throws: DFCError.self) { try Tensor.checkSources(of: reimported.initializers.values) }
        #expect(error?.file == again && error?.message.contains("modified") == true)
    }
}
