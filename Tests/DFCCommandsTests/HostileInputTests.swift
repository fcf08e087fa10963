import Foundation
import ONNXImport
import Tensors
import TestSupport
import Testing

/// Hostile models (Fixtures/onnx, made by Tools/make_fixtures.py, or built
/// here at run time when they would be large or need a symbolic link), each
/// through the real `dfc`: one error line naming the file and the problem.
@Suite("hostile ONNX inputs")
struct HostileInputTests {
    static func compile(_ path: String, _ extra: [String] = []) throws -> DFCProcess.Result {
        try DFCProcess.run(
            ["compile", path, "-o", FileManager.default.temporaryDirectory.path + "/hostile.dfx"] + extra)
    }

    static func expectOneError(
        _ result: DFCProcess.Result, naming path: String, _ fragment: String, status: Int32 = 1
    ) {
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("dfc: error: \(path): "), "\(result.stderr)")
        #expect(result.stderr.contains(fragment), "\(result.stderr)")
    }

    @Test(
        "hostile fixtures are rejected in one line",
        arguments: [
            ("overflow_dims.onnx", "is too large"),
            ("huge_dims.onnx", "above the limit of 2^31 elements per tensor"),
            ("zero_dims.onnx", "produces an empty tensor"),  // unsupported: exit status 3
            ("raw_data_short.onnx", "has 20 bytes of data, expected 24"),
            ("raw_data_long.onnx", "has 28 bytes of data, expected 24"),
            ("external_offset_past_end.onnx", "is too short (needs 32 bytes at offset 1099511627776, has 16)"),
            ("external_length_past_end.onnx", "is too short (needs 32 bytes at offset 0, has 16)"),
            ("graph_cycle.onnx", "reads 'b', which no input, initializer or earlier node defines"),
            ("duplicate_values.onnx", "value 'y' is defined twice"),
            ("undefined_input.onnx", "reads 'ghost'"),
            ("nested_subgraphs.onnx", "the graph has no outputs"),
            ("deep_nesting.onnx", "nested deeper than 64")
        ])
    func hostileFixture(file: String, message: String) throws {
        let path = "Fixtures/onnx/\(file)"
        let status = file == "zero_dims.onnx" ? DFCError.Kind.unsupported.exitCode : 1
        Self.expectOneError(try Self.compile(path), naming: path, message, status: status)
    }

    @Test("thousands of unknown attributes on one node are ignored")
    func manyAttributes() throws {
        let result = try Self.compile("Fixtures/onnx/many_attributes.onnx")
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("a model whose tensors need more than --max-memory is refused before any work")
    func memoryCap() throws {
        let path = "Fixtures/demo/resnet8.onnx"
        let refused = try Self.compile(path, ["--max-memory", "1MiB"])
        Self.expectOneError(
            refused, naming: path, "above the memory cap of 1048576 bytes (0.0 GiB) (--max-memory)",
            status: DFCError.Kind.doesNotFit.exitCode)
        #expect(refused.stderr.contains("the largest is '"))
        #expect(try Self.compile(path, ["--max-memory", "64MiB"]).status == 0)
        let bad = try Self.compile(path, ["--max-memory", "lots"])
        #expect(
            bad.status == 2
                && bad.stderr == "dfc: error: --max-memory 'lots': expected a size like 4GiB, 512MiB or 1000000\n")
    }

    /// A node name of 1 MiB and an op type holding a newline: the error stays one line.
    @Test("huge strings and control characters in names stay one line")
    func hugeStrings() throws {
        let scratch = try ScratchFolder("dfc-hostile")
        defer { scratch.remove() }
        let bytes = [UInt8](FileManager.default.contents(atPath: ImportFixtures.path("tiny_cnn.onnx"))!)
        var model = try #require(WireMessage.parse(bytes[...]))
        // ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4, name = 3.
        let graph = try #require(model.fields.firstIndex { $0.number == 7 })
        model.withParent(of: [graph, 0]) { graphMessage, node in
            guard case .message(var first) = graphMessage.fields[node].value else { return }
            for i in first.fields.indices where first.fields[i].number == 4 {
                first.fields[i].value = .bytes(Array("Conv\nInjected".utf8))
            }
            for i in first.fields.indices where first.fields[i].number == 3 {
                first.fields[i].value = .bytes([UInt8](repeating: 0x41, count: 1 << 20))
            }
            graphMessage.fields[node].value = .message(first)
        }
        let path = scratch.path("huge_strings.onnx")
        try Data(model.serialized()).write(to: URL(fileURLWithPath: path))
        // stderr goes to a file: a megabyte-long line would fill a pipe nobody reads yet.
        let result = try Fuzz.run(["compile", path], timeout: 120, scratch: scratch)
        #expect(Fuzz.problem(result, file: path) == nil, "\(Fuzz.problem(result, file: path) ?? "")")
        #expect(result.status == DFCError.Kind.unsupported.exitCode)
        #expect(result.stderr.contains("Conv\\nInjected"), "\(result.stderr.prefix(200))")
    }

    /// The external data file is a symbolic link out of the model's folder
    /// (made here: git keeps no links in Fixtures/), or sits behind a linked folder.
    @Test("external data behind a symbolic link out of the model's folder is refused")
    func symlinkOutOfTheFolder() throws {
        let outside = try ScratchFolder("dfc-outside")
        let models = try ScratchFolder("dfc-models")
        defer { outside.remove(); models.remove() }
        try Data(count: 288 * 4).write(to: URL(fileURLWithPath: outside.path("secret.bin")))
        let model = ONNXFixtureBuilder.externalWeightModel(location: "weights.bin")
        for (name, link, target) in [
            ("file.onnx", "weights.bin", outside.path("secret.bin")), ("folder.onnx", "sub", outside.path)
        ] {
            let folder = models.path(name + ".d")
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: folder + "/" + link, withDestinationPath: target)
            let location = link == "sub" ? "sub/secret.bin" : "weights.bin"
            let path = folder + "/" + name
            try Data(ONNXFixtureBuilder.externalWeightModel(location: location)).write(to: URL(fileURLWithPath: path))
            Self.expectOneError(try Self.compile(path), naming: path, "leads out of the model's directory")
        }
        // The same bytes next to the model, not linked, are read.
        let plain = models.path("plain")
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        try Data(count: 288 * 4).write(to: URL(fileURLWithPath: plain + "/weights.bin"))
        try Data(model).write(to: URL(fileURLWithPath: plain + "/m.onnx"))
        #expect(throws: Never.self) { try ONNXImporter.load(path: plain + "/m.onnx") }
    }
}

/// Small models written field by field, for tests that need a variant at run time.
enum ONNXFixtureBuilder {
    /// x f32[1,8,6,6] + w f32[1,8,6,6] (288 values, stored in `location`) -> y.
    static func externalWeightModel(location: String) -> [UInt8] {
        func field(_ number: UInt64, _ payload: [UInt8]) -> WireMessage.Field {
            WireMessage.Field(number: number, value: .bytes(payload))
        }
        func message(_ number: UInt64, _ fields: [WireMessage.Field]) -> WireMessage.Field {
            WireMessage.Field(number: number, value: .message(WireMessage(fields: fields)))
        }
        func varint(_ number: UInt64, _ v: UInt64) -> WireMessage.Field {
            WireMessage.Field(number: number, value: .varint(v))
        }
        let dims: [UInt64] = [1, 8, 6, 6]
        func valueInfo(_ number: UInt64, _ name: String) -> WireMessage.Field {
            // ValueInfoProto: name 1, type 2 -> TypeProto.tensor_type 1 -> elem_type 1, shape 2 -> dim 1 -> dim_value 1.
            message(
                number,
                [
                    field(1, Array(name.utf8)),
                    message(
                        2,
                        [
                            message(1, [varint(1, 1), message(2, dims.map { message(1, [varint(1, $0)]) })])
                        ])
                ])
        }
        // TensorProto: dims 1, data_type 2, name 8, external_data 13 (key 1, value 2), data_location 14 (1 = EXTERNAL).
        let weight = message(
            5,
            dims.map { varint(1, $0) } + [varint(2, 1), field(8, Array("w".utf8))]
                + [("location", location), ("length", "1152")].map {
                    message(13, [field(1, Array($0.0.utf8)), field(2, Array($0.1.utf8))])
                }
                + [varint(14, 1)])
        // NodeProto: input 1, output 2, name 3, op_type 4.
        let node = message(
            1,
            [
                field(1, Array("x".utf8)), field(1, Array("w".utf8)), field(2, Array("y".utf8)),
                field(3, Array("add".utf8)), field(4, Array("Add".utf8))
            ])
        let graph = message(
            7, [node, field(2, Array("external_link".utf8)), weight, valueInfo(11, "x"), valueInfo(12, "y")])
        // ModelProto: ir_version 1, graph 7, opset_import 8 (domain 1, version 2).
        return WireMessage(fields: [varint(1, 8), graph, message(8, [field(1, []), varint(2, 13)])]).serialized()
    }
}
