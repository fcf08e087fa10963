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
}
