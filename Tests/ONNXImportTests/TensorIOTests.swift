import Foundation
import Tensors
import Testing
@testable import GraphIR
@testable import ONNXImport

@Suite("Tensor files: .npy and TensorProto .pb")
struct TensorIOTests {
    static let samples: [Tensor] = [
        Tensor(shape: [2, 3], floats: [0, -1.5, 3.25, .infinity, -0.0, 1e-30]),
        Tensor(shape: [4], ints: [0, -1, Int64.max, Int64.min]),
        Tensor(shape: [], floats: [42]),
        Tensor(shape: [1, 0, 3], floats: []),
        Tensor(shape: [2, 2], bools: [true, false, false, true])
    ]

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dfc-tensorio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A version 1.0 .npy with the given header dict and payload.
    static func npy(_ header: String, payload: [UInt8], version: UInt8 = 1) -> Data {
        var text = header
        let fixed = version == 1 ? 10 : 12
        text += String(repeating: " ", count: (64 - (fixed + text.utf8.count + 1) % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        let n = text.utf8.count
        bytes += version == 1 ? [UInt8(n & 0xff), UInt8(n >> 8)] : [UInt8(n & 0xff), UInt8(n >> 8), 0, 0]
        return Data(bytes + Array(text.utf8) + payload)
    }

    @Test(".npy round trip", arguments: samples)
    func npyRoundTrip(_ tensor: Tensor) throws {
        let data = NPY.encode(tensor)
        #expect(try NPY.decode(data) == tensor)
        // The header ends on a 64-byte boundary, as NumPy writes it.
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        #expect(data[10 + headerLength - 1] == UInt8(ascii: "\n"))
    }

    @Test(".npy as NumPy writes it, versions 1 and 2")
    func npyFromNumPy() throws {
        let payload: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64]  // 1.0, 2.0 little-endian
        for version: UInt8 in [1, 2] {
            let data = Self.npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", payload: payload, version: version)
            #expect(try NPY.decode(data) == Tensor(shape: [2, 1], floats: [1, 2]))
        }
    }

    @Test(
        ".npy files dfc cannot use are rejected with the reason",
        arguments: [
            ("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0], "big-endian"),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0, 0, 0, 0, 0],
                "dtype '<f8' is not supported"
            ),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }", [0], "dtype '|u1' is not supported"),
            ("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", [0, 0, 0, 0], "Fortran-order"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", [0, 0, 0, 0], "needs 8 bytes"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0, 0], "needs 4 bytes"),
            ("{'descr': '<f4', 'shape': (1,), }", [0, 0, 0, 0], "no 'fortran_order'"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,  }", [0, 0, 0, 0], "malformed")
        ] as [(String, [UInt8], String)])
    func npyRejects(_ header: String, _ payload: [UInt8], _ message: String) throws {
        let error = #expect(throws: DFCError.self) { try NPY.decode(Self.npy(header, payload: payload)) }
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error") should say \(message)")
    }

    @Test("a file that is not .npy at all")
    func npyNotNPY() throws {
        #expect(throws: DFCError.self) { try NPY.decode(Data("hello, world".utf8)) }
        #expect(throws: DFCError.self) { try NPY.decode(Data()) }
        var truncated = NPY.encode(Tensor(shape: [3], floats: [1, 2, 3]))
        truncated.removeLast(5)
        #expect(throws: DFCError.self) { try NPY.decode(truncated) }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.npy").path
        let error = #expect(throws: DFCError.self) { try NPY.read(path: missing) }
        #expect(error?.file == missing)
    }

    @Test(".pb round trip keeps the name", arguments: samples)
    func protoRoundTrip(_ tensor: Tensor) throws {
        let (name, decoded) = try TensorProtoFile.decode(TensorProtoFile.encode(tensor, name: "data_0"))
        #expect(name == "data_0")
        #expect(decoded == tensor)
    }

    @Test("a BOOL TensorProto reads as bool from raw_data (any non-zero byte is true) and from int32_data")
    func protoBools() throws {
        // dims [3], data_type BOOL (9), then raw_data or packed int32_data.
        let header: [UInt8] = [0x08, 3, 0x10, 9]
        let raw = try TensorProtoFile.decode(Data(header + [0x4a, 3, 1, 0, 2])).tensor
        #expect(raw == Tensor(shape: [3], bools: [true, false, true]))
        let int32 = try TensorProtoFile.decode(Data(header + [0x2a, 3, 0, 1, 1])).tensor
        #expect(int32 == Tensor(shape: [3], bools: [false, true, true]))
        // NumPy's bool arrays are '|b1'.
        let npy = NPY.encode(raw)
        #expect(String(decoding: npy.prefix(64), as: UTF8.self).contains("'|b1'"))
    }

    @Test(".pb bytes that are not a TensorProto are an error")
    func protoRejects() throws {
        #expect(throws: DFCError.self) { try TensorProtoFile.decode(Data()) }
        #expect(throws: DFCError.self) { try TensorProtoFile.decode(Data([0xff, 0xff, 0xff, 0xff])) }
        // dims say 3 values, raw_data holds 2.
        var bytes: [UInt8] = [0x08, 3, 0x10, 1, 0x4a, 8]
        bytes += [0, 0, 128, 63, 0, 0, 0, 64]
        let error = #expect(throws: DFCError.self) { try TensorProtoFile.decode(Data(bytes)) }
        #expect(error?.message.contains("expected 12") == true)
    }

    @Test("files on disk by extension")
    func files() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tensor = Tensor(shape: [1, 2, 2], floats: [1, 2, 3, 4])
        for name in ["t.npy", "t.pb"] {
            let path = directory.appendingPathComponent(name).path
            try TensorFile.write(tensor, name: "x", path: path)
            #expect(try TensorFile.read(path: path) == tensor)
        }
        #expect(try TensorProtoFile.read(path: directory.appendingPathComponent("t.pb").path).name == "x")
        let error = #expect(throws: DFCError.self) {
            try TensorFile.write(tensor, path: directory.appendingPathComponent("t.txt").path)
        }
        #expect(error?.message.contains(".npy or .pb") == true)
    }
}
