import Foundation
import Tensors
import Testing
@testable import Accelerator

/// The executor's fast paths against plain loops: the C row kernels (their
/// vector part and their tails), LOADs straight from a constants segment at
/// any byte alignment, and memories large enough to be mapped.
@Suite struct ExecutorFastPathTests {
    static func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in Float.random(in: -2...2, using: &rng) }
    }

    /// Lengths around the eight-lane vectors, strides 1 and 2 (vectorized) and 3 (not).
    @Test(arguments: [1, 2, 3]) func rowKernelsMatchLoops(stride: Int) {
        var x = Self.randomFloats(3 * 41, seed: 7)
        x[5] = .nan  // max ignores a NaN input, as Swift's max(o, x) does
        let start = Self.randomFloats(41, seed: 8)
        for n in 0...40 {
            var axpy = start, maxed = start, added = start
            x.withUnsafeBufferPointer { xs in
                Kernels.axpy(&axpy, xs.baseAddress!, stride: stride, 0.75, n)
                Kernels.max(&maxed, xs.baseAddress!, stride: stride, n)
                Kernels.add(&added, xs.baseAddress!, stride: stride, n)
            }
            for j in 0..<41 {
                let inRange = j < n
                let v = inRange ? x[j * stride] : 0
                let fma = inRange ? start[j] + 0.75 * v : start[j]
                #expect(abs(axpy[j] - fma) <= 1e-6 || (fma.isNaN && axpy[j].isNaN), "axpy n \(n) j \(j)")
                #expect(maxed[j] == (inRange ? max(start[j], v) : start[j]), "max n \(n) j \(j)")
                let sum = inRange ? start[j] + v : start[j]
                #expect(added[j] == sum || (sum.isNaN && added[j].isNaN), "add n \(n) j \(j)")
            }
        }
    }

    /// A LOAD reads the constants where they lie, so a segment that starts at
    /// any byte offset of the file gives the same SRAM words as DRAM does.
    @Test(arguments: 0..<4) func loadsFromConstantsAtAnyAlignment(offset: Int) {
        let values = Self.randomFloats(48, seed: 9)
        let bytes = [UInt8](repeating: 0xAB, count: offset) + values.withUnsafeBytes { Array($0) }
        // A 4x12 tensor: a dense box, a box with a padding border and one with a column stride.
        var strided = TransferOp(tensorAt: 0, shape: [4, 12], origin: [0, 0], counts: [4, 6], sramAddr: 0)
        strided.dramStrides = [0, 0, 12, 2]
        let loads = [
            TransferOp(tensorAt: 0, shape: [4, 12], origin: [0, 0], counts: [4, 12], sramAddr: 0),
            TransferOp(tensorAt: 0, shape: [4, 12], origin: [-1, -2], counts: [6, 16], sramAddr: 0), strided
        ]
        for load in loads {
            let fromDRAM = Memory(bytes: 4 * 96)!, dram = Memory(bytes: 4 * 48)!
            dram.write(values.withUnsafeBytes { Array($0) }[...], at: 0)
            Machine(sram: fromDRAM.view, dram: dram.view).execute(.load(load))
            let fromConstants = Memory(bytes: 4 * 96)!, empty = Memory(bytes: 4 * 48)!
            bytes.withUnsafeBytes { raw in
                let constants = RawWords(base: raw.baseAddress! + offset, count: 48)
                Machine(sram: fromConstants.view, dram: empty.view, constants: constants).execute(.load(load))
            }
            #expect(fromConstants.read(0, count: 4 * 96) == fromDRAM.read(0, count: 4 * 96), "\(load.counts)")
            // The constants were read where they lie, not copied into DRAM.
            #expect(empty.read(0, count: 4 * 48).allSatisfy { $0 == 0 })
        }
    }

    /// Boxes of 2^16 words and more are split over the cores, by rows or
    /// (one long row) by columns; every cell lands where the loops put it.
    @Test(arguments: [([1, 3, 200, 130], 1), ([1, 3, 200, 130], 2), ([1, 1, 1, 70_000], 1), ([2, 1, 1, 40_000], 3)])
    func largeBoxCopiesMatchLoops(counts: [Int], sourceStep: Int) {
        // Source strides from `sourceStep`; destination rows padded by 5 words, planes by 7.
        let srcStrides = [counts[1] * counts[2] * counts[3], counts[2] * counts[3], counts[3], 1].map {
            $0 * sourceStep
        }
        let row = counts[3] + 5, plane = counts[2] * row + 7, volume = counts[1] * plane + 11
        let dstStrides = [volume, plane, row, 1]
        let source = Self.randomFloats(counts.reduce(1, *) * sourceStep, seed: 10)
        let destination = Memory(bytes: 4 * counts[0] * volume)!, unused = Memory(bytes: 4)!
        var expected = [Float](repeating: 0, count: counts[0] * volume)
        for i0 in 0..<counts[0] {
            for i1 in 0..<counts[1] {
                for i2 in 0..<counts[2] {
                    for i3 in 0..<counts[3] {
                        let s = i0 * srcStrides[0] + i1 * srcStrides[1] + i2 * srcStrides[2] + i3 * srcStrides[3]
                        expected[i0 * volume + i1 * plane + i2 * row + i3] = source[s]
                    }
                }
            }
        }
        source.withUnsafeBytes { raw in
            let machine = Machine(sram: destination.view, dram: unused.view)
            let from = RawWords(base: raw.baseAddress!, count: source.count)
            machine.copyCells(counts, from: from, 0, srcStrides, to: destination.view, 0, dstStrides)
        }
        #expect((0..<expected.count).allSatisfy { destination.view[$0] == expected[$0] })
    }

    /// A row copied with a source stride (a COPY that folds a strided stem's taps, a LOAD of every
    /// other column) from a source at any byte alignment: the words the loop picks, nothing past n.
    @Test(arguments: [0, 1, 2, 3]) func stridedRowCopiesMatchLoops(stride: Int) {
        let source = Self.randomFloats(3 * 41 + 1, seed: 14)
        for offset in 0..<4 {
            let bytes = [UInt8](repeating: 0xCD, count: offset) + source.withUnsafeBytes { Array($0) }
            for n in 0...40 {
                let destination = Memory(bytes: 4 * 41)!, unused = Memory(bytes: 4)!
                bytes.withUnsafeBytes { raw in
                    let from = RawWords(base: raw.baseAddress! + offset, count: source.count)
                    Machine(sram: destination.view, dram: unused.view).copyCells(
                        [1, 1, 1, n], from: from, 0, [0, 0, 0, stride], to: destination.view, 0, [0, 0, 0, 1])
                }
                let expected = (0..<41).map { j in j < n ? source[j * stride] : 0 }
                #expect((0..<41).allSatisfy { destination.view[$0] == expected[$0] }, "offset \(offset) n \(n)")
            }
        }
    }

    /// Memories of 4 MiB and more are anonymous mappings: zeroed, writable to their last word.
    @Test func largeMemoryIsZeroedAndWritable() {
        let words = (5 << 20) / 4 + 3
        let memory = Memory(bytes: 4 * words)!
        let view = memory.view
        #expect((0..<words).allSatisfy { view[$0] == 0 })
        view[words - 1] = 1.5
        view[0] = -2
        #expect(view[words - 1] == 1.5 && view[0] == -2)
    }

    /// A CONV reuses the tap matrix the CONV before it gathered from the same
    /// input, until an instruction writes any word of that input (or the CONV
    /// itself does): the results equal running every instruction on a fresh
    /// machine, which gathers each time.
    @Test(arguments: 0..<4) func gatheredTapsAreReusedOnlyWhileTheInputIsUnchanged(between: Int) {
        // A 3x3 stride-1 convolution with padding over a 5x7 tile of 4 channels, 3 output channels.
        let input = SRAMTile(addr: 0, channels: 4, height: 5, width: 7, channelStride: 40, rowStride: 8)
        let window = PadWindow(originY: -1, originX: -1, extentH: 4, extentW: 6)
        let outputWords = 3 * 3 * 5, weightWords = 3 * 4 * 9
        func conv(out: Int, weights: Int, accumulate: Bool = false) -> Op {
            .conv(
                ConvOp(
                    input: input, output: SRAMTile(addr: 4 * out, channels: 3, height: 3, width: 5),
                    weightAddr: 4 * weights, kernel: (3, 3), window: window, accumulate: accumulate))
        }
        let (out1, out2, out3) = (160, 160 + outputWords, 160 + 2 * outputWords)
        let (w1, w2) = (out3 + outputWords, out3 + outputWords + weightWords)
        let total = w2 + weightWords
        // What runs between the CONVs: nothing, a COPY over one input row, an ACT on part
        // of the input, or a CONV that writes its output over the input.
        let middle: [Op] = [
            [],
            [
                .copy(
                    CopyOp(
                        counts: [1, 1, 1, 7], srcAddr: 4 * w1, srcStrides: [0, 0, 0, 1], dstAddr: 4 * 88,
                        dstStrides: [0, 0, 0, 1]))
            ],
            [
                .act(
                    ActOp(
                        input: SRAMTile(
                            addr: 4 * 40, channels: 1, height: 2, width: 7, channelStride: 40, rowStride: 8),
                        output: SRAMTile(
                            addr: 4 * 40, channels: 1, height: 2, width: 7, channelStride: 40, rowStride: 8),
                        activation: FusedActivation(.neg)))
            ],
            [
                .conv(
                    ConvOp(
                        input: input, output: SRAMTile(addr: 0, channels: 3, height: 3, width: 5),
                        weightAddr: 4 * w2, kernel: (3, 3), window: window))
            ]
        ][between]
        let program =
            [conv(out: out1, weights: w1)] + middle + [
                conv(out: out2, weights: w2), conv(out: out3, weights: w1, accumulate: true)
            ]
        let start = Self.randomFloats(total, seed: 11 + UInt64(between))
        func run(freshMachineEach: Bool) -> [Float] {
            let sram = Memory(bytes: 4 * total)!, dram = Memory(bytes: 4)!
            start.withUnsafeBytes { sram.write($0, at: 0) }
            let shared = Machine(sram: sram.view, dram: dram.view)
            for op in program {
                (freshMachineEach ? Machine(sram: sram.view, dram: dram.view) : shared).execute(op)
            }
            return (0..<total).map { sram.view[$0] }
        }
        #expect(run(freshMachineEach: false) == run(freshMachineEach: true))
    }

    /// A depthwise output row with every tap at once (AVX-512 where the CPU
    /// has it) equals the taps added one by one with the row kernel, bit for
    /// bit at strides 1 and 2 (both fuse each multiply-add, in tap order):
    /// rows of 1 to 40 columns (several vectors and a partial one), taps with
    /// columns cut at either end or empty, zeros and NaN weights, accumulating or not.
    @Test(arguments: [1, 2, 3]) func depthwiseRowMatchesTapByTap(stride: Int) {
        var rng = SeededRandom(seed: 20 + UInt64(stride))
        let input = Self.randomFloats(9 * 200, seed: 21)
        input.withUnsafeBufferPointer { x in
            for n in 1...40 {
                let taps = Int.random(in: 1...9, using: &rng)
                var starts = [Int](), weights = [Float](), columns = [Range<Int>]()
                for t in 0..<taps {
                    let lo = Int.random(in: 0...min(n, 3), using: &rng)
                    let hi = max(lo, n - Int.random(in: 0...3, using: &rng))
                    starts.append(t * 200 + Int.random(in: 0...9, using: &rng))
                    weights.append(t == 4 && n % 7 == 0 ? .nan : Float.random(in: -1...1, using: &rng))
                    columns.append(lo..<hi)
                }
                for accumulate in [false, true] {
                    let start = Self.randomFloats(n, seed: UInt64(n))
                    var expected = accumulate ? start : [Float](repeating: 0, count: n)
                    expected.withUnsafeMutableBufferPointer { o in
                        for t in 0..<taps where !columns[t].isEmpty {
                            Kernels.axpy(
                                o.baseAddress! + columns[t].lowerBound, x.baseAddress! + starts[t], stride: stride,
                                weights[t], columns[t].count)
                        }
                    }
                    let row = DepthwiseRow(capacity: taps)
                    for t in 0..<taps where !columns[t].isEmpty {
                        row.append(x.baseAddress! + starts[t], weight: weights[t], columns: columns[t])
                    }
                    var got = start
                    got.withUnsafeMutableBufferPointer {
                        row.run(into: $0.baseAddress!, n, accumulate: accumulate, stride: stride)
                    }
                    let same = zip(got, expected).allSatisfy { a, b in
                        a == b || (a.isNaN && b.isNaN) || (stride > 2 && abs(a - b) <= 1e-5 * max(1, abs(b)))
                    }
                    #expect(same, "n \(n) taps \(taps) accumulate \(accumulate): \(got) vs \(expected)")
                }
            }
        }
    }
}
