import Foundation
import Tensors
import Testing
@testable import Accelerator

/// The race check by intervals against the word-by-word reference, on random
/// programs whose operands overlap often: strided tiles and boxes in a small
/// SRAM window and a small DRAM, and random (protocol-respecting) tokens.
@Suite struct HazardCheckTests {
    static func randomProgram(_ rng: inout SeededRandom) -> Program {
        var b = ProgramBuilder()
        let weights = b.addConstant((0..<64).map(Float.init))
        let x = b.addInput("x", shape: [64])
        let y = b.addOutput("y", shape: [64])
        let engines = Engine.allCases
        var tokens = [Int](repeating: 0, count: engines.count * engines.count)  // [src * n + dst]
        let n = engines.count
        func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        func tile() -> SRAMTile {
            let (c, h, w) = (pick(1...3), pick(1...3), pick(1...4))
            let rs = w + pick(0...2), cs = (h - 1) * rs + w + pick(0...3)
            return SRAMTile(addr: 4 * pick(0...40), channels: c, height: h, width: w, channelStride: cs, rowStride: rs)
        }
        func op() -> Op {
            switch pick(0...5) {
            case 0, 1:
                let tensor = [x, y, weights][pick(0...2)]
                let (count, origin) = (pick(1...16), pick(-2...40))
                var t = TransferOp(
                    tensorAt: tensor, shape: [64], origin: [origin], counts: [count], sramAddr: 4 * pick(0...60))
                t.sramStrides[3] = pick(1...3)
                if pick(0...1) == 0 || tensor == weights || origin < 0 || origin + count > 64 { return .load(t) }
                return .store(t)
            case 2:
                let t = tile()
                return .act(ActOp(input: t, output: pick(0...1) == 0 ? t : tile(), activation: .relu))
            case 3:
                let counts = [1, 1, pick(1...3), pick(1...4)]
                return .copy(
                    CopyOp(
                        counts: counts, srcAddr: 4 * pick(0...40), srcStrides: [0, 0, pick(1...6), pick(0...2)],
                        dstAddr: 4 * pick(0...40), dstStrides: [0, 0, pick(4...6), pick(1...1)]))
            case 4:
                let (m, k, columns) = (pick(1...3), pick(1...4), pick(1...3))
                var p = MatMulOp(
                    m: m, n: columns, k: k, aAddr: 4 * pick(0...30), weightAddr: 4 * pick(0...30),
                    outAddr: 4 * pick(0...40))
                (p.aRowStride, p.outRowStride) = (k + pick(0...2), columns + pick(0...2))
                return .matmul(p)
            default:
                let (src, dst) = pick(0...1) == 0 ? (x, y) : (y, x)
                let count = pick(1...16)
                return .hostSoftmax(
                    HostSoftmaxOp(
                        src: src + 4 * pick(0...40), dst: dst + 4 * pick(0...40), outer: 1, axis: count, inner: 1))
            }
        }
        for _ in 0..<pick(2...14) {
            let op = op()
            let e = Instruction(op).engine
            var wait = EngineSet(), signal = EngineSet()
            for w in engines where w != e && tokens[w.index * n + e.index] > 0 && pick(0...2) > 0 {
                wait.formUnion(EngineSet([w]))
                tokens[w.index * n + e.index] -= 1
            }
            for s in engines where s != e && pick(0...3) == 0 {
                signal.formUnion(EngineSet([s]))
                tokens[e.index * n + s.index] += 1
            }
            b.emit(op, wait: wait, signal: signal)
        }
        // Consume every token left, so that the protocol balances.
        for src in engines {
            for dst in engines where tokens[src.index * n + dst.index] > 0 {
                for _ in 0..<tokens[src.index * n + dst.index] {
                    b.emit(.sync(SyncOp(on: dst)), wait: EngineSet([src]))
                }
            }
        }
        return b.build()
    }

    @Test func intervalsAgreeWithTheWordByWordReference() throws {
        var rng = SeededRandom(seed: 2024)
        var (valid, races) = (0, 0)
        for _ in 0..<8000 {
            let program = Self.randomProgram(&rng)
            guard (try? program.validate()) != nil else { continue }
            valid += 1
            var reference: String? = nil, intervals: String? = nil
            do { try program.checkHazardsWordByWord() } catch let e as ProgramError { reference = e.message }
            do { try program.checkHazards() } catch let e as ProgramError { intervals = e.message }
            #expect(intervals == reference, "\(program.instructions)")
            if reference != nil { races += 1 }
        }
        // Both verdicts must be well represented for the comparison to mean anything.
        #expect(valid > 1500)
        #expect(races > valid / 5 && races < valid * 4 / 5, "\(races) races in \(valid) programs")
        print("hazards: \(races) races in \(valid) valid programs")
    }

    @Test func footprintsAreTheRunsTheirOperandsTouch() {
        // A row-major tile (rows of all channels together) and a strided box.
        let tile = Footprint(
            SRAMTile(addr: 40, channels: 2, height: 3, width: 2, channelStride: 2, rowStride: 5), write: false)
        var runs: [[Int]] = []
        tile.forEachRun { runs.append([$0, $1]) }
        #expect(runs == [[10, 4], [15, 4], [20, 4]])
        #expect((tile.lower, tile.upper) == (10, 24))
        // Words 12 + i1 + 2 * i3: its two dims merge into one run; the dims of one cell or stride 0 drop out.
        let box = Footprint(.sram, write: true, 12, counts: [1, 2, 1, 3], strides: [9, 1, 0, 2])
        runs = []
        box.forEachRun { runs.append([$0, $1]) }
        #expect(runs == [[12, 6]] && box.isDense)
        // Words 14 and 19 fall in the tile's gaps, 13 does not; another memory never meets it.
        #expect(!tile.intersects(Footprint(.sram, write: true, dense: 4 * 14, 1)))
        #expect(tile.intersects(Footprint(.sram, write: true, dense: 4 * 15, 1)))
        #expect(!tile.intersects(Footprint(.dram, write: true, dense: 4 * 15, 1)))
        #expect(!tile.intersects(Footprint(.sram, write: true, 9, counts: [3], strides: [5])))
        #expect(tile.intersects(Footprint(.sram, write: true, 9, counts: [2], strides: [4])))
        // Two strided footprints that interleave without meeting: words {0, 2, 8, 10} and {1, 3, 9, 11}.
        let even = Footprint(.sram, write: false, 0, counts: [2, 2], strides: [8, 2])
        #expect(!even.intersects(Footprint(.sram, write: true, 1, counts: [2, 2], strides: [8, 2])))
        #expect(even.intersects(Footprint(.sram, write: true, 1, counts: [2, 2], strides: [7, 2])))
    }
}
