import Foundation

// LOADs of constants that are not copied. Two thirds of ResNet-50's DRAM bytes are weights that a
// LOAD copies from the constants into SRAM and a CONV then reads once or a few times. The
// constants segment is never written (the validator rejects such programs), so the executor may
// instead note that a range of SRAM words holds, for now, a run of constant words (a mirror), and
// let the CONV and MATMUL instructions read their weights and biases from the constants where
// they lie. The mirror is copied into SRAM (materialised) before any other instruction reads one
// of its words or writes some of them in a way that leaves others standing; a dense write over
// part of it only shortens it. The values every instruction sees are those of the plain copy, so
// the outputs are the same bits; cycles and bytes come from the timing model and do not change.
// SRAM is not observable after a run, so a mirror left at the end is never copied.

/// SRAM word ranges that hold constant words not yet copied into SRAM; disjoint.
final class ConstantMirrors {
    struct Run {
        /// SRAM words.
        var words: Range<Int>
        /// The constant word that SRAM word `words.lowerBound` holds.
        var source: UnsafePointer<Float>
    }

    /// Off: every LOAD copies (tests that look at SRAM after single instructions).
    let enabled: Bool
    var runs: [Run] = []

    init(enabled: Bool) { self.enabled = enabled }

    /// The run that holds every word of `words`, if one does.
    @inline(__always) func run(holding words: Range<Int>) -> Run? {
        for run in runs where run.words.lowerBound <= words.lowerBound && words.upperBound <= run.words.upperBound {
            return run
        }
        return nil
    }
}

extension ConstantMirrors.Run {
    /// What remains of the run outside `cut`: up to two runs.
    func removing(_ cut: Range<Int>) -> [ConstantMirrors.Run] {
        let below = words.lowerBound..<max(words.lowerBound, min(words.upperBound, cut.lowerBound))
        let above = min(words.upperBound, max(words.lowerBound, cut.upperBound))..<words.upperBound
        return (below.isEmpty ? [] : [.init(words: below, source: source)])
            + (above.isEmpty ? [] : [.init(words: above, source: source + (above.lowerBound - words.lowerBound))])
    }
}

extension Machine {
    /// Records a LOAD as a mirror instead of copying, when it is one dense run of words from the
    /// constants (as they lie, at a word-aligned address) into one dense run of SRAM; false (nothing
    /// done) otherwise. The SRAM words it writes are no longer in any mirror (`settleMirrors`).
    func mirror(_ t: TransferOp) -> Bool {
        let c = t.counts, o = t.origin, ds = t.dramStrides, ss = t.sramStrides
        guard (0..<boxRank).allSatisfy({ o[$0] >= 0 && o[$0] + c[$0] <= t.extent[$0] }) else { return false }
        // Both sides dense: each stride is the product of the inner counts (dimensions of one cell aside).
        var words = 1
        for d in (0..<boxRank).reversed() where c[d] != 1 {
            guard ds[d] == words, ss[d] == words else { return false }
            words *= c[d]
        }
        if c.contains(0) { return false }
        let first = t.dramAddr / 4 + (0..<boxRank).reduce(0) { $0 + o[$1] * ds[$1] }
        guard first + words <= constants.count, Int(bitPattern: constants.base) % 4 == 0 else {
            return false
        }
        let source = constants.at(first, words).assumingMemoryBound(to: Float.self)
        mirrors.runs.append(.init(words: t.sramAddr / 4..<t.sramAddr / 4 + words, source: source))
        return true
    }

    /// Before `op` runs: copies into SRAM every mirror it reads other than as the weights or bias of
    /// a CONV or MATMUL (which its kernels read through `operand`), or writes in part without a dense
    /// write; a dense write that reads nothing of a mirror cuts the words it covers out of it.
    func settleMirrors(before op: Op) {
        guard !mirrors.runs.isEmpty else { return }
        let footprints = op.footprints()
        let inPlace = mirroredOperands(op), accumulates = op.accumulates
        var kept: [ConstantMirrors.Run] = []
        for run in mirrors.runs {
            var reads = false, readsInPlace = true, writes = false, writesDensely = true
            for (i, f) in footprints.enumerated()
            where f.space == .sram && f.lower < run.words.upperBound && run.words.lowerBound < f.upper {
                if f.isWrite {
                    (writes, writesDensely) = (true, writesDensely && f.isDense)
                    // An accumulating CONV or MATMUL reads the words it writes.
                    if accumulates { (reads, readsInPlace) = (true, false) }
                } else {
                    reads = true
                    readsInPlace = readsInPlace && inPlace.contains(i) && run.words.lowerBound <= f.lower
                        && f.upper <= run.words.upperBound
                }
            }
            if !reads && !writes {
                kept.append(run)
            } else if !reads && writesDensely {
                kept += footprints.filter { $0.space == .sram && $0.isWrite }.reduce([run]) { pieces, f in
                    pieces.flatMap { $0.removing(f.lower..<f.upper) }
                }
            } else if readsInPlace && !writes {
                kept.append(run)
            } else {
                materialise(run)
            }
        }
        mirrors.runs = kept
    }

    /// Which of `op.footprints()` its kernels read through `operand`: a CONV's and a MATMUL's
    /// weights and bias, listed after the one operand before them (the input).
    private func mirroredOperands(_ op: Op) -> Range<Int> {
        switch op {
        case .conv(let c): return 1..<(c.hasBias ? 3 : 2)
        case .matmul(let m): return 1..<(m.hasBias ? 3 : 2)
        default: return 0..<0
        }
    }

    /// Copies every mirror into SRAM, which then holds what the program wrote.
    func materialiseMirrors() {
        for run in mirrors.runs { materialise(run) }
        mirrors.runs = []
    }

    /// Copies a mirror's words into SRAM.
    private func materialise(_ run: ConstantMirrors.Run) {
        let n = run.words.count
        let from = RawWords(base: UnsafeRawPointer(run.source), count: n)
        copyCells([1, 1, 1, n], from: from, 0, [0, 0, 0, 1], to: sram, run.words.lowerBound, [0, 0, 0, 1])
    }

    /// The `count` words from SRAM byte address `address` (a CONV's or MATMUL's weights or bias), read
    /// from the constants they mirror when a mirror holds them all.
    @inline(__always) func operand(_ address: Int, _ count: Int) -> UnsafePointer<Float> {
        let words = address / 4..<address / 4 + count
        if let run = mirrors.run(holding: words) { return run.source + (words.lowerBound - run.words.lowerBound) }
        return UnsafePointer(sram.at(words.lowerBound, count))
    }
}

extension Op {
    /// A CONV or MATMUL that adds onto its output.
    var accumulates: Bool {
        switch self {
        case .conv(let c): c.accumulate
        case .matmul(let m): m.accumulate
        default: false
        }
    }
}
