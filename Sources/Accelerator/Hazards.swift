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

/// Receives `(space, isWrite, firstWord, wordCount)` for one contiguous run of words.
public typealias AccessRun = (MemorySpace, Bool, Int, Int) -> Void

extension Op {
    /// Calls `body(space, isWrite, firstWord, wordCount)` for every contiguous
    /// run of 4-byte words the operation reads, then for every run it writes
    /// (exact footprints: strided boxes and tiles by their rows, LOADs by the
    /// DRAM cells they really read). Only for valid operations.
    public func forEachAccess(_ body: AccessRun) {
        switch self {
        case .load(let t):
            forEachDRAMRun(t) { start, bytes in body(.dram, false, start / 4, bytes / 4) }
            boxRuns(.sram, write: true, t.sramAddr, t.counts, t.sramStrides, body)
        case .store(let t):
            boxRuns(.sram, write: false, t.sramAddr, t.counts, t.sramStrides, body)
            forEachDRAMRun(t) { start, bytes in body(.dram, true, start / 4, bytes / 4) }
        case .conv(let c):
            tileRuns(c.input, write: false, body)
            body(
                .sram, false, c.weightAddr / 4,
                c.output.channels * (c.input.channels / c.groups) * c.kernelH * c.kernelW)
            if c.hasBias { body(.sram, false, c.biasAddr / 4, c.output.channels) }
            tileRuns(c.output, write: true, body)
        case .pool(let p):
            tileRuns(p.input, write: false, body)
            tileRuns(p.output, write: true, body)
        case .eltwise(let e):
            tileRuns(e.a, write: false, body)
            tileRuns(e.b, write: false, body)
            tileRuns(e.output, write: true, body)
        case .act(let a):
            tileRuns(a.input, write: false, body)
            tileRuns(a.output, write: true, body)
        case .lrn(let l):
            tileRuns(l.input, write: false, body)
            tileRuns(l.output, write: true, body)
        case .resize(let r):
            tileRuns(r.input, write: false, body)
            tileRuns(r.output, write: true, body)
        case .matmul(let m):
            rowRuns(m.aAddr, m.m, m.k, m.aRowStride, write: false, body)
            body(.sram, false, m.weightAddr / 4, m.n * m.k)
            if m.hasBias { body(.sram, false, m.biasAddr / 4, m.n) }
            rowRuns(m.outAddr, m.m, m.n, m.outRowStride, write: true, body)
        case .copy(let c):
            boxRuns(.sram, write: false, c.srcAddr, c.counts, c.srcStrides, body)
            boxRuns(.sram, write: true, c.dstAddr, c.counts, c.dstStrides, body)
        case .sync:
            break
        case .hostCopy, .hostSoftmax, .hostLRN, .hostResize, .hostTranspose, .hostReduceMean:
            forEachHostAccess(body)
        }
    }

    /// HOST instructions: a strided box copy, or a dense source and destination.
    private func forEachHostAccess(_ body: AccessRun) {
        switch self {
        case .hostCopy(let c):
            boxRuns(.dram, write: false, c.srcAddr, c.counts, c.srcStrides, body)
            boxRuns(.dram, write: true, c.dstAddr, c.counts, c.dstStrides, body)
        case .hostSoftmax(let s):
            denseRuns(from: s.src, s.outer * s.axis * s.inner, to: s.dst, s.outer * s.axis * s.inner, body)
        case .hostLRN(let l):
            denseRuns(from: l.src, l.n * l.c * l.spatial, to: l.dst, l.n * l.c * l.spatial, body)
        case .hostResize(let r):
            denseRuns(from: r.src, r.inDims.reduce(1, *), to: r.dst, r.outDims.reduce(1, *), body)
        case .hostTranspose(let t):
            denseRuns(from: t.src, t.dims.reduce(1, *), to: t.dst, t.dims.reduce(1, *), body)
        case .hostReduceMean(let m):
            denseRuns(
                from: m.src, m.dims.reduce(1, *),
                to: m.dst, (0..<hostRank).reduce(1) { m.axesMask & (1 << $1) != 0 ? $0 : $0 * m.dims[$1] }, body)
        default:
            preconditionFailure("not a host instruction")
        }
    }
}

/// A dense DRAM read of `readCount` words at `source`, then a dense write of `writeCount` at `destination`.
private func denseRuns(from source: Int, _ readCount: Int, to destination: Int, _ writeCount: Int, _ body: AccessRun) {
    body(.dram, false, source / 4, readCount)
    body(.dram, true, destination / 4, writeCount)
}

/// An SRAM tile's words: one run when its rows and channels are contiguous,
/// else one per channel plane or per row.
private func tileRuns(_ t: SRAMTile, write: Bool, _ body: AccessRun) {
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

/// A strided 4-d box's words: one run per innermost row when it is
/// contiguous, else one per word. An axis of stride 0 touches the same
/// words at every index, so it is visited once: a hostile box of 2^31
/// repeats costs no more to check than one.
private func boxRuns(
    _ space: MemorySpace, write: Bool, _ addr: Int, _ boxCounts: [Int], _ strides: [Int], _ body: AccessRun
) {
    let counts = zip(boxCounts, strides).map { count, stride in stride == 0 ? min(count, 1) : count }
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

/// A matrix's words in SRAM: one run when its rows are contiguous.
private func rowRuns(_ addr: Int, _ rows: Int, _ cols: Int, _ stride: Int, write: Bool, _ body: AccessRun) {
    if rows == 1 || stride == cols {
        body(.sram, write, addr / 4, rows * cols)
    } else {
        for r in 0..<rows { body(.sram, write, addr / 4 + r * stride, cols) }
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
                        + "(\(other.opcode.mnemonic)@\(other.engine.name)) \(c.write ? "writes" : "reads"), and no chain of tokens orders them"
                )
            }
            last[e] = clock
            for s in instruction.signal.engines { queues[e * engines + s.index].append(clock) }
        }
        withExtendedLifetime((sramReads, dramReads)) {}
    }
}
