// Text forms of the ISA, all driven by the payloads' `fields(_:)`: the
// disassembly of a program and the field tables of docs/isa.md.

/// Prints fields as `name=value`, groups as `name={...}`, arrays as `name=[...]`.
struct FieldPrinter: FieldCoder {
    var parts: [String] = []

    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws {
        parts.append("\(name)=\(value)")
    }
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws {
        parts.append("\(name)=[\(values.map(String.init).joined(separator: ","))]")
    }
    mutating func float(_ name: String, _ value: inout Float) throws { parts.append("\(name)=\(value)") }
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws {
        parts.append("\(name)=[\(values.map { "\($0)" }.joined(separator: ","))]")
    }
    mutating func bool(_ name: String, _ value: inout Bool) throws { parts.append("\(name)=\(value ? 1 : 0)") }
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws {
        parts.append("\(name)=\(value)")
    }
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws {
        var inner = FieldPrinter()
        try value.fields(&inner)
        parts.append("\(name)={\(inner.parts.joined(separator: " "))}")
    }
}

extension Instruction {
    /// One line: mnemonic, engine, tokens and every field, e.g.
    /// `conv@matrix wait=[load] signal=[store] in={addr=0 c=1 ...} ...`.
    public var text: String {
        var printer = FieldPrinter()
        var op = operation
        try? op.fields(&printer)
        var head = "\(opcode.mnemonic)@\(engine.name)"
        if !wait.isEmpty { head += " wait=[\(wait.engines.map(\.name).joined(separator: ","))]" }
        if !signal.isEmpty { head += " signal=[\(signal.engines.map(\.name).joined(separator: ","))]" }
        return ([head] + printer.parts).joined(separator: " ")
    }
}

extension Program {
    /// The whole program as text: a header of `;` comment lines (config, DRAM,
    /// tensors), then one instruction per line with its ONNX node names.
    /// `timing`: each line also gives the cycles the timing model runs the
    /// instruction in, `[start, end)`.
    public func disassembly(timing: Bool = false) -> String {
        var lines: [String] = []
        let c = config
        lines.append(
            "; dfx version \(Self.formatVersion), config \(c.name): sram \(c.sramBytes) B, matrix \(c.matrixInputLanes)x\(c.matrixOutputLanes), vector \(c.vectorLanes), dram \(c.dramBytesPerCycle) B/cycle, burst \(c.dramBurstBytes) B, dma setup \(c.dmaSetupCycles), host setup \(c.hostSetupCycles) + 1/\(c.hostElementsPerCycle) per element, clock \(c.clockHz) Hz"
        )
        let e = c.energy
        lines.append(
            "; energy pJ: dram \(picojoulesText(e.dramFemtojoulesPerByte))/B, sram read \(picojoulesText(e.sramReadFemtojoulesPerByte))/B, sram write \(picojoulesText(e.sramWriteFemtojoulesPerByte))/B, mac \(picojoulesText(e.macFemtojoules)), vector element \(picojoulesText(e.vectorElementFemtojoules))"
        )
        lines.append("; dram \(dramBytes) bytes, constants [0, \(constants.count))")
        for t in tensors {
            lines.append("; \(t.role.name) \(t.name): \(t.dtype) \(shapeText(t.shape)) at \(t.address)")
        }
        let width = String(max(0, instructions.count - 1)).count
        let schedule = timing ? config.schedule(instructions, constantsBytes: constants.count).schedule : []
        let cycleWidth = String(schedule.map(\.end).max() ?? 0).count
        func padded(_ n: Int) -> String {
            let s = String(n); return String(repeating: " ", count: cycleWidth - s.count) + s
        }
        for (i, instruction) in instructions.enumerated() {
            let index = String(i)
            var line = String(repeating: " ", count: width - index.count) + index + "  "
            if timing { line += "[\(padded(schedule[i].start)), \(padded(schedule[i].end)))  " }
            line += instruction.text
            let names = i < debugNames.count ? debugNames[i] : []
            if !names.isEmpty { line += "  ; " + names.joined(separator: ", ") }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Lists fields with their widths, flattening groups to `group.field`.
struct FieldLister: FieldCoder {
    var rows: [(name: String, kind: String)] = []
    var prefix = ""

    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws {
        rows.append((prefix + name, width.name))
    }
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws {
        rows.append((prefix + name, "\(width.name) x \(count)"))
    }
    mutating func float(_ name: String, _ value: inout Float) throws { rows.append((prefix + name, "f32")) }
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws {
        rows.append((prefix + name, "f32 x \(count)"))
    }
    mutating func bool(_ name: String, _ value: inout Bool) throws { rows.append((prefix + name, "u8 (0/1)")) }
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws {
        let cases = E.allCases.map { "\($0.rawValue)=\($0)" }.joined(separator: ", ")
        rows.append((prefix + name, "u8: \(cases)"))
    }
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws {
        let saved = prefix
        prefix += name + "."
        try value.fields(&self)
        prefix = saved
    }
}

public enum ISADocumentation {
    /// The encoding tables of docs/isa.md, generated from the ISA definition.
    /// A test checks that the document contains exactly this text.
    public static func fieldTables() -> String {
        var out = ""
        for opcode in Opcode.allCases {
            var lister = FieldLister()
            var op = Op.empty(opcode)
            try? op.fields(&lister)
            var encoder = FieldEncoder()
            try? op.fields(&encoder)
            let bytes = 3 + encoder.w.bytes.count
            out += "#### `\(opcode.mnemonic)` (opcode \(opcode.rawValue), \(bytes) bytes)\n\n"
            out += "| field | encoding |\n| --- | --- |\n"
            for row in lister.rows { out += "| `\(row.name)` | \(row.kind) |\n" }
            out += "\n"
        }
        return out
    }
}
