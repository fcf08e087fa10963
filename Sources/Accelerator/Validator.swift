// Whole-program validation, done before anything runs: every field fits its
// width, every SRAM and DRAM range is in bounds (overflow-checked), shapes agree,
// and the dependency tokens balance in program order, so no run can deadlock.

/// Facts the validator establishes about a valid program.
public struct ProgramSummary: Equatable, Sendable {
    /// One past the highest SRAM byte any instruction touches.
    public var sramPeakBytes: Int
    /// Sum over instructions of their element operations (MACs, element
    /// visits) and of the sizes of the memory ranges they touch; a bound on
    /// the executor's and the hazard checker's work.
    public var work: Int
}

extension Program {
    /// Checks the whole program; throws a `ProgramError` naming the first problem.
    @discardableResult
    public func validate() throws -> ProgramSummary {
        do { try config.validate() } catch let e as ConfigError { throw ProgramError.invalid("config: \(e.message)") }
        guard dramBytes >= 0, dramBytes <= Limits.dramBytes, dramBytes % 4 == 0 else {
            throw ProgramError.invalid("DRAM size \(dramBytes) must be a multiple of 4 in 0...\(Limits.dramBytes)")
        }
        guard constants.count <= dramBytes else {
            throw ProgramError.invalid(
                "constants segment (\(constants.count) bytes) is larger than DRAM (\(dramBytes))")
        }
        guard debugNames.count == instructions.count else {
            throw ProgramError.invalid(
                "debug map has \(debugNames.count) entries for \(instructions.count) instructions")
        }
        guard dramReferences.count == instructions.count else {
            throw ProgramError.invalid(
                "DRAM map has \(dramReferences.count) entries for \(instructions.count) instructions")
        }
        for r in dramRegions where r.address < 0 || r.bytes < 0 || r.address > dramBytes - r.bytes {
            throw ProgramError.invalid("DRAM region '\(r.name)' is outside DRAM")
        }
        for (i, list) in dramReferences.enumerated()
        where list.count > Limits.dramFieldsPerInstruction
            || list.contains(where: { !dramRegions.indices.contains($0) })
        {
            throw ProgramError.invalid("instruction \(i) refers to a DRAM region that does not exist")
        }
        try validateTensors()
        let checker = InstructionChecker(
            sramBytes: config.sramBytes, dramBytes: dramBytes, constantsEnd: constants.count)
        var summary = ProgramSummary(sramPeakBytes: 0, work: 0)
        for (i, instruction) in instructions.enumerated() {
            do {
                var op = instruction.operation
                var ranges = FieldRangeChecker()
                try op.fields(&ranges)
                let facts = try checker.check(instruction.operation)
                summary.sramPeakBytes = max(summary.sramPeakBytes, facts.sramEnd)
                let (w, overflow) = summary.work.addingReportingOverflow(facts.work + facts.touched)
                guard !overflow else { throw ProgramError.invalid("total work overflows") }
                summary.work = w
            } catch let e as ProgramError {
                throw ProgramError("\(e.message) (instruction \(i), \(instruction.opcode.mnemonic))")
            }
        }
        try validateTokens()
        return summary
    }

    private func validateTensors() throws {
        var seen = Set<String>()
        var inputRanges: [(name: String, range: Range<Int>)] = []
        for t in tensors {
            guard !t.name.isEmpty else { throw ProgramError.invalid("a tensor has an empty name") }
            guard seen.insert(t.name).inserted else {
                throw ProgramError.invalid("tensor name '\(t.name)' appears twice")
            }
            var bytes = t.dtype.byteSize
            for d in t.shape {
                guard d >= 0 else { throw ProgramError.invalid("tensor '\(t.name)' has a negative dimension") }
                let (b, overflow) = bytes.multipliedReportingOverflow(by: d)
                guard !overflow, b <= dramBytes else {
                    throw ProgramError.invalid("tensor '\(t.name)' (\(shapeText(t.shape))) does not fit in DRAM")
                }
                bytes = b
            }
            guard t.address >= 0, t.address % 4 == 0, t.address <= dramBytes - bytes else {
                throw ProgramError.invalid(
                    "tensor '\(t.name)' at \(t.address) (\(bytes) bytes) is outside DRAM (\(dramBytes) bytes) or misaligned"
                )
            }
            let range = t.address..<t.address + bytes
            if t.role == .input {
                guard range.lowerBound >= constants.count || range.isEmpty else {
                    throw ProgramError.invalid("input '\(t.name)' overlaps the constants segment")
                }
                inputRanges.append((t.name, range))
            }
        }
        try checkInputsApart(inputRanges)
    }

    /// No two inputs share a byte: sorted by address, each must begin after
    /// the furthest end of those before it (O(n log n), where comparing every
    /// pair was O(n^2) for up to 65536 inputs). Names one overlapping pair,
    /// the one earlier in the table first.
    private func checkInputsApart(_ inputs: [(name: String, range: Range<Int>)]) throws {
        let order = inputs.indices.filter { !inputs[$0].range.isEmpty }.sorted {
            inputs[$0].range.lowerBound < inputs[$1].range.lowerBound
        }
        var clash: (Int, Int)? = nil
        var reach = -1  // the input reaching furthest among those that start before the current one
        for k in order {
            if reach >= 0 && inputs[reach].range.overlaps(inputs[k].range) {
                let pair = (min(reach, k), max(reach, k))
                if clash == nil || pair.1 < clash!.1 || (pair.1 == clash!.1 && pair.0 < clash!.0) { clash = pair }
            }
            if reach < 0 || inputs[k].range.upperBound > inputs[reach].range.upperBound { reach = k }
        }
        if let (a, b) = clash {
            throw ProgramError.invalid("inputs '\(inputs[a].name)' and '\(inputs[b].name)' overlap in DRAM")
        }
    }

    /// Plays the token protocol in program order: each wait must pop a token an
    /// earlier instruction pushed. That order is one valid schedule, and since a
    /// queue only ever gains tokens until its single consumer pops, every
    /// schedule the engines can follow completes: no deadlock. All queues must
    /// be empty at the end.
    private func validateTokens() throws {
        let n = Engine.allCases.count
        var queues = [Int](repeating: 0, count: n * n)  // [src * n + dst]
        for (i, instruction) in instructions.enumerated() {
            let e = instruction.engine
            for w in instruction.wait.engines {
                guard w != e else {
                    throw ProgramError.invalid(
                        "instruction \(i) (\(instruction.opcode.mnemonic)) waits on its own engine \(e.name)")
                }
                guard queues[w.index * n + e.index] > 0 else {
                    throw ProgramError.invalid(
                        "instruction \(i) (\(instruction.opcode.mnemonic) on \(e.name)) waits for a token from \(w.name) that no earlier instruction signals: the program would deadlock"
                    )
                }
                queues[w.index * n + e.index] -= 1
            }
            for s in instruction.signal.engines {
                guard s != e else {
                    throw ProgramError.invalid(
                        "instruction \(i) (\(instruction.opcode.mnemonic)) signals its own engine \(e.name)")
                }
                queues[e.index * n + s.index] += 1
            }
        }
        for src in Engine.allCases {
            for dst in Engine.allCases where queues[src.index * n + dst.index] > 0 {
                throw ProgramError.invalid(
                    "\(queues[src.index * n + dst.index]) token(s) from \(src.name) to \(dst.name) are never consumed")
            }
        }
    }
}

extension Engine {
    var index: Int { Int(rawValue) }
}

func shapeText(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "x") }
