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
        for f in footprints() { f.forEachRun { body(f.space, f.isWrite, $0, $1) } }
    }

    /// The operands' exact sets of words, reads before writes. Only for valid operations.
    func footprints() -> [Footprint] {
        switch self {
        case .load(let t):
            return [Footprint(dramOf: t, write: false), Footprint(sramOf: t, write: true)].compactMap { $0 }
        case .store(let t):
            return [Footprint(sramOf: t, write: false), Footprint(dramOf: t, write: true)].compactMap { $0 }
        case .conv(let c):
            let weights = c.output.channels * (c.input.channels / c.groups) * c.kernelH * c.kernelW
            return [Footprint(c.input, write: false), Footprint(.sram, write: false, dense: c.weightAddr, weights)]
                + (c.hasBias ? [Footprint(.sram, write: false, dense: c.biasAddr, c.output.channels)] : [])
                + [Footprint(c.output, write: true)]
        case .pool(let p): return [Footprint(p.input, write: false), Footprint(p.output, write: true)]
        case .eltwise(let e):
            return [Footprint(e.a, write: false), Footprint(e.b, write: false), Footprint(e.output, write: true)]
        case .act(let a): return [Footprint(a.input, write: false), Footprint(a.output, write: true)]
        case .lrn(let l): return [Footprint(l.input, write: false), Footprint(l.output, write: true)]
        case .resize(let r): return [Footprint(r.input, write: false), Footprint(r.output, write: true)]
        case .matmul(let m):
            return [
                Footprint(.sram, write: false, m.aAddr / 4, counts: [m.m, m.k], strides: [m.aRowStride, 1]),
                Footprint(.sram, write: false, dense: m.weightAddr, m.n * m.k)
            ] + (m.hasBias ? [Footprint(.sram, write: false, dense: m.biasAddr, m.n)] : [])
                + [Footprint(.sram, write: true, m.outAddr / 4, counts: [m.m, m.n], strides: [m.outRowStride, 1])]
        case .copy(let c):
            return [
                Footprint(.sram, write: false, c.srcAddr / 4, counts: c.counts, strides: c.srcStrides),
                Footprint(.sram, write: true, c.dstAddr / 4, counts: c.counts, strides: c.dstStrides)
            ]
        case .sync:
            return []
        case .hostCopy(let c):
            return [
                Footprint(.dram, write: false, c.srcAddr / 4, counts: c.counts, strides: c.srcStrides),
                Footprint(.dram, write: true, c.dstAddr / 4, counts: c.counts, strides: c.dstStrides)
            ]
        case .hostSoftmax(let s):
            return dense(from: s.src, s.outer * s.axis * s.inner, to: s.dst, s.outer * s.axis * s.inner)
        case .hostLRN(let l): return dense(from: l.src, l.n * l.c * l.spatial, to: l.dst, l.n * l.c * l.spatial)
        case .hostResize(let r): return dense(from: r.src, r.inDims.reduce(1, *), to: r.dst, r.outDims.reduce(1, *))
        case .hostTranspose(let t): return dense(from: t.src, t.dims.reduce(1, *), to: t.dst, t.dims.reduce(1, *))
        case .hostReduceMean(let m):
            let kept = (0..<hostRank).reduce(1) { m.axesMask & (1 << $1) != 0 ? $0 : $0 * m.dims[$1] }
            return dense(from: m.src, m.dims.reduce(1, *), to: m.dst, kept)
        }
    }
}

/// A dense DRAM read of `readCount` words at byte `source`, then a dense write of `writeCount` at `destination`.
private func dense(from source: Int, _ readCount: Int, to destination: Int, _ writeCount: Int) -> [Footprint] {
    [
        Footprint(.dram, write: false, dense: source, readCount),
        Footprint(.dram, write: true, dense: destination, writeCount)
    ]
}

/// The words one operand reads or writes: word `first + sum(i[d] * strides[d])`
/// for `0 <= i[d] < counts[d]`, kept with dims of one cell or stride 0 left
/// out, the rest ordered by stride (largest first) and merged where one dim
/// continues another, so that the innermost dim of stride 1 is one run.
struct Footprint {
    let space: MemorySpace
    let isWrite: Bool
    let first: Int
    /// Dims `0..<rank` of `counts` and `strides` are used.
    private(set) var rank = 0
    private(set) var counts = SIMD4<Int>.zero
    private(set) var strides = SIMD4<Int>.zero
    /// Every word lies in [lower, upper).
    let lower: Int, upper: Int

    init(_ space: MemorySpace, write: Bool, _ first: Int, counts: [Int], strides: [Int]) {
        (self.space, self.isWrite, self.first) = (space, write, first)
        var reach = 0, rank = 0
        var normalCounts = SIMD4<Int>.zero, normalStrides = SIMD4<Int>.zero
        var dims: [(count: Int, stride: Int)] = []
        for (count, stride) in zip(counts, strides) {
            reach += (count - 1) * stride
            if count > 1 && stride > 0 { dims.append((count, stride)) }
        }
        dims.sort { $0.stride > $1.stride }
        for (count, stride) in dims {
            if rank > 0 && normalStrides[rank - 1] == count * stride {
                normalCounts[rank - 1] *= count
                normalStrides[rank - 1] = stride
            } else {
                (normalCounts[rank], normalStrides[rank]) = (count, stride)
                rank += 1
            }
        }
        (self.rank, self.counts, self.strides) = (rank, normalCounts, normalStrides)
        (lower, upper) = (first, counts.contains(0) ? first : first + reach + 1)
    }

    /// `count` words from byte address `address`.
    init(_ space: MemorySpace, write: Bool, dense address: Int, _ count: Int) {
        self.init(space, write: write, address / 4, counts: [count], strides: [1])
    }

    init(_ t: SRAMTile, write: Bool) {
        self.init(
            .sram, write: write, t.addr / 4, counts: [t.channels, t.height, t.width],
            strides: [t.channelStride, t.rowStride, 1])
    }

    /// The SRAM side of a LOAD or STORE: every cell of the box.
    init(sramOf t: TransferOp, write: Bool) {
        self.init(.sram, write: write, t.sramAddr / 4, counts: t.counts, strides: t.sramStrides)
    }

    /// The DRAM side of a LOAD or STORE: the cells inside the tensor; nil when there are none.
    init?(dramOf t: TransferOp, write: Bool) {
        var first = t.dramAddr / 4, counts: [Int] = []
        for d in 0..<boxRank {
            let lo = max(0, -t.origin[d]), hi = min(t.counts[d], t.extent[d] - t.origin[d])
            guard lo < hi else { return nil }
            first += (t.origin[d] + lo) * t.dramStrides[d]
            counts.append(hi - lo)
        }
        self.init(.dram, write: write, first, counts: counts, strides: t.dramStrides)
    }

    var isEmpty: Bool { upper <= lower }
    /// Whether the footprint is every word of [lower, upper).
    var isDense: Bool { rank == 0 || (rank == 1 && strides[0] == 1) }

    /// Calls `body(firstWord, wordCount)` for each run, in increasing address order.
    func forEachRun(_ body: (Int, Int) -> Void) {
        guard !isEmpty else { return }
        let contiguous = rank > 0 && strides[rank - 1] == 1
        let run = contiguous ? counts[rank - 1] : 1
        let outer = contiguous ? rank - 1 : rank
        func walk(_ d: Int, _ base: Int) {
            if d == outer { return body(base, run) }
            for i in 0..<counts[d] { walk(d + 1, base + i * strides[d]) }
        }
        walk(0, first)
    }

    /// Whether the two footprints share a word (exactly, not by their bounds).
    func intersects(_ other: Footprint) -> Bool {
        let lo = max(lower, other.lower), hi = min(upper, other.upper)
        guard space == other.space, lo < hi else { return false }
        if isDense || other.isDense {
            let (dense, sparse) = isDense ? (self, other) : (other, self)
            return sparse.anyRun { max($0, dense.lower) < min($0 + $1, dense.upper) }
        }
        // Mark one footprint's words in the common bounds, then look for the other's.
        var marks = [UInt64](repeating: 0, count: (hi - lo + 63) / 64)
        forEachRun { start, count in
            for w in max(start, lo)..<max(max(start, lo), min(start + count, hi)) {
                marks[(w - lo) >> 6] |= 1 << UInt64((w - lo) & 63)
            }
        }
        return other.anyRun { start, count in
            for w in max(start, lo)..<max(max(start, lo), min(start + count, hi))
            where marks[(w - lo) >> 6] & (1 << UInt64((w - lo) & 63)) != 0 {
                return true
            }
            return false
        }
    }

    /// Whether `test` holds for some run (stops at the first).
    private func anyRun(_ test: (Int, Int) -> Bool) -> Bool {
        var found = false
        forEachRun { start, count in if !found && test(start, count) { found = true } }
        return found
    }
}

extension Program {
    /// The reference for `checkHazards()`, word by word: it tracks per word
    /// the last writer and the last reader per engine. Same verdict; its
    /// message names the first word of the first unordered pair. Cost:
    /// proportional to the words the instructions touch (about 2.4 * 10^8 for
    /// ResNet-50), so it runs only to name a race `checkHazards()` found, and in tests.
    func checkHazardsWordByWord() throws {
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
