import Foundation
import Tensors
import Testing
@testable import Accelerator

/// LOADs of constants the executor leaves uncopied (`ConstantMirrors`): random instruction
/// sequences over a small SRAM, where LOADs of weights (runs, and blocks of a matrix's rows) land
/// on, beside and under one another,
/// CONVs and MATMULs read them (two at a time, in part, or as their input too), COPY, ELTWISE
/// and STORE read them and dense and strided writes overwrite them, give the same SRAM and DRAM,
/// bit for bit, as the same sequence with every LOAD copied.
@Suite struct ConstantMirrorTests {
    static let sramWords = 2048, constantWords = 1536, activationWords = 512

    /// One to three random valid instructions; every operand inside the small memories.
    static func randomOps(_ rng: inout SeededRandom) -> [Op] {
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        guard r(0...3) == 0 else { return [randomOp(&rng)] }
        // A block of a weight matrix (rows of `columns` words, `stride` apart in the constants), then
        // a CONV or a MATMUL that reads it as its weights, from where it was loaded or a row later.
        let (cin, k) = (r(1...6), [1, 3][r(0...1)])
        let columns = cin * k * k, stride = columns + r(0...5), rows = r(1...10)
        let block = TransferOp(
            tensorAt: 4 * r(0...constantWords / stride - rows - 2) * stride, shape: [rows + 2, stride],
            origin: [r(0...2), stride - columns - r(0...stride - columns)], counts: [rows, columns],
            sramAddr: 4 * r(0...sramWords - rows * columns))
        let weightAddr = block.sramAddr + 4 * columns * r(0...rows - 1)
        let cout = (block.sramAddr + 4 * rows * columns - weightAddr) / (4 * columns)
        var reader: Op
        if r(0...1) == 0 {
            let (h, w) = (r(k...5), r(k...9))
            reader = .conv(
                ConvOp(
                    input: SRAMTile(addr: 4 * r(0...sramWords - cin * h * w), channels: cin, height: h, width: w),
                    output: SRAMTile(
                        addr: 4 * r(0...sramWords - cout * (h - k + 1) * (w - k + 1)), channels: cout,
                        height: h - k + 1, width: w - k + 1),
                    weightAddr: weightAddr, kernel: (k, k), accumulate: r(0...1) == 1))
        } else {
            let m = r(1...3)
            reader = .matmul(
                MatMulOp(
                    m: m, n: cout, k: columns, aAddr: 4 * r(0...sramWords - m * columns), weightAddr: weightAddr,
                    outAddr: 4 * r(0...sramWords - m * cout)))
        }
        return [.load(block), reader] + (r(0...1) == 0 ? [randomOp(&rng)] : [])
    }

    /// A random valid instruction; every operand inside the small memories.
    static func randomOp(_ rng: inout SeededRandom) -> Op {
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        func word(below: Int) -> Int { 4 * r(0...max(0, below)) }
        func tile(_ channels: Int, _ height: Int, _ width: Int, gapped: Bool) -> SRAMTile {
            let rowStride = width + (gapped ? r(1...3) : 0),
                channelStride = height * rowStride + (gapped ? r(0...2) : 0)
            return SRAMTile(
                addr: word(below: sramWords - channels * channelStride), channels: channels, height: height,
                width: width, channelStride: channelStride, rowStride: rowStride)
        }
        switch r(0...9) {
        case 0, 1, 2:  // weights: a dense run of constants (mirrored)
            let n = r(1...400)
            return .load(
                TransferOp(
                    tensorAt: word(below: constantWords - n), shape: [n], origin: [0], counts: [n],
                    sramAddr: word(below: sramWords - n)))
        case 3:  // constants into a strided box with a padding border (copied)
            var t = TransferOp(
                tensorAt: word(below: constantWords - 64), shape: [8, 8], origin: [-1, -1], counts: [10, 10],
                sramAddr: 0)
            t.sramStrides = [0, 0, 12, 1]
            t.sramAddr = word(below: sramWords - 120)
            return .load(t)
        case 4:  // activations from DRAM (copied)
            let n = r(1...200)
            return .load(
                TransferOp(
                    tensorAt: 4 * (constantWords + r(0...activationWords - n)), shape: [n], origin: [0], counts: [n],
                    sramAddr: word(below: sramWords - n)))
        case 5:
            let (cin, cout, k) = (r(1...8), r(1...12), [1, 3][r(0...1)])
            let (h, w) = (r(k...6), r(k...14))
            let input = tile(cin, h, w, gapped: r(0...1) == 1)
            let output = tile(cout, h - k + 1, w - k + 1, gapped: r(0...1) == 1)
            return .conv(
                ConvOp(
                    input: input, output: output, weightAddr: word(below: sramWords - cout * cin * k * k),
                    biasAddr: r(0...1) == 1 ? word(below: sramWords - cout) : nil, kernel: (k, k),
                    accumulate: r(0...1) == 1, activation: .init(.relu)))
        case 6:
            let (rows, n, k) = (r(1...4), r(1...24), r(1...24))
            return .matmul(
                MatMulOp(
                    m: rows, n: n, k: k, aAddr: word(below: sramWords - rows * k),
                    weightAddr: word(below: sramWords - n * k),
                    biasAddr: r(0...1) == 1 ? word(below: sramWords - n) : nil,
                    outAddr: word(below: sramWords - rows * n)))
        case 7:
            let n = r(1...300)
            return .copy(
                CopyOp(
                    counts: [1, 1, 1, n], srcAddr: word(below: sramWords - n), srcStrides: [0, 0, 0, 1],
                    dstAddr: word(below: sramWords - n), dstStrides: [0, 0, 0, 1]))
        case 8:
            let (c, h, w) = (r(1...4), r(1...5), r(1...9))
            return .eltwise(
                EltwiseOp(
                    .add, a: tile(c, h, w, gapped: false), b: tile(c, h, w, gapped: true),
                    output: tile(c, h, w, gapped: r(0...1) == 1)))
        default:
            let n = r(1...200)
            return .store(
                TransferOp(
                    tensorAt: 4 * (constantWords + r(0...activationWords - n)), shape: [n], origin: [0], counts: [n],
                    sramAddr: word(below: sramWords - n)))
        }
    }

    @Test(arguments: 0..<60) func mirroredLoadsComputeTheSameBits(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) + 9000)
        let checker = InstructionChecker(
            sramBytes: 4 * Self.sramWords, dramBytes: 4 * (Self.constantWords + Self.activationWords),
            constantsEnd: 4 * Self.constantWords)
        var ops: [Op] = []
        while ops.count < 60 {
            for op in Self.randomOps(&rng) where (try? checker.check(op)) != nil { ops.append(op) }
        }
        // The constants at any byte offset, as in a .dfx file (ResNet-50's lie 3 bytes past a word).
        let offset = seed % 4
        let constants =
            [UInt8](repeating: 0xAB, count: offset)
            + ExecutorFastPathTests.randomFloats(Self.constantWords, seed: UInt64(seed)).withUnsafeBytes { Array($0) }
        let activations = ExecutorFastPathTests.randomFloats(Self.activationWords, seed: UInt64(seed) + 1)
        var results: [[UInt8]] = []
        var mirroredAfter = 0
        for mirrors in [false, true] {
            let sram = Memory(bytes: 4 * Self.sramWords)!
            let dram = Memory(bytes: 4 * (Self.constantWords + Self.activationWords))!
            dram.write(activations.withUnsafeBytes { Array($0) }[...], at: 4 * Self.constantWords)
            constants.withUnsafeBytes { raw in
                let machine = Machine(
                    sram: sram.view, dram: dram.view,
                    constants: RawWords(base: raw.baseAddress! + offset, count: Self.constantWords),
                    mirrorsConstants: mirrors)
                for op in ops {
                    machine.execute(op)
                    if !machine.mirrors.runs.isEmpty { mirroredAfter += 1 }
                }
                machine.materialiseMirrors()
                #expect(machine.mirrors.runs.isEmpty)
            }
            results.append(sram.read(0, count: 4 * Self.sramWords) + dram.read(0, count: dram.words * 4))
        }
        // Unaligned constants are mirrored only for CKernels' AVX-512 kernels.
        #expect(mirroredAfter > 0 || (offset > 0 && !GEMM.vectorized), "no LOAD was mirrored")
        let first = results[0].indices.first { results[0][$0] != results[1][$0] }
        #expect(first == nil, "SRAM and DRAM differ from byte \(first ?? 0)")
    }

    /// The cases the random sequences may miss, one by one: weights read by two CONVs stay uncopied
    /// (SRAM untouched); a CONV that reads its weights as its input, a STORE and a strided write over
    /// part of a mirror copy it first; a dense LOAD over its middle leaves the two ends.
    @Test func mirrorsAreCopiedExactlyWhenNeeded() {
        let constants = ExecutorFastPathTests.randomFloats(256, seed: 77)
        let sram = Memory(bytes: 4 * 1024)!, dram = Memory(bytes: 4 * 512)!
        constants.withUnsafeBytes { raw in
            let machine = Machine(
                sram: sram.view, dram: dram.view, constants: RawWords(base: raw.baseAddress!, count: 256),
                mirrorsConstants: true)
            let weights = TransferOp(tensorAt: 0, shape: [64], origin: [0], counts: [64], sramAddr: 0)
            machine.execute(.load(weights))
            #expect(machine.mirrors.runs.map(\.words) == [0..<64])
            let input = SRAMTile(addr: 4 * 100, channels: 8, height: 2, width: 3)
            let conv = ConvOp(
                input: input, output: SRAMTile(addr: 4 * 200, channels: 8, height: 2, width: 3), weightAddr: 0,
                kernel: (1, 1))
            machine.execute(.conv(conv))
            var second = conv
            second.output.addr = 4 * 300
            machine.execute(.conv(second))
            #expect(machine.mirrors.runs.map(\.words) == [0..<64], "read as weights only: still a mirror")
            #expect((0..<64).allSatisfy { sram.view[$0] == 0 }, "copied though only CONVs read it")
            // A dense LOAD over words 10..<20 cuts the mirror in two.
            machine.execute(.load(TransferOp(tensorAt: 4 * 200, shape: [10], origin: [0], counts: [10], sramAddr: 40)))
            #expect(Set(machine.mirrors.runs.map(\.words)) == [0..<10, 10..<20, 20..<64])
            // A STORE of words 0..<4 copies the run that holds them.
            machine.execute(.store(TransferOp(tensorAt: 4 * 300, shape: [4], origin: [0], counts: [4], sramAddr: 0)))
            #expect(Set(machine.mirrors.runs.map(\.words)) == [10..<20, 20..<64])
            #expect((0..<10).allSatisfy { sram.view[$0] == constants[$0] })
            #expect((0..<4).allSatisfy { dram.view[300 + $0] == constants[$0] })
            // A CONV whose input is its own weights (words 20..<36) copies them.
            var own = conv
            own.weightAddr = 4 * 20
            own.input = SRAMTile(addr: 4 * 20, channels: 2, height: 2, width: 4)
            own.output = SRAMTile(addr: 4 * 400, channels: 1, height: 2, width: 4)
            own.weightAddr = 4 * 20
            machine.execute(.conv(own))
            #expect(Set(machine.mirrors.runs.map(\.words)) == [10..<20])
            #expect((20..<64).allSatisfy { sram.view[$0] == constants[$0] })
            // A strided write (a gapped CONV output) over part of the last mirror copies it first.
            let gapped = SRAMTile(addr: 4 * 12, channels: 1, height: 2, width: 2, channelStride: 8, rowStride: 4)
            var over = conv
            (over.input, over.output) = (SRAMTile(addr: 4 * 500, channels: 1, height: 2, width: 2), gapped)
            over.weightAddr = 4 * 600
            machine.execute(.conv(over))
            #expect(machine.mirrors.runs.isEmpty)
            #expect([10, 11, 14, 15, 18, 19].allSatisfy { sram.view[$0] == constants[200 + $0 - 10] })
        }
    }
}
