import GraphIR
import Tensors

/// A pre-flight walk over the protobuf wire format of an ONNX model.
///
/// libprotobuf-c reports only "failed" and recurses once per nested message,
/// so a hostile file nested a hundred thousand levels deep would exhaust the
/// stack. This walk is iterative, bounds the nesting depth, and says where
/// and how a damaged file goes wrong, before protobuf-c ever sees it.
enum WireCheck {
    /// Deepest message nesting accepted (real models stay below 20).
    static let maxDepth = 64

    /// The schema's message-typed fields: (message, field number) -> message.
    /// Only these are descended into; protobuf-c treats the rest as opaque.
    private enum Message {
        case model, graph, node, attribute, tensor, segment, entry, valueInfo, type, tensorType, shape, dimension,
            opset, opaque
    }

    private static func child(of message: Message, field: UInt64) -> Message? {
        switch (message, field) {
        case (.model, 7): return .graph
        case (.model, 8): return .opset
        case (.graph, 1): return .node
        case (.graph, 5): return .tensor
        case (.graph, 11), (.graph, 12), (.graph, 13): return .valueInfo
        case (.node, 5): return .attribute
        case (.attribute, 5), (.attribute, 10): return .tensor
        case (.attribute, 6), (.attribute, 11): return .graph
        case (.tensor, 3): return .segment
        case (.tensor, 13): return .entry
        case (.valueInfo, 2): return .type
        case (.type, 1): return .tensorType
        case (.tensorType, 2): return .shape
        case (.shape, 1): return .dimension
        default: return nil
        }
    }

    /// A damaged first field means the file was never a protobuf at all.
    private static func failure(_ problem: String, at byte: Int) -> DFCError {
        byte < 8
            ? DFCError("not an ONNX model (no valid protobuf at the start of the file: \(problem))") : DFCError(problem)
    }

    /// Throws a description of the first problem found in `bytes`.
    static func check(_ bytes: UnsafeRawBufferPointer) throws {
        // Each frame: the message being read and where it ends.
        var stack: [(message: Message, end: Int)] = [(.model, bytes.count)]
        var offset = 0
        var sawGraph = false

        func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < stack.last!.end else {
                    throw failure(
                        "truncated or corrupted protobuf (varint runs past the end of its message at byte \(offset))",
                        at: offset)
                }
                let byte = bytes[offset]
                offset += 1
                guard shift < 64 else {
                    throw failure("corrupted protobuf (varint longer than 10 bytes at byte \(offset))", at: offset)
                }
                result |= UInt64(byte & 0x7f) << shift
                shift += 7
                if byte & 0x80 == 0 { return result }
            }
        }

        while true {
            while let top = stack.last, offset == top.end {
                stack.removeLast()
                if stack.isEmpty { break }
            }
            if stack.isEmpty { break }
            let message = stack[stack.count - 1].message
            let end = stack[stack.count - 1].end
            let tagOffset = offset
            let tag = try varint()
            let field = tag >> 3
            guard field != 0 else {
                throw failure("corrupted protobuf (field number 0 at byte \(tagOffset))", at: tagOffset)
            }
            switch tag & 7 {
            case 0:
                _ = try varint()
            case 1, 5:
                let width = tag & 7 == 1 ? 8 : 4
                guard end - offset >= width else {
                    throw failure(
                        "truncated protobuf (fixed-width field at byte \(tagOffset) runs past the end)", at: tagOffset)
                }
                offset += width
            case 2:
                let length = try varint()
                guard length <= UInt64(end - offset) else {
                    throw failure(
                        "truncated protobuf (field \(field) at byte \(tagOffset) claims \(length) bytes, \(end - offset) remain)",
                        at: tagOffset)
                }
                if message == .model && field == 7 { sawGraph = true }
                if let inner = child(of: message, field: field) {
                    guard stack.count < maxDepth else {
                        throw DFCError("protobuf nested deeper than \(maxDepth) messages; refusing to decode")
                    }
                    stack.append((inner, offset + Int(length)))
                } else {
                    offset += Int(length)
                }
            default:
                throw failure("corrupted protobuf (invalid wire type \(tag & 7) at byte \(tagOffset))", at: tagOffset)
            }
        }
        guard sawGraph else { throw DFCError("not an ONNX model (no graph in the protobuf)") }
    }
}
