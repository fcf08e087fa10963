import CONNX
import Foundation
import GraphIR
import Tensors

/// Plain Swift copies of the ONNX messages dfc reads. `ONNXProtobuf` fills
/// them from libprotobuf-c's structures; nothing else touches C.
enum ONNXProto {
    struct Model {
        var irVersion: Int64
        var opsets: [(domain: String, version: Int64)]
        var graph: Graph
        var producerName = "", producerVersion = ""
    }

    struct Graph {
        var name: String
        var nodes: [Node]
        var initializers: [TensorData]
        var inputs: [ValueInfo]
        var outputs: [ValueInfo]
        var valueInfo: [ValueInfo]
    }

    struct Node {
        var name: String
        var opType: String
        var domain: String
        var inputs: [String]
        var outputs: [String]
        var attributes: [(name: String, value: AttributeValue)]
    }

    enum AttributeValue {
        case int(Int64), float(Float), bytes([UInt8]), tensor(TensorData)
        case ints([Int64]), floats([Float]), strings([[UInt8]]), tensors([TensorData])
        case other(String)
    }

    struct ValueInfo {
        var name: String
        /// nil when the value has no tensor type at all.
        var elementType: Int32?
        /// nil when the shape is absent (unknown rank).
        var dims: [Dim]?
    }

    /// A TensorProto's fields, before any decoding of its payload.
    struct TensorData {
        enum Payload {
            case raw([UInt8])
            /// raw_data left in the model file (`ModelFile`): where its bytes are.
            case file(Range<Int>)
            case floats([Float])
            case int32s([Int32])
            case int64s([Int64])
            case doubles([Double])
            case uint64s([UInt64])
            case external([String: String])
            case strings(Int)
            case none
        }

        var name: String
        var dims: [Int64]
        var dataType: Int32
        var payload: Payload
    }
}

/// Owns every call into libprotobuf-c: unpacks a serialized message, copies
/// it into `ONNXProto` values and frees the C structures before returning.
enum ONNXProtobuf {
    /// Decodes a serialized ModelProto.
    static func decodeModel(_ data: Data) throws -> ONNXProto.Model {
        try data.withUnsafeBytes { try decodeModel($0) }
    }

    /// Decodes a serialized ModelProto in memory (the bytes are not kept).
    static func decodeModel(_ buffer: UnsafeRawBufferPointer) throws -> ONNXProto.Model {
        try WireCheck.check(buffer)
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let model = onnx__model_proto__unpack(nil, buffer.count, base)
        else { throw DFCError("truncated or corrupted protobuf (libprotobuf-c could not decode it)") }
        defer { onnx__model_proto__free_unpacked(model, nil) }
        guard let graph = model.pointee.graph else { throw DFCError("not an ONNX model (no graph)") }
        var opsets: [(String, Int64)] = []
        for set in pointers(model.pointee.opset_import, model.pointee.n_opset_import) {
            opsets.append((string(set.pointee.domain), set.pointee.has_version != 0 ? set.pointee.version : 0))
        }
        return ONNXProto.Model(
            irVersion: model.pointee.has_ir_version != 0 ? model.pointee.ir_version : 0,
            opsets: opsets, graph: copyGraph(graph.pointee), producerName: string(model.pointee.producer_name),
            producerVersion: string(model.pointee.producer_version))
    }

    /// Decodes a serialized TensorProto (the `.pb` files of ONNX's test data).
    static func decodeTensor(_ data: Data) throws -> ONNXProto.TensorData {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> ONNXProto.TensorData in
            guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self),
                let tensor = onnx__tensor_proto__unpack(nil, buffer.count, base)
            else { throw DFCError("not a TensorProto (truncated or corrupted protobuf)") }
            defer { onnx__tensor_proto__free_unpacked(tensor, nil) }
            return copyTensor(tensor.pointee)
        }
    }

    // MARK: - Copying out of C

    private static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }

    private static func array<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int) -> [T] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: pointer, count: count))
    }

    private static func pointers<T>(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int)
        -> [UnsafeMutablePointer<T>]
    {
        array(pointer, count).compactMap { $0 }
    }

    private static func bytes(_ binary: ProtobufCBinaryData) -> [UInt8] {
        array(binary.data, binary.len)
    }

    private static func copyGraph(_ graph: Onnx__GraphProto) -> ONNXProto.Graph {
        ONNXProto.Graph(
            name: string(graph.name),
            nodes: pointers(graph.node, graph.n_node).map { copyNode($0.pointee) },
            initializers: pointers(graph.initializer, graph.n_initializer).map { copyTensor(releasing: $0) },
            inputs: pointers(graph.input, graph.n_input).map { copyValueInfo($0.pointee) },
            outputs: pointers(graph.output, graph.n_output).map { copyValueInfo($0.pointee) },
            valueInfo: pointers(graph.value_info, graph.n_value_info).map { copyValueInfo($0.pointee) })
    }

    private static func copyNode(_ node: Onnx__NodeProto) -> ONNXProto.Node {
        ONNXProto.Node(
            name: string(node.name),
            opType: string(node.op_type),
            domain: string(node.domain),
            inputs: array(node.input, node.n_input).map { string($0) },
            outputs: array(node.output, node.n_output).map { string($0) },
            attributes: pointers(node.attribute, node.n_attribute).map {
                (string($0.pointee.name), copyAttribute($0.pointee))
            })
    }

    private static func copyAttribute(_ a: Onnx__AttributeProto) -> ONNXProto.AttributeValue {
        // Old exporters omit `type`; infer it from whichever field is set.
        var type = a.has_type != 0 ? a.type : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED
        if type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED {
            if a.has_i != 0 {
                type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
            } else if a.has_f != 0 {
                type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
            } else if a.has_s != 0 {
                type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
            } else if a.t != nil {
                type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
            } else if a.n_ints > 0 {
                type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
            } else if a.n_floats > 0 {
                type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
            } else if a.n_strings > 0 {
                type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS
            }
        }
        switch type {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return .int(a.i)
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return .float(a.f)
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return .bytes(bytes(a.s))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
            guard let t = a.t else { return .other("tensor attribute without a tensor") }
            return .tensor(copyTensor(t.pointee))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return .ints(array(a.ints, a.n_ints))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return .floats(array(a.floats, a.n_floats))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return .strings(array(a.strings, a.n_strings).map(bytes))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
            return .tensors(pointers(a.tensors, a.n_tensors).map { copyTensor($0.pointee) })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
            return .other("graph")
        default: return .other("attribute type \(type.rawValue)")
        }
    }

    private static func copyValueInfo(_ info: Onnx__ValueInfoProto) -> ONNXProto.ValueInfo {
        var result = ONNXProto.ValueInfo(name: string(info.name), elementType: nil, dims: nil)
        guard let type = info.type, type.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
            let tensorType = type.pointee.tensor_type
        else { return result }
        if tensorType.pointee.has_elem_type != 0 { result.elementType = tensorType.pointee.elem_type }
        if let shape = tensorType.pointee.shape {
            result.dims = pointers(shape.pointee.dim, shape.pointee.n_dim).map { dim -> Dim in
                switch dim.pointee.value_case {
                case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE:
                    // Exporters write an unknown dim as -1: unknown, bound by --input-shape. A 0 stays
                    // a real empty axis (ONNX's own test models use them).
                    return dim.pointee.dim_value >= 0 ? .known(Int(dim.pointee.dim_value)) : .unknown
                case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
                    return .symbolic(string(dim.pointee.dim_param))
                default: return .unknown
                }
            }
        }
        return result
    }

    /// `copyTensor`, freeing the C copy of the raw bytes at once, so that a
    /// model's weights are held by C or by Swift but never by both in full.
    /// (libprotobuf-c frees a NULL field's data as a no-op.)
    private static func copyTensor(releasing t: UnsafeMutablePointer<Onnx__TensorProto>) -> ONNXProto.TensorData {
        let copy = copyTensor(t.pointee)
        if t.pointee.has_raw_data != 0 {
            free(t.pointee.raw_data.data)
            t.pointee.raw_data.data = nil
            t.pointee.raw_data.len = 0
        }
        return copy
    }

    private static func copyTensor(_ t: Onnx__TensorProto) -> ONNXProto.TensorData {
        let payload: ONNXProto.TensorData.Payload
        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            var entries: [String: String] = [:]
            for entry in pointers(t.external_data, t.n_external_data) {
                entries[string(entry.pointee.key)] = string(entry.pointee.value)
            }
            payload = .external(entries)
        } else if t.has_raw_data != 0 {
            payload = .raw(bytes(t.raw_data))
        } else if t.n_float_data > 0 {
            payload = .floats(array(t.float_data, t.n_float_data))
        } else if t.n_int32_data > 0 {
            payload = .int32s(array(t.int32_data, t.n_int32_data))
        } else if t.n_int64_data > 0 {
            payload = .int64s(array(t.int64_data, t.n_int64_data))
        } else if t.n_double_data > 0 {
            payload = .doubles(array(t.double_data, t.n_double_data))
        } else if t.n_uint64_data > 0 {
            payload = .uint64s(array(t.uint64_data, t.n_uint64_data))
        } else if t.n_string_data > 0 {
            payload = .strings(t.n_string_data)
        } else {
            payload = .none
        }
        return ONNXProto.TensorData(
            name: string(t.name), dims: array(t.dims, t.n_dims),
            dataType: t.has_data_type != 0 ? t.data_type : 0, payload: payload)
    }
}
