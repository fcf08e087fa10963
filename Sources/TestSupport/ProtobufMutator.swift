import Tensors

/// A protobuf message read from the wire format without a schema: its fields
/// in file order, each a varint, a fixed-width value, or length-delimited
/// bytes that are kept as a nested message when they parse as one.
///
/// The fuzz tests mutate this tree and serialize it again, so every length
/// prefix around a mutation is recomputed and the damage reaches the field
/// it was aimed at instead of breaking the framing of the whole file.
package struct WireMessage: Equatable {
    package enum Value: Equatable {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes([UInt8])
        case message(WireMessage)
    }

    package struct Field: Equatable {
        package var number: UInt64
        package var value: Value
        /// Written as this wire type instead of the value's own (a wrong wire type).
        package var wireTypeOverride: UInt64?
        /// Added to the true length of a length-delimited field (a lying length prefix).
        package var lengthLie: Int64 = 0
        /// Extra 0x80 bytes padding the varint of the key (non-canonical, or over 10 bytes).
        package var keyPadding = 0

        package init(number: UInt64, value: Value) {
            self.number = number
            self.value = value
        }

        package var wireType: UInt64 {
            switch value {
            case .varint: 0
            case .fixed64: 1
            case .bytes, .message: 2
            case .fixed32: 5
            }
        }
    }

    package var fields: [Field] = []

    package init(fields: [Field] = []) { self.fields = fields }

    /// Nested messages deeper than this stay bytes (real ONNX models stay under 20).
    static let maxParseDepth = 24

    /// Parses `bytes` as a message; nil unless every byte belongs to a well-formed field.
    package static func parse(_ bytes: ArraySlice<UInt8>, depth: Int = 0) -> WireMessage? {
        var message = WireMessage()
        var offset = bytes.startIndex
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.endIndex, shift < 64 {
                let byte = bytes[offset]
                offset += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }
        while offset < bytes.endIndex {
            guard let key = varint() else { return nil }
            let number = key >> 3
            // Schema field numbers of ONNX stay small; larger ones mean the bytes were not a message.
            guard (1...64).contains(number) else { return nil }
            let value: Value
            switch key & 7 {
            case 0:
                guard let v = varint() else { return nil }
                value = .varint(v)
            case 1, 5:
                let width = key & 7 == 1 ? 8 : 4
                guard bytes.endIndex - offset >= width else { return nil }
                var v: UInt64 = 0
                for i in 0..<width { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
                offset += width
                value = width == 8 ? .fixed64(v) : .fixed32(UInt32(v))
            case 2:
                guard let length = varint(), length <= UInt64(bytes.endIndex - offset) else { return nil }
                let payload = bytes[offset..<offset + Int(length)]
                offset += Int(length)
                if depth < maxParseDepth, !payload.isEmpty, let inner = parse(payload, depth: depth + 1) {
                    value = .message(inner)
                } else {
                    value = .bytes(Array(payload))
                }
            default:
                return nil
            }
            message.fields.append(Field(number: number, value: value))
        }
        return message
    }

    package func serialized() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    private func write(to out: inout [UInt8]) {
        for field in fields {
            Self.varint(field.number << 3 | (field.wireTypeOverride ?? field.wireType), &out, padding: field.keyPadding)
            switch field.value {
            case .varint(let v): Self.varint(v, &out)
            case .fixed64(let v): for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
            case .fixed32(let v): for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
            case .bytes(let payload):
                Self.varint(Self.lie(payload.count, field.lengthLie), &out)
                out += payload
            case .message(let inner):
                let payload = inner.serialized()
                Self.varint(Self.lie(payload.count, field.lengthLie), &out)
                out += payload
            }
        }
    }

    private static func lie(_ length: Int, _ delta: Int64) -> UInt64 {
        UInt64(bitPattern: Int64(length) &+ delta)
    }

    static func varint(_ value: UInt64, _ out: inout [UInt8], padding: Int = 0) {
        var v = value
        var pad = padding
        while v >= 0x80 || pad > 0 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
            if v == 0 { pad -= 1 }
        }
        out.append(UInt8(v))
    }

    // MARK: - Addressing fields anywhere in the tree

    /// The path of every field: indices from the top message down.
    package func fieldPaths(prefix: [Int] = []) -> [[Int]] {
        var paths: [[Int]] = []
        for (i, field) in fields.enumerated() {
            paths.append(prefix + [i])
            if case .message(let inner) = field.value { paths += inner.fieldPaths(prefix: prefix + [i]) }
        }
        return paths
    }

    /// Applies `change` to the message that holds the field at `path` (the last index names the field).
    package mutating func withParent(of path: [Int], _ change: (inout WireMessage, Int) -> Void) {
        guard let first = path.first else { return }
        if path.count == 1 { return change(&self, first) }
        guard case .message(var inner) = fields[first].value else { return }
        inner.withParent(of: Array(path.dropFirst()), change)
        fields[first].value = .message(inner)
    }

    package func field(at path: [Int]) -> Field? {
        guard let first = path.first, first < fields.count else { return nil }
        if path.count == 1 { return fields[first] }
        guard case .message(let inner) = fields[first].value else { return nil }
        return inner.field(at: Array(path.dropFirst()))
    }
}

/// Seeded mutations of ONNX files: at the protobuf field level (varints,
/// lengths, wire types, repeated fields, splices between models) and of the
/// raw bytes (truncation, bit flips, splicing two files).
package enum ProtobufMutator {
    /// Values that sit on the edges of the integer types the decoders convert to.
    static let interestingVarints: [UInt64] = [
        0, 1, 2, 3, 7, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, 1 << 40,
        1 << 62, UInt64(Int64.max), 1 << 63, UInt64.max, UInt64.max - 1
    ]

    /// One mutant of `original`; `donors` supply fields and bytes to splice in.
    package static func mutate(_ original: [UInt8], donors: [[UInt8]], rng: inout SeededRandom) -> [UInt8] {
        let roll = Int.random(in: 0..<100, using: &rng)
        if roll < 75, var message = WireMessage.parse(original[...]) {
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                mutateField(&message, donors: donors, rng: &rng)
            }
            return message.serialized()
        }
        return mutateBytes(original, donors: donors, rng: &rng)
    }

    /// A structural mutation of one field somewhere in `message`.
    package static func mutateField(_ message: inout WireMessage, donors: [[UInt8]], rng: inout SeededRandom) {
        let paths = message.fieldPaths()
        guard let path = paths.randomElement(using: &rng) else { return }
        let kind = Int.random(in: 0..<11, using: &rng)
        // A field of the same number from a donor model, for splices.
        let donorField: WireMessage.Field? = {
            guard kind == 10, let donor = donors.randomElement(using: &rng),
                let parsed = WireMessage.parse(donor[...])
            else { return nil }
            let number = message.field(at: path)?.number
            let candidates = parsed.fieldPaths().compactMap { parsed.field(at: $0) }.filter { $0.number == number }
            return candidates.randomElement(using: &rng)
        }()
        message.withParent(of: path) { parent, index in
            var field = parent.fields[index]
            switch kind {
            case 0:  // an integer at the edge of a type
                if case .varint = field.value {
                    field.value = .varint(interestingVarints.randomElement(using: &rng)!)
                } else if case .fixed32 = field.value {
                    field.value = .fixed32(
                        [0, 0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0x7f7f_ffff, 1].randomElement(using: &rng)!)
                } else {
                    field.lengthLie = [-1, 1, 7, -Int64(1 << 20), 1 << 31].randomElement(using: &rng)!
                }
            case 1:  // a varint nudged by one
                if case .varint(let v) = field.value {
                    field.value = .varint(Bool.random(using: &rng) ? v &+ 1 : v &- 1)
                } else {
                    field.lengthLie = Bool.random(using: &rng) ? 1 : -1
                }
            case 2:  // a wrong wire type
                field.wireTypeOverride = UInt64.random(in: 0...7, using: &rng)
            case 3:  // another field number
                field.number =
                    Bool.random(using: &rng)
                    ? max(1, field.number &+ (Bool.random(using: &rng) ? 1 : UInt64.max))
                    : UInt64.random(
                        in: 1...24, using: &rng)
            case 4:  // removed
                parent.fields.remove(at: index)
                return
            case 5:  // repeated: the field twice, or many times
                let copies = Bool.random(using: &rng) ? 1 : Int.random(in: 2...64, using: &rng)
                parent.fields.insert(contentsOf: Array(repeating: field, count: copies), at: index)
                return
            case 6:  // two fields swap places
                let other = Int.random(in: 0..<parent.fields.count, using: &rng)
                parent.fields.swapAt(index, other)
                return
            case 7:  // a non-canonical key: padded, or past the 10-byte limit
                field.keyPadding = Int.random(in: 1...10, using: &rng)
            case 8:  // bytes cut short or run long (raw_data, names, packed arrays)
                switch field.value {
                case .bytes(var payload):
                    if !payload.isEmpty && Bool.random(using: &rng) {
                        payload.removeLast(Int.random(in: 1...payload.count, using: &rng))
                    } else {
                        payload += (0..<Int.random(in: 1...16, using: &rng)).map { _ in
                            UInt8.random(in: 0...255, using: &rng)
                        }
                    }
                    field.value = .bytes(payload)
                case .message(let inner):
                    var payload = inner.serialized()
                    if !payload.isEmpty {
                        payload[Int.random(in: 0..<payload.count, using: &rng)] ^= UInt8.random(
                            in: 1...255, using: &rng)
                    }
                    field.value = .bytes(payload)
                default:
                    field.value = .bytes([])
                }
            case 9:  // a random byte inside bytes
                if case .bytes(var payload) = field.value, !payload.isEmpty {
                    payload[Int.random(in: 0..<payload.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    field.value = .bytes(payload)
                } else {
                    field.value = .varint(UInt64.random(in: 0...UInt64.max, using: &rng))
                }
            default:  // spliced in from another model
                if let donorField { field = donorField }
            }
            parent.fields[index] = field
        }
    }

    /// A mutation of the raw bytes, blind to their structure.
    package static func mutateBytes(_ original: [UInt8], donors: [[UInt8]], rng: inout SeededRandom) -> [UInt8] {
        var bytes = original
        guard !bytes.isEmpty else { return [0x0a] }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:  // truncated
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
        case 1:  // the head of this file, the tail of another
            let donor = donors.randomElement(using: &rng) ?? original
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            let from = Int.random(in: 0...donor.count, using: &rng)
            bytes = Array(bytes[..<cut]) + donor[from...]
        case 2:  // a run of bytes overwritten
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            let run = Int.random(in: 1...16, using: &rng)
            let byte: UInt8 = [0, 0xff, 0x80, 0x07].randomElement(using: &rng)!
            for i in at..<min(bytes.count, at + run) { bytes[i] = byte }
        default:  // bits flipped
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
        }
        return bytes
    }
}
