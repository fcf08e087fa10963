// Race detection. The functional model runs instructions in program order,
// but the engines run concurrently: an instruction may only use memory that
// another engine touches if a chain of tokens orders the two. Otherwise the
// timing model would overlap them while the functional result assumed an
// order. This checker proves, word by word, that every pair of conflicting
// accesses (same word, different engines, at least one a write) is ordered by
// happens-before: program order on each engine plus the tokens.

public enum MemorySpace: Sendable {
    case sram, dram
}

extension Op {
    /// Calls `body(space, isWrite, firstWord, wordCount)` for every contiguous
    /// run of 4-byte words the operation reads, then for every run it writes
    /// (exact footprints: strided boxes and tiles by their rows, LOADs by the
    /// DRAM cells they really read). Only for valid operations.
    public func forEachAccess(_ body: (MemorySpace, Bool, Int, Int) -> Void) {
        func tile(_ t: SRAMTile, write: Bool) {
            let base = t.addr / 4
            if t.height == 1 || t.rowStride == t.width {
                let plane = (t.height - 1) * t.rowStride + t.width
                if t.channels == 1 || t.channelStride == plane {
                    body(.sram, write, base, (t.channels - 1) * t.channelStride + plane)
                } else {
                    for ch in 0..<t.channels { body(.sram, write, base + ch * t.channelStride, plane) }
                }
            } else {
                for ch in 0..<t.channels {
                    for y in 0..<t.height { body(.sram, write, base + ch * t.channelStride + y * t.rowStride, t.width) }
                }
            }
        }
        func box(_ space: MemorySpace, write: Bool, _ addr: Int, _ counts: [Int], _ strides: [Int]) {
            for i0 in 0..<counts[0] {
                for i1 in 0..<counts[1] {
                    for i2 in 0..<counts[2] {
                        let row = addr / 4 + i0 * strides[0] + i1 * strides[1] + i2 * strides[2]
                        if strides[3] == 1 {
                            body(space, write, row, counts[3])
                        } else if strides[3] == 0 {
                            body(space, write, row, 1)
                        } else {
                            for i3 in 0..<counts[3] { body(space, write, row + i3 * strides[3], 1) }
                        }
                    }
                }
            }
        }
        func dense(_ space: MemorySpace, write: Bool, _ addr: Int, _ count: Int, if condition: Bool = true) {
            if condition { body(space, write, addr / 4, count) }
        }
        func rows(_ addr: Int, _ rows: Int, _ cols: Int, _ stride: Int, write: Bool) {
            if rows == 1 || stride == cols {
                body(.sram, write, addr / 4, rows * cols)
            } else {
                for r in 0..<rows { body(.sram, write, addr / 4 + r * stride, cols) }
            }
        }
        func dramRuns(_ t: TransferOp, write: Bool) {
            forEachDRAMRun(t) { start, bytes in body(.dram, write, start / 4, bytes / 4) }
        }

        switch self {
        case .load(let t):
            dramRuns(t, write: false)
            box(.sram, write: true, t.sramAddr, t.counts, t.sramStrides)
        case .store(let t):
            box(.sram, write: false, t.sramAddr, t.counts, t.sramStrides)
            dramRuns(t, write: true)
        case .conv(let c):
            tile(c.input, write: false)
            dense(.sram, write: false, c.weightAddr, c.output.channels * (c.input.channels / c.groups) * c.kernelH * c.kernelW)
            dense(.sram, write: false, c.biasAddr, c.output.channels, if: c.hasBias)
            tile(c.output, write: true)
        case .pool(let p):
            tile(p.input, write: false)
            tile(p.output, write: true)
        case .eltwise(let e):
            tile(e.a, write: false)
            tile(e.b, write: false)
            tile(e.output, write: true)
        case .act(let a):
            tile(a.input, write: false)
            tile(a.output, write: true)
        case .matmul(let m):
            rows(m.aAddr, m.m, m.k, m.aRowStride, write: false)
            dense(.sram, write: false, m.weightAddr, m.n * m.k)
            dense(.sram, write: false, m.biasAddr, m.n, if: m.hasBias)
            rows(m.outAddr, m.m, m.n, m.outRowStride, write: true)
        case .copy(let c):
            box(.sram, write: false, c.srcAddr, c.counts, c.srcStrides)
            box(.sram, write: true, c.dstAddr, c.counts, c.dstStrides)
        case .sync:
            break
        case .hostCopy(let c):
            box(.dram, write: false, c.srcAddr, c.counts, c.srcStrides)
            box(.dram, write: true, c.dstAddr, c.counts, c.dstStrides)
        case .hostSoftmax(let s):
            dense(.dram, write: false, s.src, s.outer * s.axis * s.inner)
            dense(.dram, write: true, s.dst, s.outer * s.axis * s.inner)
        case .hostLRN(let l):
            dense(.dram, write: false, l.src, l.n * l.c * l.spatial)
            dense(.dram, write: true, l.dst, l.n * l.c * l.spatial)
        case .hostResize(let r):
            dense(.dram, write: false, r.src, r.inDims.reduce(1, *))
            dense(.dram, write: true, r.dst, r.outDims.reduce(1, *))
        case .hostTranspose(let t):
            dense(.dram, write: false, t.src, t.dims.reduce(1, *))
            dense(.dram, write: true, t.dst, t.dims.reduce(1, *))
        case .hostReduceMean(let m):
            dense(.dram, write: false, m.src, m.dims.reduce(1, *))
            dense(.dram, write: true, m.dst, (0..<hostRank).reduce(1) { m.axesMask & (1 << $1) != 0 ? $0 : $0 * m.dims[$1] })
        }
    }
}

extension Program {
    /// Proves that every two accesses to the same SRAM or DRAM word from
    /// different engines, at least one a write, are ordered by program order
    /// and tokens. Call on a validated program; throws a `ProgramError` naming
    /// the first unordered pair. Cost: proportional to the words the
    /// instructions touch.
    public func checkHazards() throws {
        let engines = Engine.allCases.count
        let sramWords = config.sramBytes / 4, dramWords = dramBytes / 4
        // Words wholly inside the constants segment are never written: reads of them need no record.
        let readOnlyWords = constants.count / 4
        guard let sramWrites = ShadowWords(count: sramWords), let dramWrites = ShadowWords(count: dramWords) else {
            throw ProgramError("cannot allocate memory for the race check")
        }
        let sramReads = (0..<engines).compactMap { _ in ShadowWords(count: sramWords) }
        let dramReads = (0..<engines).compactMap { _ in ShadowWords(count: dramWords) }
        guard sramReads.count == engines, dramReads.count == engines else {
            throw ProgramError("cannot allocate memory for the race check")
        }
        let sramReadBases = sramReads.map(\.base), dramReadBases = dramReads.map(\.base)
        var indices = [[Int]](repeating: [], count: engines)  // per engine: instruction indices in order
        var last = [[UInt32]](repeating: [UInt32](repeating: 0, count: engines), count: engines)
        var queues = [[[UInt32]]](repeating: [], count: engines * engines)
        var heads = [Int](repeating: 0, count: engines * engines)
        var conflict: (space: MemorySpace, word: Int, other: Int, write: Bool)? = nil

        for (i, instruction) in instructions.enumerated() {
            let e = instruction.engine.index
            indices[e].append(i)
            let seq = UInt32(indices[e].count)
            // Vector clock: for each engine, how many of its instructions happen before this one.
            var clock = last[e]
            for w in instruction.wait.engines {
                let q = w.index * engines + e
                for (k, v) in queues[q][heads[q]].enumerated() { clock[k] = max(clock[k], v) }
                heads[q] += 1
            }
            clock[e] = seq
            let mark = UInt32(e + 1) << 27 | seq

            instruction.operation.forEachAccess { space, isWrite, first, count in
                guard conflict == nil, count > 0 else { return }
                if space == .dram && !isWrite && first + count <= readOnlyWords { return }
                let writes = (space == .sram ? sramWrites : dramWrites).at(first, count)
                let reads = space == .sram ? sramReadBases : dramReadBases
                for k in 0..<count {
                    let writer = writes[k]
                    if writer != 0 {
                        let we = Int(writer >> 27) - 1, ws = writer & 0x7FF_FFFF
                        if we != e && clock[we] < ws {
                            conflict = (space, first + k, indices[we][Int(ws) - 1], true)
                            return
                        }
                    }
                    if isWrite {
                        for f in 0..<engines where f != e {
                            let r = reads[f][first + k]
                            if r != 0 && clock[f] < r {
                                conflict = (space, first + k, indices[f][Int(r) - 1], false)
                                return
                            }
                        }
                        writes[k] = mark
                    } else {
                        reads[e][first + k] = seq
                    }
                }
            }
            if let c = conflict {
                let other = instructions[c.other]
                throw ProgramError.invalid(
                    "race: instruction \(i) (\(instruction.opcode.mnemonic)@\(instruction.engine.name)) uses "
                        + "\(c.space == .sram ? "SRAM" : "DRAM") byte \(4 * c.word), which instruction \(c.other) "
                        + "(\(other.opcode.mnemonic)@\(other.engine.name)) \(c.write ? "writes" : "reads"), and no chain of tokens orders them")
            }
            last[e] = clock
            for s in instruction.signal.engines { queues[e * engines + s.index].append(clock) }
        }
        withExtendedLifetime((sramReads, dramReads)) {}
    }
}
