import Tensors

/// What checking one instruction establishes.
struct InstructionFacts {
    var sramEnd = 0
    var work = 0
    /// Bytes / 4 of the memory ranges the instruction's operands span.
    var touched = 0

    /// Records an SRAM range an operand spans.
    @discardableResult
    mutating func sram(_ r: Range<Int>) -> Range<Int> {
        sramEnd = max(sramEnd, r.upperBound)
        touched += r.count / 4
        return r
    }

    /// Records a DRAM range an operand spans.
    @discardableResult
    mutating func dram(_ r: Range<Int>) -> Range<Int> {
        touched += r.count / 4
        return r
    }
}

/// Per-opcode semantic checks. All arithmetic on field values is overflow-checked.
struct InstructionChecker {
    let sramBytes: Int
    let dramBytes: Int
    let constantsEnd: Int

    /// Checks `op` against its opcode's rules, one function per opcode family.
    func check(_ op: Op) throws -> InstructionFacts {
        var facts = InstructionFacts()
        switch op {
        case .load(let t): try checkTransfer(t, isLoad: true, &facts)
        case .store(let t): try checkTransfer(t, isLoad: false, &facts)
        case .conv(let c): try checkConv(c, &facts)
        case .pool(let p): try checkPool(p, &facts)
        case .eltwise(let e): try checkEltwise(e, &facts)
        case .act(let a): try checkAct(a, &facts)
        case .lrn(let l): try checkLRN(l, &facts)
        case .resize(let r): try checkResize(r, &facts)
        case .matmul(let m): try checkMatMul(m, &facts)
        case .copy(let c): try checkCopy(c, &facts)
        case .sync: break
        case .hostCopy, .hostSoftmax, .hostLRN, .hostResize, .hostTranspose, .hostReduceMean: try checkHost(op, &facts)
        }
        return facts
    }

    // MARK: Opcodes

    /// LOAD and STORE: the SRAM box and the in-bounds part of the DRAM box
    /// within memory; a STORE stays inside the tensor and out of the constants.
    func checkTransfer(_ t: TransferOp, isLoad: Bool, _ facts: inout InstructionFacts) throws {
        try positive(t.counts, "box count")
        try aligned(t.dramAddr, "dram address")
        facts.sram(try memory(t.sramAddr, t.counts, t.sramStrides, in: .sram, "SRAM box"))
        let inBounds = try inBoundsBox(t)
        if !isLoad {
            for d in 0..<boxRank where t.origin[d] < 0 || t.origin[d] + t.counts[d] > t.extent[d] {
                throw ProgramError.invalid(
                    "store box dim \(d) [\(t.origin[d]), \(t.origin[d] + t.counts[d])) leaves the tensor extent \(t.extent[d])"
                )
            }
        }
        if let (lo, counts) = inBounds {
            let base = try add(t.dramAddr, mul(4, dot(lo, t.dramStrides)))
            let r = facts.dram(try memory(base, counts, t.dramStrides, in: .dram, "DRAM box"))
            if !isLoad { try notConstants(r) }
        }
        facts.work = try product(t.counts)
    }

    /// CONV: groups divide both channel counts, the window fits, operands stay apart.
    func checkConv(_ c: ConvOp, _ facts: inout InstructionFacts) throws {
        let i = try facts.sram(tile(c.input, "input")), o = try facts.sram(tile(c.output, "output"))
        try positive(
            [c.kernelH, c.kernelW, c.strideH, c.strideW, c.dilationH, c.dilationW, c.groups],
            "kernel, stride, dilation and groups")
        guard c.input.channels % c.groups == 0, c.output.channels % c.groups == 0 else {
            throw ProgramError.invalid(
                "groups \(c.groups) does not divide input channels \(c.input.channels) and output channels \(c.output.channels)"
            )
        }
        try windowShape(c.input, c.output, (c.kernelH, c.kernelW), (c.strideH, c.strideW), (c.dilationH, c.dilationW))
        let cinG = c.input.channels / c.groups
        let weightCount = try product([c.output.channels, cinG, c.kernelH, c.kernelW])
        let w = try facts.sram(memory(c.weightAddr, [weightCount], [1], in: .sram, "weights"))
        try disjoint(o, i, "output", "input")
        try disjoint(o, w, "output", "weights")
        if c.hasBias {
            let b = try facts.sram(memory(c.biasAddr, [c.output.channels], [1], in: .sram, "bias"))
            try disjoint(o, b, "output", "bias")
        }
        facts.work = try product([c.output.elements, cinG, c.kernelH, c.kernelW])
    }

    /// POOL: channels kept, the window fits, output apart from input.
    func checkPool(_ p: PoolOp, _ facts: inout InstructionFacts) throws {
        let i = try facts.sram(tile(p.input, "input")), o = try facts.sram(tile(p.output, "output"))
        try positive(
            [p.kernelH, p.kernelW, p.strideH, p.strideW, p.dilationH, p.dilationW], "kernel, stride and dilation")
        guard p.input.channels == p.output.channels else {
            throw ProgramError.invalid("pool input has \(p.input.channels) channels, output \(p.output.channels)")
        }
        try windowShape(p.input, p.output, (p.kernelH, p.kernelW), (p.strideH, p.strideW), (p.dilationH, p.dilationW))
        try disjoint(o, i, "output", "input")
        facts.work = try product([p.output.elements, p.kernelH, p.kernelW])
    }

    /// ELTWISE: same shapes (or a per-channel b); in place or disjoint.
    func checkEltwise(_ e: EltwiseOp, _ facts: inout InstructionFacts) throws {
        let a = try facts.sram(tile(e.a, "a")), b = try facts.sram(tile(e.b, "b")),
            o = try facts.sram(tile(e.output, "output"))
        try sameShape(e.a, e.output, "a", "output")
        switch e.broadcast {
        case .none: try sameShape(e.b, e.a, "b", "a")
        case .channel:
            guard e.b.channels == e.a.channels, e.b.height == 1, e.b.width == 1 else {
                throw ProgramError.invalid(
                    "per-channel b must be \(e.a.channels)x1x1, got \(e.b.channels)x\(e.b.height)x\(e.b.width)")
            }
        }
        if e.output != e.a { try disjoint(o, a, "output", "a") }
        if e.output != e.b { try disjoint(o, b, "output", "b") }
        facts.work = e.output.elements
    }

    /// ACT: same shapes; in place or disjoint.
    func checkAct(_ a: ActOp, _ facts: inout InstructionFacts) throws {
        let i = try facts.sram(tile(a.input, "input")), o = try facts.sram(tile(a.output, "output"))
        try sameShape(a.input, a.output, "input", "output")
        if a.output != a.input { try disjoint(o, i, "output", "input") }
        facts.work = a.output.elements
    }

    /// LRN: same shapes, in place or disjoint, a window of at least one
    /// channel (at most 65535, the field's width) and finite parameters.
    func checkLRN(_ l: LRNOp, _ facts: inout InstructionFacts) throws {
        let i = try facts.sram(tile(l.input, "input")), o = try facts.sram(tile(l.output, "output"))
        try sameShape(l.input, l.output, "input", "output")
        if l.output != l.input { try disjoint(o, i, "output", "input") }
        try positive([l.size], "LRN size")
        for (name, value) in [("alpha", l.alpha), ("beta", l.beta), ("bias", l.bias)] where !value.isFinite {
            throw ProgramError.invalid("LRN \(name) \(value) is not finite")
        }
        facts.work = try product([l.output.elements, l.size])
    }

    /// RESIZE: disjoint tiles of equal channels, positive finite scales,
    /// both tiles' rows inside their tensors, and every input row the output
    /// rows read inside the input tile.
    func checkResize(_ r: ResizeOp, _ facts: inout InstructionFacts) throws {
        let i = try facts.sram(tile(r.input, "input")), o = try facts.sram(tile(r.output, "output"))
        try disjoint(o, i, "output", "input")
        guard r.input.channels == r.output.channels else {
            throw ProgramError.invalid("resize input has \(r.input.channels) channels, output \(r.output.channels)")
        }
        for s in [r.scaleH, r.scaleW] where !(s.isFinite && s > 0) {
            throw ProgramError.invalid("resize scale \(s) must be positive and finite")
        }
        guard r.inRow + r.input.height <= r.inHeight, r.outRow + r.output.height <= r.outHeight else {
            throw ProgramError.invalid(
                "resize rows [\(r.inRow), \(r.inRow + r.input.height)) of \(r.inHeight) or [\(r.outRow), \(r.outRow + r.output.height)) of \(r.outHeight) leave their tensor"
            )
        }
        let needed = r.inputRows(r.outRow..<(r.outRow + r.output.height))
        guard needed.lowerBound >= r.inRow, needed.upperBound <= r.inRow + r.input.height else {
            throw ProgramError.invalid(
                "resize output rows read input rows [\(needed.lowerBound), \(needed.upperBound)), outside the tile's [\(r.inRow), \(r.inRow + r.input.height))"
            )
        }
        facts.work = try product([r.output.elements, r.mode == .linear ? 4 : 1])
    }

    /// MATMUL: matrices within SRAM, output apart from every operand.
    func checkMatMul(_ m: MatMulOp, _ facts: inout InstructionFacts) throws {
        try positive([m.m, m.n, m.k], "m, n and k")
        let a = try facts.sram(matrix(m.aAddr, rows: m.m, cols: m.k, rowStride: m.aRowStride, "a"))
        let w = try facts.sram(matrix(m.weightAddr, rows: m.n, cols: m.k, rowStride: m.k, "weights"))
        let o = try facts.sram(matrix(m.outAddr, rows: m.m, cols: m.n, rowStride: m.outRowStride, "output"))
        try disjoint(o, a, "output", "a")
        try disjoint(o, w, "output", "weights")
        if m.hasBias {
            let b = try facts.sram(matrix(m.biasAddr, rows: 1, cols: m.n, rowStride: m.n, "bias"))
            try disjoint(o, b, "output", "bias")
        }
        facts.work = try product([m.m, m.n, m.k])
    }

    /// COPY: both SRAM boxes within memory and apart.
    func checkCopy(_ c: CopyOp, _ facts: inout InstructionFacts) throws {
        try positive(c.counts, "box count")
        let s = try facts.sram(memory(c.srcAddr, c.counts, c.srcStrides, in: .sram, "source box"))
        let d = try facts.sram(memory(c.dstAddr, c.counts, c.dstStrides, in: .sram, "destination box"))
        try disjoint(d, s, "destination", "source")
        facts.work = try product(c.counts)
    }

    /// HOST instructions: dense DRAM tensors, the destination outside the
    /// constants and apart from the source.
    func checkHost(_ op: Op, _ facts: inout InstructionFacts) throws {
        switch op {
        case .hostCopy(let c):
            try positive(c.counts, "box count")
            let s = facts.dram(try memory(c.srcAddr, c.counts, c.srcStrides, in: .dram, "source box"))
            let d = facts.dram(try memory(c.dstAddr, c.counts, c.dstStrides, in: .dram, "destination box"))
            try hostOutput(d, s)
            facts.work = try product(c.counts)
        case .hostSoftmax(let s):
            let n = try product([s.outer, s.axis, s.inner])
            try positive([n], "outer, axis and inner")
            try hostOutput(facts.dram(try dense(s.dst, n, "destination")), facts.dram(try dense(s.src, n, "source")))
            facts.work = n
        case .hostLRN(let l):
            let n = try product([l.n, l.c, l.spatial])
            try positive([n, l.size], "n, c, hw and size")
            try hostOutput(facts.dram(try dense(l.dst, n, "destination")), facts.dram(try dense(l.src, n, "source")))
            facts.work = try product([n, l.size])
        case .hostResize(let r):
            try positive(r.inDims + r.outDims, "dimensions")
            for s in r.scales where !(s.isFinite && s > 0) {
                throw ProgramError.invalid("resize scale \(s) must be positive and finite")
            }
            let out = try product(r.outDims)
            try hostOutput(
                facts.dram(try dense(r.dst, out, "destination")),
                facts.dram(try dense(r.src, try product(r.inDims), "source")))
            facts.work = out
        case .hostTranspose(let t):
            try positive(t.dims, "dimensions")
            guard t.perm.sorted() == Array(0..<hostRank) else {
                throw ProgramError.invalid("perm \(t.perm) is not a permutation of 0..<\(hostRank)")
            }
            let n = try product(t.dims)
            try hostOutput(facts.dram(try dense(t.dst, n, "destination")), facts.dram(try dense(t.src, n, "source")))
            facts.work = n
        case .hostReduceMean(let m):
            try positive(m.dims, "dimensions")
            guard m.axesMask < 1 << hostRank else {
                throw ProgramError.invalid("axes mask \(m.axesMask) names a dim >= \(hostRank)")
            }
            let n = try product(m.dims)
            let kept = try product((0..<hostRank).map { m.axesMask & (1 << $0) != 0 ? 1 : m.dims[$0] })
            try hostOutput(facts.dram(try dense(m.dst, kept, "destination")), facts.dram(try dense(m.src, n, "source")))
            facts.work = n
        default:
            preconditionFailure("not a host instruction")
        }
    }

    // MARK: Helpers

    func mul(_ a: Int, _ b: Int) throws -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        guard !o else { throw ProgramError.invalid("size arithmetic overflows") }
        return r
    }
    func add(_ a: Int, _ b: Int) throws -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        guard !o else { throw ProgramError.invalid("size arithmetic overflows") }
        return r
    }
    func product(_ v: [Int]) throws -> Int { try v.reduce(1) { try mul($0, $1) } }
    func dot(_ a: [Int], _ b: [Int]) throws -> Int { try zip(a, b).reduce(0) { try add($0, mul($1.0, $1.1)) } }

    func positive(_ values: [Int], _ what: String) throws {
        for v in values where v < 1 { throw ProgramError.invalid("\(what) must be >= 1, got \(v)") }
    }
    func aligned(_ addr: Int, _ what: String) throws {
        guard addr % 4 == 0 else { throw ProgramError.invalid("\(what) \(addr) is not a multiple of 4") }
    }

    /// Byte range of a strided box of fp32 values at `base`, which must end within the memory.
    func memory(_ base: Int, _ counts: [Int], _ strides: [Int], in space: MemorySpace, _ what: String) throws -> Range<
        Int
    > {
        try aligned(base, what)
        let last = try dot(counts.map { $0 - 1 }, strides)
        let end = try add(base, mul(4, add(last, 1)))
        let limit = space == .sram ? sramBytes : dramBytes
        guard end <= limit else {
            throw ProgramError.invalid(
                "\(what) [\(base), \(end)) exceeds the \(limit)-byte \(space == .sram ? "SRAM" : "DRAM")")
        }
        return base..<end
    }

    func dense(_ base: Int, _ count: Int, _ what: String) throws -> Range<Int> {
        try memory(base, [count], [1], in: .dram, "\(what) tensor")
    }

    func matrix(_ base: Int, rows: Int, cols: Int, rowStride: Int, _ what: String) throws -> Range<Int> {
        guard rows == 1 || rowStride >= cols else {
            throw ProgramError.invalid("\(what) row stride \(rowStride) is less than its \(cols) columns")
        }
        return try memory(base, [rows, cols], [rowStride, 1], in: .sram, what)
    }

    func tile(_ t: SRAMTile, _ what: String) throws -> Range<Int> {
        try positive([t.channels, t.height, t.width], "\(what) tile dimensions")
        // No cell shared by two (ch, y, x): channel planes apart (channel-major), or rows of all channels apart (row-major).
        let plane = try add(mul(t.height - 1, t.rowStride), t.width)
        let channelMajor = (t.height == 1 || t.rowStride >= t.width) && (t.channels == 1 || t.channelStride >= plane)
        let rowMajor =
            try (t.channels == 1 || t.channelStride >= t.width)
            && (t.height == 1 || t.rowStride >= add(mul(t.channels - 1, t.channelStride), t.width))
        guard channelMajor || rowMajor else {
            throw ProgramError.invalid(
                "\(what) tile overlaps itself (channel stride \(t.channelStride), row stride \(t.rowStride) for \(t.channels)x\(t.height)x\(t.width))"
            )
        }
        return try memory(
            t.addr, [t.channels, t.height, t.width], [t.channelStride, t.rowStride, 1],
            in: .sram, "\(what) tile")
    }

    func sameShape(_ a: SRAMTile, _ b: SRAMTile, _ an: String, _ bn: String) throws {
        guard (a.channels, a.height, a.width) == (b.channels, b.height, b.width) else {
            throw ProgramError.invalid(
                "\(an) is \(a.channels)x\(a.height)x\(a.width) but \(bn) is \(b.channels)x\(b.height)x\(b.width)")
        }
    }

    func disjoint(_ a: Range<Int>, _ b: Range<Int>, _ an: String, _ bn: String) throws {
        guard !a.overlaps(b) else {
            throw ProgramError.invalid(
                "\(an) [\(a.lowerBound), \(a.upperBound)) overlaps \(bn) [\(b.lowerBound), \(b.upperBound))")
        }
    }

    /// Output size of a windowed op must be exactly floor((in - effectiveKernel) / stride) + 1.
    func windowShape(_ input: SRAMTile, _ output: SRAMTile, _ k: (Int, Int), _ s: (Int, Int), _ d: (Int, Int)) throws {
        for (axis, i, o, k, s, d) in [
            ("height", input.height, output.height, k.0, s.0, d.0),
            ("width", input.width, output.width, k.1, s.1, d.1)
        ] {
            let effective = try add(mul(k - 1, d), 1)
            guard i >= effective else {
                throw ProgramError.invalid("input \(axis) \(i) is smaller than the dilated kernel \(effective)")
            }
            let expected = (i - effective) / s + 1
            guard o == expected else {
                throw ProgramError.invalid("output \(axis) is \(o), the window gives \(expected)")
            }
        }
    }

    /// In-bounds part of a transfer box: first box index and count per dim, or nil if empty.
    func inBoundsBox(_ t: TransferOp) throws -> (lo: [Int], counts: [Int])? {
        var tensorLo: [Int] = [], counts: [Int] = []
        for d in 0..<boxRank {
            let first = max(0, -t.origin[d])
            let end = min(t.counts[d], t.extent[d] - t.origin[d])
            if end <= first { return nil }
            tensorLo.append(t.origin[d] + first)
            counts.append(end - first)
        }
        return (tensorLo, counts)
    }

    func notConstants(_ r: Range<Int>) throws {
        guard r.lowerBound >= constantsEnd else {
            throw ProgramError.invalid(
                "writes DRAM [\(r.lowerBound), \(r.upperBound)) inside the read-only constants segment [0, \(constantsEnd))"
            )
        }
    }

    func hostOutput(_ dst: Range<Int>, _ src: Range<Int>) throws {
        try notConstants(dst)
        try disjoint(dst, src, "destination", "source")
    }
}
