import Foundation
import Testing
@testable import Tensors

@Suite struct NPYTests {
    static func header(_ dict: String, version: UInt8 = 1) -> [UInt8] {
        var text = dict
        let prefix = version == 1 ? 10 : 12
        text += String(repeating: " ", count: (64 - (prefix + text.utf8.count + 1) % 64) % 64) + "\n"
        let n = text.utf8.count
        var bytes = NPY.magic + [version, 0]
        bytes += version == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), 0, 0]
        return bytes + Array(text.utf8)
    }

    @Test func roundTripsFloatAndInt64() throws {
        let a = Tensor(shape: [2, 3], floats: [1, -2, 3.5, 0, .infinity, -0.25])
        let b = Tensor(shape: [4], ints: [1, -1, Int64.max, Int64.min])
        let s = Tensor(shape: [], floats: [7])
        for array in [a, b, s] {
            let bytes = NPY.encode(array)
            #expect((bytes.count - array.littleEndianBytes.count) % 64 == 0)
            #expect(try NPY.decode(bytes) == array)
        }
        #expect(
            String(decoding: NPY.encode(a)[10..<70], as: UTF8.self).hasPrefix(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        #expect(String(decoding: NPY.encode(b)[10..<70], as: UTF8.self).contains("'shape': (4,)"))
    }

    @Test func readsVersion2And3Headers() throws {
        let data: [Float] = [1, 2, 3]
        for version: UInt8 in [2, 3] {
            let bytes =
                Self.header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", version: version)
                + data.withUnsafeBytes { Array($0) }
            #expect(try NPY.decode(bytes) == Tensor(shape: [3], floats: data))
        }
    }

    @Test func rejectsWhatItCannotRead() {
        let four = [Float](repeating: 1, count: 4).withUnsafeBytes { Array($0) }
        let cases: [([UInt8], String)] = [
            (
                Self.header("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }") + four + four,
                "dtype '<f8' is not supported"
            ),
            (Self.header("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }") + four, "big-endian"),
            (Self.header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }") + four, "Fortran-order"),
            (Self.header("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }") + four, "truncated data"),
            (Self.header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") + four, "extra bytes"),
            (
                Array(Self.header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }").prefix(30)),
                "truncated header"
            ),
            (Array("hello world".utf8), "not a .npy file"),
            (
                Self.header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }"),
                "too large"
            )
        ]
        for (bytes, message) in cases {
            let error = #expect(throws: DFCError.self) { try NPY.decode(bytes) }
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        }
    }

    @Test func writesAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.npy").path
        let a = Tensor(shape: [1, 2], floats: [3, 4])
        try NPY.write(a, to: path)
        #expect(try NPY.read(path: path) == a)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.npy"])
    }
}
