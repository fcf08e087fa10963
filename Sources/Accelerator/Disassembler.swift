// Text forms of the ISA, all driven by the payloads' `fields(_:)`: the
// disassembly of a program and the field tables of docs/isa.md.

/// Prints fields as `name=value`, groups as `name={...}`, arrays as `name=[...]`.
/// `dramName` (when set) writes the fields named in `dramFields` as a DRAM
/// address in words, e.g. `dram=input+4096`; it is given the field's place
/// among them and its value.
struct FieldPrinter: FieldCoder {
    var parts: [String] = []
    var dramFields: Set<String> = []
    var dramName: ((Int, Int) -> String)? = nil
    private var dramSeen = 0

    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws {
        if let dramName, dramFields.contains(name) {
            parts.append("\(name)=\(dramName(dramSeen, value))")
            dramSeen += 1
        } else {
            parts.append("\(name)=\(value)")
        }
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
    /// The fields holding DRAM addresses, in field order (what `Program.dramReferences` lists).
    public var dramFieldNames: Set<String> {
        switch opcode {
        case .load, .store: ["dram"]
        case .hostCopy, .hostSoftmax, .hostLRN, .hostResize, .hostTranspose, .hostReduceMean: ["src", "dst"]
        default: []
        }
    }

    /// The values of `dramFieldNames`, in field order.
    public var dramAddresses: [Int] {
        switch operation {
        case .load(let t), .store(let t): return [t.dramAddr]
        case _ where dramFieldNames.isEmpty: return []
        default: break
        }
        var printer = FieldPrinter()
        var addresses: [Int] = []
        printer.dramFields = dramFieldNames
        printer.dramName = { _, value in
            addresses.append(value)
            return ""
        }
        var op = operation
        try? op.fields(&printer)
        return addresses
    }

    /// One line: mnemonic, engine, tokens and every field, e.g.
    /// `conv@matrix wait=[load] signal=[store] in={addr=0 c=1 ...} ...`.
    public var text: String { tokens().joined(separator: " ") }

    /// The words of `text`; `dramName` (when set) names the DRAM addresses
    /// of transfers and host instructions.
    func tokens(dramName: ((Int, Int) -> String)? = nil) -> [String] {
        var printer = FieldPrinter()
        printer.dramName = dramName
        printer.dramFields = dramFieldNames
        var op = operation
        try? op.fields(&printer)
        var head = "\(opcode.mnemonic)@\(engine.name)"
        if !wait.isEmpty { head += " wait=[\(wait.engines.map(\.name).joined(separator: ","))]" }
        if !signal.isEmpty { head += " signal=[\(signal.engines.map(\.name).joined(separator: ","))]" }
        return [head] + printer.parts
    }
}

/// What `Program.disassembly` prints and how.
public struct DisassemblyOptions: Sendable {
    /// Each instruction's [start, end) cycle under the timing model (the program must be valid).
    public var timing = false
    /// Only instructions whose ONNX nodes include this one.
    public var node: String? = nil
    /// Only instructions with these indices.
    public var range: Range<Int>? = nil
    /// DRAM addresses as region + byte offset (`conv1_w`, `relu5_out+128`; without a DRAM map
    /// `input+128`, `constants+4096`, `work+0`).
    public var symbolic = false
    /// Longest line (nil: no limit); longer instructions continue on indented lines.
    public var width: Int? = nil
    public init() {}
    /// What `dfc disasm` prints by default.
    public static let human: DisassemblyOptions = {
        var o = DisassemblyOptions()
        (o.symbolic, o.width) = (true, 120)
        return o
    }()
}

extension Program {
    /// The whole program as text: a header of `;` comment lines (config, DRAM,
    /// tensors), then one instruction per line with its ONNX node names.
    /// `timing`: each line also gives the cycles the timing model runs the
    /// instruction in, `[start, end)`.
    public func disassembly(timing: Bool = false) -> String {
        var options = DisassemblyOptions()
        options.timing = timing
        return disassembly(options)
    }

    /// The header lines, each under 120 columns.
    var headerLines: [String] {
        let c = config, e = c.energy
        return [
            "; dfx version \(Self.formatVersion), config \(c.name), clock \(c.clockHz) Hz",
            "; sram \(c.sramBytes) B, matrix \(c.matrixInputLanes)x\(c.matrixOutputLanes), vector \(c.vectorLanes)",
            "; dram \(c.dramBytesPerCycle) B/cycle, burst \(c.dramBurstBytes) B, dma setup \(c.dmaSetupCycles)",
            "; host setup \(c.hostSetupCycles) + 1/\(c.hostElementsPerCycle) per element",
            "; energy pJ: dram \(picojoulesText(e.dramFemtojoulesPerByte))/B, "
                + "sram read \(picojoulesText(e.sramReadFemtojoulesPerByte))/B, "
                + "sram write \(picojoulesText(e.sramWriteFemtojoulesPerByte))/B",
            "; energy pJ: mac \(picojoulesText(e.macFemtojoules)), "
                + "vector element \(picojoulesText(e.vectorElementFemtojoules))",
            "; dram \(dramBytes) bytes, constants [0, \(constants.count))"
        ] + tensors.map { t in "; \(t.role.name) \(t.name): \(t.dtype) \(shapeText(t.shape)) at \(t.address)" }
    }

    /// The program as text, filtered and laid out as `options` say.
    public func disassembly(_ options: DisassemblyOptions) -> String {
        var lines = headerLines
        let width = String(max(0, instructions.count - 1)).count
        let schedule = options.timing ? config.schedule(instructions, constantsBytes: constants.count).schedule : []
        let cycleWidth = String(schedule.map(\.end).max() ?? 0).count
        func padded(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: " ", count: max(0, width - s.count)) + s
        }
        for i in selected(options) {
            let name: ((Int, Int) -> String)? =
                options.symbolic ? { self.dramLocation($1, instruction: i, field: $0) } : nil
            var head = padded(i, width) + "  "
            if options.timing {
                head += "[\(padded(schedule[i].start, cycleWidth)), \(padded(schedule[i].end, cycleWidth)))  "
            }
            var words = instructions[i].tokens(dramName: name)
            let names = i < debugNames.count ? debugNames[i] : []
            // The layer stays on the line of the last field.
            if !names.isEmpty { words[words.count - 1] += "  ; " + names.joined(separator: ", ") }
            lines += Self.wrap(head: head, words: words, width: options.width)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The indices of the instructions `options` keeps, in order.
    func selected(_ options: DisassemblyOptions) -> [Int] {
        let all = 0..<instructions.count
        let range = options.range.map { all.clamped(to: $0) } ?? all
        guard let node = options.node else { return Array(range) }
        return range.filter { $0 < debugNames.count && debugNames[$0].contains(node) }
    }

    /// `head` then the words, space-separated; past `width` columns the rest
    /// continues on lines indented to the first word (a word longer than a
    /// line stays whole).
    static func wrap(head: String, words: [String], width: Int?) -> [String] {
        var lines: [String] = []
        var line = head
        let indent = String(repeating: " ", count: head.count + 2)
        for (k, word) in words.enumerated() {
            let piece = k == 0 ? word : " " + word
            if let width, k > 0, line.count + piece.count > width, line.count > indent.count {
                lines.append(line)
                line = indent + word
            } else {
                line += piece
            }
        }
        lines.append(line)
        return lines
    }

    /// A DRAM byte address as region + offset: the DRAM map's region for
    /// this field of this instruction, else a named input or output tensor,
    /// the constants segment, or the working DRAM after it (`work`).
    public func dramLocation(_ address: Int, instruction: Int? = nil, field: Int = 0) -> String {
        if let i = instruction, i < dramReferences.count, field < dramReferences[i].count,
            dramRegions.indices.contains(dramReferences[i][field])
        {
            let r = dramRegions[dramReferences[i][field]]
            return address == r.address ? r.name : "\(r.name)+\(address - r.address)"
        }
        if let t = tensors.first(where: { address >= $0.address && address < $0.address + max(1, $0.byteCount) }) {
            return address == t.address ? t.name : "\(t.name)+\(address - t.address)"
        }
        if address < constants.count { return "constants+\(address)" }
        return "work+\(address - constants.count)"
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

/// A text table: a header row, then rows, columns padded to their widest
/// cell; columns of numbers are right-aligned, the others left-aligned.
public func textTable(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { c in all.map { $0[c].count }.max()! }
    let numeric = header.indices.map { c in rows.allSatisfy { $0[c].isEmpty || Double($0[c]) != nil } }
    return all.map { row in
        let line = row.indices.map { c in
            let pad = String(repeating: " ", count: widths[c] - row[c].count)
            return numeric[c] ? pad + row[c] : row[c] + pad
        }.joined(separator: "  ")
        return String(line.reversed().drop { $0 == " " }.reversed())
    }.joined(separator: "\n") + "\n"
}

extension Program {
    /// `dfc disasm --summary`: of the instructions `options` selects, the
    /// count and busy cycles (timing model) per engine, per opcode and per
    /// ONNX layer, plus DRAM bytes per layer. The program must be valid.
    public func summary(_ options: DisassemblyOptions) -> String {
        let chosen = selected(options)
        let costs = chosen.map { config.cost(of: instructions[$0], constantsBytes: constants.count) }
        struct Row {
            var count = 0, cycles = 0, dramBytes = 0
            var busy = [Int](repeating: 0, count: Engine.allCases.count)
        }
        var engines = [Row](repeating: Row(), count: Engine.allCases.count)
        var opcodes: [Int: Row] = [:]  // by opcode * 256 + engine: depthwise CONV runs on the vector unit
        var layers: [String: Row] = [:]
        var order: [String] = []
        for (i, cost) in zip(chosen, costs) {
            let instruction = instructions[i]
            func add(_ row: inout Row) {
                row.count += 1
                row.cycles += cost.cycles
                row.dramBytes += cost.dramReadBytes + cost.dramWriteBytes
                row.busy[instruction.engine.index] += cost.cycles
            }
            add(&engines[instruction.engine.index])
            add(&opcodes[Int(instruction.opcode.rawValue) << 8 | instruction.engine.index, default: Row()])
            let names = i < debugNames.count && !debugNames[i].isEmpty ? debugNames[i] : ["(untagged)"]
            let layer = names.joined(separator: ", ")
            if layers[layer] == nil { order.append(layer) }
            add(&layers[layer, default: Row()])
        }
        let span = config.schedule(instructions, constantsBytes: constants.count).schedule
        let first = chosen.map { span[$0].start }.min() ?? 0, last = chosen.map { span[$0].end }.max() ?? 0
        var out = "\(chosen.count) of \(instructions.count) instructions, cycles [\(first), \(last))\n\n"
        out += textTable(
            ["engine", "instructions", "busy cycles", "dram bytes"],
            Engine.allCases.map { e in
                let r = engines[e.index]
                return [e.name, "\(r.count)", "\(r.cycles)", "\(r.dramBytes)"]
            })
        out += "\n"
        out += textTable(
            ["opcode", "engine", "instructions", "busy cycles", "dram bytes"],
            opcodes.keys.sorted().map { key in
                let r = opcodes[key]!
                let op = Opcode(rawValue: UInt8(key >> 8))!, engine = Engine.allCases[key & 255]
                return [op.mnemonic, engine.name, "\(r.count)", "\(r.cycles)", "\(r.dramBytes)"]
            })
        out += "\n"
        out += textTable(
            ["layer", "instructions"] + Engine.allCases.map { "\($0.name) cycles" } + ["dram bytes"],
            order.map { name in
                let r = layers[name]!
                return [name, "\(r.count)"] + r.busy.map(String.init) + ["\(r.dramBytes)"]
            })
        return out
    }
}
