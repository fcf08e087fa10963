import Foundation
import GraphIR
import Tensors

/// ONNX `TensorProto` files (`.pb`), the format of ONNX's own test data.
/// Reading accepts every encoding the importer accepts for weights;
/// writing emits four fields: dims, data_type, name and raw_data.
public enum TensorProtoFile {
    /// Reads the `.pb` file at `path`: the tensor and the name it carries.
    public static func read(path: String) throws -> (name: String, tensor: Tensor) {
        do {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DFCError("cannot read the file", kind: .io)
            }
            return try decode(data)
        } catch let error as DFCError {
            throw error.inFile(path)
        }
    }

    /// Writes `tensor` named `name` to `path` as an `OutputFile` (no partial file on failure).
    public static func write(_ tensor: Tensor, name: String = "", path: String) throws {
        try OutputFile(path).write([[UInt8](encode(tensor, name: name))])
    }

    public static func decode(_ data: Data) throws -> (name: String, tensor: Tensor) {
        guard !data.isEmpty else { throw DFCError("the file is empty, not a TensorProto") }
        let proto = try ONNXProtobuf.decodeTensor(data)
        return (proto.name, try TensorDecoding.decode(proto, externalBase: nil))
    }

    /// Field numbers and wire types of the TensorProto fields written.
    private enum Field {
        static let dims: UInt64 = 1 << 3 | 0  // repeated int64, varint
        static let dataType: UInt64 = 2 << 3 | 0  // int32, varint
        static let name: UInt64 = 8 << 3 | 2  // string, length-delimited
        static let rawData: UInt64 = 9 << 3 | 2  // bytes, length-delimited
    }

    public static func encode(_ tensor: Tensor, name: String = "") -> Data {
        var out: [UInt8] = []
        for d in tensor.shape {
            appendVarint(Field.dims, to: &out)
            appendVarint(UInt64(d), to: &out)
        }
        appendVarint(Field.dataType, to: &out)
        let code: ONNXElementType
        switch tensor.dtype {
        case .float32: code = .float
        case .int64: code = .int64
        case .bool: code = .bool
        }
        appendVarint(UInt64(code.rawValue), to: &out)
        if !name.isEmpty {
            appendVarint(Field.name, to: &out)
            appendVarint(UInt64(name.utf8.count), to: &out)
            out += Array(name.utf8)
        }
        let raw = tensor.littleEndianBytes
        appendVarint(Field.rawData, to: &out)
        appendVarint(UInt64(raw.count), to: &out)
        out += raw
        return Data(out)
    }
}

/// Appends `value` as a protobuf base-128 varint.
func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(v & 0x7f) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

/// Tensor files by extension: `.npy` or `.pb`.
public enum TensorFile {
    public static func read(path: String) throws -> Tensor {
        if path.hasSuffix(".npy") { return try NPY.read(path: path) }
        if path.hasSuffix(".pb") { return try TensorProtoFile.read(path: path).tensor }
        throw DFCError("unknown tensor file type (expected .npy or .pb)", file: path)
    }

    public static func write(_ tensor: Tensor, name: String = "", path: String) throws {
        if path.hasSuffix(".npy") { return try NPY.write(tensor, to: path) }
        if path.hasSuffix(".pb") { return try TensorProtoFile.write(tensor, name: name, path: path) }
        throw DFCError("unknown tensor file type (expected .npy or .pb)", file: path)
    }
}
