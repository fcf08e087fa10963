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
    /// SRAM words `words` of a LOAD's dense box, whose word `start + i` holds the constant word at
    /// `source + (i / rowLength) * rowStride + i % rowLength`: rows of a DRAM box (a block of a weight
    /// matrix's rows and columns), or one run when `rowStride == rowLength`.
    struct Run {
        var words: Range<Int>
        let start: Int, rowLength: Int, rowStride: Int
        let source: UnsafePointer<Float>
    }

    /// Off: every LOAD copies (tests that look at SRAM after single instructions).
    let enabled: Bool
    var runs: [Run] = []
    /// LOADs left uncopied and their words; words copied later (`materialise`), for the profile.
    var mirrored = 0, mirroredWords = 0, materialisedWords = 0

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
    var isWordAligned: Bool { Int(bitPattern: source) % 4 == 0 }

    /// Where the kernels read `range` (inside `words`) from: a pointer and the distance between rows
    /// of `rowLength` words (a matrix of weights), or nil when the constants do not hold it that way.
    /// Without a row length the words must be adjacent (the returned distance is then 0).
    func serving(_ range: Range<Int>, rowLength length: Int? = nil) -> (UnsafePointer<Float>, Int)? {
        let offset = range.lowerBound - start
        let first = source + offset / rowLength * rowStride + offset % rowLength
        if rowStride == rowLength || offset % rowLength + range.count <= rowLength { return (first, length ?? 0) }
        if let length, length == rowLength, offset % rowLength == 0 { return (first, rowStride) }
        return nil
    }

    /// The run without the words of `cut`: up to two runs.
    func removing(_ cut: Range<Int>) -> [ConstantMirrors.Run] {
        let below = words.lowerBound..<max(words.lowerBound, min(words.upperBound, cut.lowerBound))
        let above = min(words.upperBound, max(words.lowerBound, cut.upperBound))..<words.upperBound
        return [below, above].filter { !$0.isEmpty }.map { piece in
            var run = self
            run.words = piece
            return run
        }
    }

    /// Copies the run's words into `sram`, row by row.
    func copy(into sram: Words, _ machine: Machine) {
        if rowStride == rowLength {
            let n = words.count
            let from = RawWords(base: UnsafeRawPointer(serving(words)!.0), count: n)
            machine.copyCells([1, 1, 1, n], from: from, 0, [0, 0, 0, 1], to: sram, words.lowerBound, [0, 0, 0, 1])
            return
        }
        var word = words.lowerBound
        while word < words.upperBound {
            let rowEnd = min(words.upperBound, start + ((word - start) / rowLength + 1) * rowLength)
            UnsafeMutableRawPointer(sram.at(word, rowEnd - word)).copyMemory(
                from: serving(word..<rowEnd)!.0, byteCount: 4 * (rowEnd - word))
            word = rowEnd
        }
    }
}

extension Machine {
    /// Records a LOAD as a mirror instead of copying, when it reads the constants, every cell in
    /// bounds, into a dense SRAM box, and its DRAM box is one run of words or rows of one run each
    /// (a block of a matrix); false (nothing done) otherwise. The SRAM words it writes are no longer
    /// in any mirror (`settleMirrors`).
    func mirror(_ t: TransferOp) -> Bool {
        let c = t.counts, o = t.origin, ds = t.dramStrides, ss = t.sramStrides
        guard !c.contains(0), (0..<boxRank).allSatisfy({ o[$0] >= 0 && o[$0] + c[$0] <= t.extent[$0] }) else {
            return false
        }
        // SRAM dense; DRAM dims merged where they are contiguous, innermost first: (count, stride).
        var words = 1, dims: [(n: Int, s: Int)] = []
        for d in (0..<boxRank).reversed() where c[d] != 1 {
            guard ss[d] == words else { return false }
            words *= c[d]
            if let inner = dims.last, ds[d] == inner.n * inner.s {
                dims[dims.count - 1].n *= c[d]
            } else {
                dims.append((c[d], ds[d]))
            }
        }
        guard dims.count <= 2, dims.first.map({ $0.s == 1 }) ?? true else { return false }
        let rowLength = dims.first?.n ?? 1, rowStride = dims.count > 1 ? dims[1].s : rowLength
        let first = t.dramAddr / 4 + (0..<boxRank).reduce(0) { $0 + o[$1] * ds[$1] }
        let last = first + (words / rowLength - 1) * rowStride + rowLength
        // The constants lie in the .dfx file at whatever byte alignment they have there (ResNet-50's
        // at 3 bytes past a word): CKernels' AVX-512 kernels read weights and biases one scalar load
        // or broadcast at a time, which x86-64 does at any address, and the Swift loops read them
        // with unaligned loads; OpenBLAS (MATMUL, and CONV on CPUs without AVX-512) is given only
        // word-aligned ones (`settleMirrors`).
        guard last <= constants.count, GEMM.vectorized || Int(bitPattern: constants.base) % 4 == 0 else {
            return false
        }
        let source = constants.at(first, last - first).assumingMemoryBound(to: Float.self)
        let sramFirst = t.sramAddr / 4
        mirrors.runs.append(
            .init(
                words: sramFirst..<sramFirst + words, start: sramFirst, rowLength: rowLength, rowStride: rowStride,
                source: source))
        (mirrors.mirrored, mirrors.mirroredWords) = (mirrors.mirrored + 1, mirrors.mirroredWords + words)
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
                    let served = inPlace.first { $0.index == i }.map { operand in
                        run.words.lowerBound <= f.lower && f.upper <= run.words.upperBound
                            && run.serving(f.lower..<f.upper, rowLength: operand.rowLength) != nil
                    }
                    readsInPlace = readsInPlace && served == true && (run.isWordAligned || !op.isMatMul)
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

    /// Which of `op.footprints()` its kernels read through `operand` and `operandRows`: a CONV's and
    /// a MATMUL's weights (rows of a row length; a depthwise CONV's adjacent) and bias (adjacent),
    /// listed after the one operand before them (the input).
    private func mirroredOperands(_ op: Op) -> [(index: Int, rowLength: Int?)] {
        switch op {
        case .conv(let c):
            let cinG = c.input.channels / c.groups
            let rows: Int? = cinG == 1 && c.groups > 1 ? nil : cinG * c.kernelH * c.kernelW
            return [(1, rows)] + (c.hasBias ? [(2, nil)] : [])
        case .matmul(let m): return [(1, m.k)] + (m.hasBias ? [(2, nil)] : [])
        default: return []
        }
    }

    /// Copies every mirror into SRAM, which then holds what the program wrote.
    func materialiseMirrors() {
        for run in mirrors.runs { materialise(run) }
        mirrors.runs = []
    }

    /// Copies a mirror's words into SRAM.
    private func materialise(_ run: ConstantMirrors.Run) {
        mirrors.materialisedWords += run.words.count
        run.copy(into: sram, self)
    }

    /// The word at SRAM byte address `address` (a CONV's or MATMUL's bias), read as `operand` reads.
    @inline(__always) func operandValue(_ address: Int) -> Float {
        UnsafeRawPointer(operand(address, 1)).loadUnaligned(as: Float.self)
    }

    /// The `count` adjacent words from SRAM byte address `address` (a CONV's or MATMUL's bias, a
    /// depthwise CONV's weights), read from the constants they mirror when a mirror holds them.
    @inline(__always) func operand(_ address: Int, _ count: Int) -> UnsafePointer<Float> {
        let words = address / 4..<address / 4 + count
        if let run = mirrors.run(holding: words), let (pointer, _) = run.serving(words) { return pointer }
        return UnsafePointer(sram.at(words.lowerBound, count))
    }

    /// Whether `operand` or `operandRows` gave a pointer into the constants, not SRAM.
    @inline(__always) func isMirrored(_ pointer: UnsafePointer<Float>) -> Bool {
        pointer < UnsafePointer(sram.base) || pointer >= UnsafePointer(sram.base + sram.count)
    }

    /// `rows` rows of `rowLength` adjacent words from SRAM byte address `address` (a CONV's or
    /// MATMUL's weights), and the distance between rows where they are read: in the constants when a
    /// mirror holds them, else in SRAM.
    @inline(__always) func operandRows(_ address: Int, _ rows: Int, _ rowLength: Int) -> (UnsafePointer<Float>, Int) {
        let words = address / 4..<address / 4 + rows * rowLength
        if let run = mirrors.run(holding: words), let served = run.serving(words, rowLength: rowLength) {
            return served
        }
        return (UnsafePointer(sram.at(words.lowerBound, words.count)), rowLength)
    }
}

extension Op {
    var isMatMul: Bool {
        if case .matmul = self { return true }
        return false
    }

    /// A CONV or MATMUL that adds onto its output.
    var accumulates: Bool {
        switch self {
        case .conv(let c): c.accumulate
        case .matmul(let m): m.accumulate
        default: false
        }
    }
}
