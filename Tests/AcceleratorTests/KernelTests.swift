import Foundation
import Tensors
import Testing
@testable import Accelerator

/// Each kernel against a naive reference written from the loops in docs/isa.md.
@Suite struct KernelTests {
    /// Validates `op` alone, runs it on an SRAM holding `sram` (and a DRAM
    /// holding `dram`), and returns both memories afterwards.
    static func execute(_ op: Op, sram: [Float], dram: [Float] = [0]) throws -> (sram: [Float], dram: [Float]) {
        let checker = InstructionChecker(sramBytes: sram.count * 4, dramBytes: dram.count * 4, constantsEnd: 0)
        _ = try checker.check(op)
        let s = Memory(bytes: sram.count * 4)!, d = Memory(bytes: dram.count * 4)!
        s.write(sram.withUnsafeBytes { Array($0) }[...], at: 0)
        d.write(dram.withUnsafeBytes { Array($0) }[...], at: 0)
        Machine(sram: s.view, dram: d.view).execute(op)
        func back(_ m: Memory) -> [Float] {
            let bytes = m.read(0, count: m.words * 4)
            return (0..<m.words).map { i in
                Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[4 * i + $1]) << (8 * $1) })
            }
        }
        return (back(s), back(d))
    }

    static func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-4) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    static func reference(_ a: FusedActivation, _ v: Float) -> Float {
        switch a.kind {
        case .none: v
        case .relu: max(v, 0)
        case .leakyRelu: v < 0 ? a.alpha * v : v
        case .clip: min(max(v, a.alpha), a.beta)
        case .sigmoid: 1 / (1 + exp(-v))
        case .hardSigmoid: max(0, min(1, a.alpha * v + a.beta))
        case .hardSwish: v * max(0, min(1, v / 6 + 0.5))
        case .tanh: tanh(v)
        // The multi-step kinds in fp64, from their definitions, not from ActivationMath.
        case .silu: Float(Double(v) / (1 + exp(-Double(v))))
        case .gelu: Float(0.5 * Double(v) * (1 + erf(Double(v) / 2.0.squareRoot())))
        case .geluTanh:
            Float(
                0.5 * Double(v) * (1 + tanh((2 / Double.pi).squareRoot() * (Double(v) + 0.044715 * pow(Double(v), 3)))))
        case .mish: Float(Double(v) * tanh(log(1 + exp(Double(v)))))
        case .neg: -v
        case .abs: abs(v)
        case .floor: floor(v)
        case .ceil: ceil(v)
        case .sqrt: sqrt(v)
        }
    }

    static let activations: [FusedActivation] = [
        .none, .relu, FusedActivation(.leakyRelu, alpha: 0.1), FusedActivation(.clip, alpha: -0.5, beta: 0.5),
        FusedActivation(.sigmoid), FusedActivation(.hardSigmoid, alpha: 0.2, beta: 0.5), FusedActivation(.hardSwish),
        FusedActivation(.tanh), FusedActivation(.silu), FusedActivation(.gelu), FusedActivation(.geluTanh),
        FusedActivation(.mish), FusedActivation(.neg), FusedActivation(.abs), FusedActivation(.floor),
        FusedActivation(.ceil)
    ]

    @Test func activationValues() throws {
        let x: [Float] = [-3, -1, -0.25, 0, 0.25, 1, 3, 7]
        for a in Self.activations {
            let tile = SRAMTile(addr: 0, channels: 1, height: 1, width: 8)
            let out = try Self.execute(.act(ActOp(input: tile, output: tile, activation: a)), sram: x).sram
            #expect(Self.close(out, x.map { Self.reference(a, $0) }), "\(a.kind)")
        }
        // Sqrt: NaN below 0, exact above.
        let tile = SRAMTile(addr: 0, channels: 1, height: 1, width: 8)
        let roots = try Self.execute(
            .act(ActOp(input: tile, output: tile, activation: FusedActivation(.sqrt))), sram: x
        ).sram
        #expect(roots[..<3].allSatisfy(\.isNaN) && Array(roots[3...]) == x[3...].map { $0.squareRoot() }, "\(roots)")
        // A few by hand: hard-swish(1) = 1 * (1/6 + 1/2); clip; leaky relu.
        let hs = try Self.execute(
            .act(
                ActOp(
                    input: SRAMTile(addr: 0, channels: 1, height: 1, width: 1),
                    output: SRAMTile(addr: 0, channels: 1, height: 1, width: 1),
                    activation: FusedActivation(.hardSwish))), sram: [1]
        ).sram
        #expect(abs(hs[0] - 2.0 / 3.0) < 1e-6)
    }

    @Test("SiLU, GELU and Mish pass large inputs through and flush very negative ones to 0, never NaN")
    func multiStepActivationsFarOut() throws {
        let x: [Float] = [20, 100, 1e30, -20, -100, -1e30]
        for kind in [ActivationKind.silu, .gelu, .geluTanh, .mish] {
            let tile = SRAMTile(addr: 0, channels: 1, height: 1, width: x.count)
            let out = try Self.execute(
                .act(ActOp(input: tile, output: tile, activation: FusedActivation(kind))), sram: x
            )
            .sram
            #expect(Array(out.prefix(3)) == [20, 100, 1e30], "\(kind): \(out)")
            #expect(out.suffix(2).allSatisfy { abs($0) < 1e-30 } && abs(out[3]) < 1e-6, "\(kind): \(out)")
        }
    }

    @Test(arguments: 0..<40) func convMatchesReference(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed))
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        let groups = [1, 1, 2, 3][r(0...3)]
        let depthwise = seed % 5 == 0
        let cinG = depthwise ? 1 : r(1...3), coutG = depthwise ? r(1...2) : r(1...3)
        let (cin, cout) = (cinG * (depthwise ? 4 : groups), coutG * (depthwise ? 4 : groups))
        let g = depthwise ? 4 : groups
        let (kh, kw, sh, sw, dh, dw) = (r(1...3), r(1...3), r(1...2), r(1...2), r(1...2), r(1...2))
        let h = (kh - 1) * dh + r(1...5), w = (kw - 1) * dw + r(1...5)
        let ho = (h - ((kh - 1) * dh + 1)) / sh + 1, wo = (w - ((kw - 1) * dw + 1)) / sw + 1
        // A strided input tile and a strided output tile.
        let input = SRAMTile(
            addr: 0, channels: cin, height: h, width: w, channelStride: h * (w + 2) + 3, rowStride: w + 2)
        let inWords = cin * input.channelStride
        let output = SRAMTile(
            addr: 4 * inWords, channels: cout, height: ho, width: wo,
            channelStride: ho * (wo + 1), rowStride: wo + 1)
        let outWords = cout * output.channelStride
        let weightAddr = 4 * (inWords + outWords), weightCount = cout * cinG * kh * kw
        let biasAddr = weightAddr + 4 * weightCount
        let total = inWords + outWords + weightCount + cout
        var sram = (0..<total).map { _ in Float.random(in: -1...1, using: &rng) }
        let window = PadWindow(originY: r(-2...1), originX: r(-2...1), extentH: r(1...h), extentW: r(1...w))
        let accumulate = r(0...1) == 1, hasBias = r(0...1) == 1
        let activation = Self.activations[r(0...Self.activations.count - 1)]
        let op = ConvOp(
            input: input, output: output, weightAddr: weightAddr, biasAddr: hasBias ? biasAddr : nil,
            kernel: (kh, kw), stride: (sh, sw), dilation: (dh, dw), groups: g, window: window,
            accumulate: accumulate, activation: activation)
        #expect(Op.conv(op).engine == (cinG == 1 && g > 1 ? .vector : .matrix))
        let got = try Self.execute(.conv(op), sram: sram).sram

        Self.referenceConv(op, sram: &sram)
        #expect(Self.close(got, sram))
    }

    /// Seeds from 30 on have rows wider than one vector of 16 (and column strides up to 3).
    @Test(arguments: 0..<45) func poolMatchesReference(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) + 1000)
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        let c = r(1...3)
        let (kh, kw, sh, sw, dh, dw) = (r(1...3), r(1...3), r(1...2), r(1...(seed >= 30 ? 3 : 2)), r(1...2), r(1...2))
        let h = (kh - 1) * dh + r(1...5), w = (kw - 1) * dw + (seed >= 30 ? r(17...70) : r(1...5))
        let ho = (h - ((kh - 1) * dh + 1)) / sh + 1, wo = (w - ((kw - 1) * dw + 1)) / sw + 1
        let input = SRAMTile(addr: 0, channels: c, height: h, width: w)
        let output = SRAMTile(addr: 4 * input.elements, channels: c, height: ho, width: wo)
        var sram = (0..<(input.elements + output.elements)).map { _ in Float.random(in: -1...1, using: &rng) }
        let window = PadWindow(originY: r(-2...0), originX: r(-2...0), extentH: r(1...h), extentW: r(1...w))
        let pads = (r(0...2), r(0...2), r(0...2), r(0...2))
        let kind: PoolKind = r(0...1) == 0 ? .max : .avg
        let op = PoolOp(
            kind, input: input, output: output, kernel: (kh, kw), stride: (sh, sw), dilation: (dh, dw),
            window: window, countPads: pads)
        let got = try Self.execute(.pool(op), sram: sram).sram
        for ch in 0..<c {
            for y in 0..<ho {
                for x in 0..<wo {
                    var values: [Float] = []
                    var counted = 0
                    for ky in 0..<kh {
                        for kx in 0..<kw {
                            let (iy, ix) = (y * sh + ky * dh, x * sw + kx * dw)
                            let (ty, tx) = (window.originY + iy, window.originX + ix)
                            if ty >= -pads.0 && ty < window.extentH + pads.2 && tx >= -pads.1
                                && tx < window.extentW + pads.3
                            {
                                counted += 1
                            }
                            if ty >= 0 && ty < window.extentH && tx >= 0 && tx < window.extentW {
                                values.append(sram[(ch * h + iy) * w + ix])
                            }
                        }
                    }
                    let v: Float =
                        kind == .max ? (values.max() ?? 0) : (counted == 0 ? 0 : values.reduce(0, +) / Float(counted))
                    sram[input.elements + (ch * ho + y) * wo + x] = v
                }
            }
        }
        #expect(Self.close(got, sram))
    }

    /// ONNX AveragePool, 3x3, pads 1, stride 1 on a 3x3 input of ones:
    /// count_include_pad=0 gives all ones; =1 gives 4/9, 6/9, 4/9 / 6/9, 1, 6/9 / ...
    @Test func averagePoolCountIncludePad() throws {
        // The LOAD zero-filled a 5x5 tile; the window says it is the padded 3x3 tensor.
        var sram = [Float](repeating: 0, count: 25 + 9)
        for y in 1...3 { for x in 1...3 { sram[y * 5 + x] = 1 } }
        let input = SRAMTile(addr: 0, channels: 1, height: 5, width: 5)
        let output = SRAMTile(addr: 100, channels: 1, height: 3, width: 3)
        let window = PadWindow(originY: -1, originX: -1, extentH: 3, extentW: 3)
        let exclude = try Self.execute(
            .pool(PoolOp(.avg, input: input, output: output, kernel: (3, 3), window: window)),
            sram: sram
        ).sram
        #expect(Array(exclude[25...]) == [Float](repeating: 1, count: 9))
        let include = try Self.execute(
            .pool(
                PoolOp(
                    .avg, input: input, output: output, kernel: (3, 3), window: window,
                    countPads: (1, 1, 1, 1))), sram: sram
        ).sram
        #expect(Self.close(Array(include[25...]), [4, 6, 4, 6, 9, 6, 4, 6, 4].map { $0 / 9 }))
        // Max pool ignores padding even when it holds large values.
        var garbage = sram
        garbage[0] = 100
        let maxPool = try Self.execute(
            .pool(PoolOp(.max, input: input, output: output, kernel: (3, 3), window: window)),
            sram: garbage
        ).sram
        #expect(Array(maxPool[25...]) == [Float](repeating: 1, count: 9))
    }

    @Test func eltwiseAndBroadcast() throws {
        let a: [Float] = [1, -2, 3, -4, 5, -6, 7, -8]  // 2 x 2 x 2
        let b: [Float] = [0.5, 2, -1, 1, 3, 3, -3, 0]
        let bc: [Float] = [10, -10]
        let sram = a + b + bc + [Float](repeating: 0, count: 8)
        let ta = SRAMTile(addr: 0, channels: 2, height: 2, width: 2),
            tb = SRAMTile(addr: 32, channels: 2, height: 2, width: 2)
        let tc = SRAMTile(addr: 64, channels: 2, height: 1, width: 1),
            to = SRAMTile(addr: 72, channels: 2, height: 2, width: 2)
        let ops: [(EltwiseKind, (Float, Float) -> Float)] = [(.add, +), (.sub, -), (.mul, *), (.max, { max($0, $1) })]
        for (kind, f) in ops {
            let full = try Self.execute(.eltwise(EltwiseOp(kind, a: ta, b: tb, output: to)), sram: sram).sram
            #expect(Array(full[18...]) == zip(a, b).map(f))
            let bcast = try Self.execute(
                .eltwise(EltwiseOp(kind, a: ta, b: tc, output: to, broadcast: .channel, activation: .relu)),
                sram: sram
            ).sram
            #expect(Array(bcast[18...]) == a.enumerated().map { max(0, f($1, bc[$0 / 4])) })
            // In place on a.
            let inPlace = try Self.execute(.eltwise(EltwiseOp(kind, a: ta, b: tb, output: ta)), sram: sram).sram
            #expect(Array(inPlace[0..<8]) == zip(a, b).map(f))
        }
    }

    /// ELTWISE on tiles whose rows and channels follow one another (one run of words, split over the cores
    /// when large), whose channels lie apart (one run per channel) or whose rows lie apart, against the
    /// loops of docs/isa.md: every kind, a broadcast channel, in place, with and without an activation,
    /// runs that are not whole vectors, and no word outside the output written.
    @Test(arguments: [(3, 1, 13_337), (5, 7, 7), (40, 1, 1_000), (2, 3, 5)])
    func eltwiseOverDenseAndStridedTiles(channels: Int, height: Int, width: Int) throws {
        let plane = height * width, words = channels * plane
        var rng = SeededRandom(seed: UInt64(words))
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Int.random(in: -500...500, using: &rng)) / 64 } }
        // a dense; b with a gap after each channel (or each row); the output dense or with gaps.
        let gap = 3
        let a = values(words), b = values(channels * (plane + gap)), bc = values(channels)
        let (aAt, bAt, cAt) = (0, words, words + b.count)
        let outAt = cAt + channels, size = outAt + channels * (height * (width + 1) + gap) + 1
        let sram = a + b + bc + [Float](repeating: 7, count: size - outAt)
        let ta = SRAMTile(addr: 4 * aAt, channels: channels, height: height, width: width)
        let tb = SRAMTile(addr: 4 * bAt, channels: channels, height: height, width: width)
        let tbApart = SRAMTile(
            addr: 4 * bAt, channels: channels, height: height, width: width, channelStride: plane + gap,
            rowStride: width)
        let tc = SRAMTile(addr: 4 * cAt, channels: channels, height: 1, width: 1)
        let denseOut = SRAMTile(addr: 4 * outAt, channels: channels, height: height, width: width)
        let apartOut = SRAMTile(
            addr: 4 * outAt, channels: channels, height: height, width: width, channelStride: plane + gap,
            rowStride: width)
        let rowsApart = SRAMTile(
            addr: 4 * outAt, channels: channels, height: height, width: width,
            channelStride: height * (width + 1) + gap, rowStride: width + 1)
        let kinds: [(EltwiseKind, (Float, Float) -> Float)] = [
            (.add, +), (.sub, -), (.mul, *), (.max, { max($0, $1) }), (.min, { min($0, $1) })
        ]
        for (kind, f) in kinds {
            for activation in [FusedActivation(), FusedActivation(.relu)] {
                for (bTile, bValues, bStride) in [(tb, b, plane), (tbApart, b, plane + gap)] {
                    for out in [denseOut, apartOut, rowsApart] {
                        let got = try Self.execute(
                            .eltwise(EltwiseOp(kind, a: ta, b: bTile, output: out, activation: activation)), sram: sram
                        ).sram
                        var expected = sram
                        for ch in 0..<channels {
                            for y in 0..<height {
                                for x in 0..<out.width {
                                    let v = f(a[ch * plane + y * width + x], bValues[ch * bStride + y * width + x])
                                    expected[outAt + ch * out.channelStride + y * out.rowStride + x] =
                                        Self.reference(activation, v)
                                }
                            }
                        }
                        #expect(got == expected, "\(kind) \(activation.kind) b \(bStride) out \(out.channelStride)")
                    }
                }
                let broadcast = try Self.execute(
                    .eltwise(
                        EltwiseOp(kind, a: ta, b: tc, output: denseOut, broadcast: .channel, activation: activation)),
                    sram: sram
                ).sram
                var expected = sram
                for i in 0..<words { expected[outAt + i] = Self.reference(activation, f(a[i], bc[i / plane])) }
                #expect(broadcast == expected, "\(kind) \(activation.kind) broadcast")
                let inPlace = try Self.execute(
                    .eltwise(EltwiseOp(kind, a: ta, b: tb, output: ta, activation: activation)), sram: sram
                ).sram
                expected = sram
                for i in 0..<words { expected[i] = Self.reference(activation, f(a[i], b[i])) }
                #expect(inPlace == expected, "\(kind) \(activation.kind) in place")
            }
        }
    }

    @Test func matmulAndCopy() throws {
        // a 2x3 (row stride 4), w 2x3, bias 2, out 2x2 accumulating onto 100s.
        let a: [Float] = [1, 2, 3, 0, 4, 5, 6, 0]
        let w: [Float] = [1, 0, -1, 2, 1, 0]
        let sram = a + w + [0.5, -0.5] + [100, 100, 100, 100]
        var op = MatMulOp(m: 2, n: 2, k: 3, aAddr: 0, weightAddr: 32, biasAddr: 56, outAddr: 64, accumulate: true)
        op.aRowStride = 4
        let out = try Self.execute(.matmul(op), sram: sram).sram
        // row 0: [1-3, 2+2] = [-2, 4]; row 1: [4-6, 8+5] = [-2, 13]; + bias + 100.
        #expect(Array(out[16...]) == [98.5, 103.5, 98.5, 112.5])

        // COPY a 2x3 block out of a 3x4 matrix, transposed by strides.
        let m: [Float] = (0..<12).map(Float.init)
        let copy = CopyOp(
            counts: [1, 1, 2, 3], srcAddr: 4 * 5, srcStrides: [0, 0, 4, 1], dstAddr: 48, dstStrides: [0, 0, 1, 2])
        let copied = try Self.execute(.copy(copy), sram: m + [Float](repeating: 0, count: 6)).sram
        #expect(Array(copied[12...]) == [5, 9, 6, 10, 7, 11])
    }

    @Test(arguments: [(1, 5, 37), (3, 2, 8), (2, 33, 70)]) func matmulMatchesReference(m: Int, n: Int, k: Int) throws {
        var rng = SeededRandom(seed: UInt64(m * 1000 + n * 10 + k))
        let ars = k + 3
        let sram = (0..<(m * ars + n * k + n + m * n)).map { _ in Float.random(in: -1...1, using: &rng) }
        var op = MatMulOp(
            m: m, n: n, k: k, aAddr: 0, weightAddr: 4 * m * ars, biasAddr: 4 * (m * ars + n * k),
            outAddr: 4 * (m * ars + n * k + n), activation: FusedActivation(.tanh))
        op.aRowStride = ars
        let got = try Self.execute(.matmul(op), sram: sram).sram
        var expected = sram
        for i in 0..<m {
            for j in 0..<n {
                var acc = sram[m * ars + n * k + j]
                for l in 0..<k { acc += sram[i * ars + l] * sram[m * ars + j * k + l] }
                expected[m * ars + n * k + n + i * n + j] = tanh(acc)
            }
        }
        #expect(Self.close(got, expected))
    }

    @Test func loadZeroFillsAndStoreWritesBack() throws {
        // DRAM tensor 2x3 at 0; load a 4x5 box from origin (-1, -1) into SRAM 0.
        let dram: [Float] = [1, 2, 3, 4, 5, 6] + [Float](repeating: 0, count: 6)
        let load = TransferOp(tensorAt: 0, shape: [2, 3], origin: [-1, -1], counts: [4, 5], sramAddr: 0)
        let loaded = try Self.execute(.load(load), sram: [Float](repeating: 9, count: 20), dram: dram).sram
        #expect(
            loaded == [
                0, 0, 0, 0, 0,
                0, 1, 2, 3, 0,
                0, 4, 5, 6, 0,
                0, 0, 0, 0, 0
            ])
        // Store the middle 2x3 of that SRAM box to DRAM at 24 (a 2x3 tensor).
        var store = TransferOp(tensorAt: 24, shape: [2, 3], origin: [0, 0], counts: [2, 3], sramAddr: 24)
        store.sramStrides = [0, 0, 5, 1]
        let stored = try Self.execute(.store(store), sram: loaded, dram: dram).dram
        #expect(Array(stored[6...]) == [1, 2, 3, 4, 5, 6])
    }

    @Test func hostSoftmaxAndLRN() throws {
        let x: [Float] = [1, 2, 3, 4, 0.5, -1]  // [outer 1][axis 3][inner 2]
        let soft = try Self.execute(
            .hostSoftmax(HostSoftmaxOp(src: 0, dst: 24, outer: 1, axis: 3, inner: 2)),
            sram: [0], dram: x + [Float](repeating: 0, count: 6)
        ).dram
        for i in 0..<2 {
            let column = [x[i], x[2 + i], x[4 + i]]
            let e = column.map { exp($0) }
            let s = e.reduce(0, +)
            #expect(Self.close([soft[6 + i], soft[8 + i], soft[10 + i]], e.map { $0 / s }))
        }
        // LRN over 3 channels, size 2: channel c sums c-0 ... c+1.
        let l = HostLRNOp(src: 0, dst: 24, n: 1, c: 3, spatial: 2, size: 2, alpha: 0.5, beta: 0.75, bias: 2)
        let lrn = try Self.execute(.hostLRN(l), sram: [0], dram: x + [Float](repeating: 0, count: 6)).dram
        var expected: [Float] = []
        for c in 0..<3 {
            for s in 0..<2 {
                let sum = (c...min(2, c + 1)).reduce(Float(0)) { $0 + x[$1 * 2 + s] * x[$1 * 2 + s] }
                expected.append(x[c * 2 + s] / pow(2 + 0.5 / 2 * sum, 0.75))
            }
        }
        #expect(Self.close(Array(lrn[6...]), expected))
    }

    /// LRN on strided (channel-major and row-major) tiles, odd and even
    /// channel counts and window sizes, out of place and in place, against
    /// the loops of docs/isa.md; dense tiles give HOST.LRN's bits exactly.
    @Test(arguments: 0..<24) func lrnMatchesReference(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) + 2000)
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        let (c, h, w) = (r(1...9), r(1...4), r(1...7))
        let size = [1, 3, 5, 2, 4, 11][seed % 6]
        let (alpha, beta, bias) = (Float(r(1...20)) * 0.05, Float(r(1...8)) * 0.125, Float(r(1...4)) * 0.5)
        let rowMajor = seed % 3 == 1, inPlace = seed % 4 == 3
        let input =
            rowMajor
            ? SRAMTile(addr: 0, channels: c, height: h, width: w, channelStride: w + 1, rowStride: c * (w + 1) + 2)
            : SRAMTile(addr: 0, channels: c, height: h, width: w, channelStride: h * (w + 2) + 1, rowStride: w + 2)
        let inWords = rowMajor ? h * input.rowStride : c * input.channelStride
        let output = inPlace ? input : SRAMTile(addr: 4 * inWords, channels: c, height: h, width: w)
        let sram = (0..<(inWords + c * h * w)).map { _ in Float.random(in: -3...3, using: &rng) }
        let op = LRNOp(input: input, output: output, size: size, alpha: alpha, beta: beta, bias: bias)
        #expect(Op.lrn(op).engine == .vector)
        let got = try Self.execute(.lrn(op), sram: sram).sram

        func at(_ t: SRAMTile, _ ch: Int, _ y: Int, _ x: Int) -> Int {
            t.addr / 4 + ch * t.channelStride + y * t.rowStride + x
        }
        var expected = sram
        var dense: [Float] = []
        for ch in 0..<c {
            for y in 0..<h {
                for x in 0..<w {
                    dense.append(sram[at(input, ch, y, x)])
                    var sum: Float = 0
                    for k in max(0, ch - (size - 1) / 2)...min(c - 1, ch + size / 2) {
                        sum += sram[at(input, k, y, x)] * sram[at(input, k, y, x)]
                    }
                    expected[at(output, ch, y, x)] =
                        sram[at(input, ch, y, x)] / pow(bias + alpha / Float(size) * sum, beta)
                }
            }
        }
        #expect(Self.close(got, expected), "c \(c) h \(h) w \(w) size \(size)")
        // HOST.LRN on the same values, dense in DRAM: identical bits.
        let host = HostLRNOp(
            src: 0, dst: 4 * dense.count, n: 1, c: c, spatial: h * w, size: size, alpha: alpha, beta: beta, bias: bias)
        let hostOut = try Self.execute(.hostLRN(host), sram: [0], dram: dense + dense).dram
        var tileOut: [Float] = []
        for ch in 0..<c { for y in 0..<h { for x in 0..<w { tileOut.append(got[at(output, ch, y, x)]) } } }
        #expect(Array(hostOut[dense.count...]) == tileOut)
    }

    /// An LRN large enough to be split over the cores by rows (output apart from the input): HOST.LRN's bits,
    /// every run.
    @Test func splitLRNMatchesHost() throws {
        let (c, h, w) = (64, 8, 28)
        let input = SRAMTile(addr: 0, channels: c, height: h, width: w, channelStride: w + 1, rowStride: c * (w + 1))
        let output = SRAMTile(addr: 4 * h * input.rowStride, channels: c, height: h, width: w)
        let sram = ExecutorFastPathTests.randomFloats(h * input.rowStride + c * h * w, seed: 77)
        let op = LRNOp(input: input, output: output, size: 5, alpha: 1e-4, beta: 0.75, bias: 2)
        var dense: [Float] = []
        for ch in 0..<c {
            for y in 0..<h { for x in 0..<w { dense.append(sram[ch * (w + 1) + y * input.rowStride + x]) } }
        }
        let host = HostLRNOp(
            src: 0, dst: 4 * dense.count, n: 1, c: c, spatial: h * w, size: 5, alpha: 1e-4, beta: 0.75, bias: 2)
        let hostOut = Array(try Self.execute(.hostLRN(host), sram: [0], dram: dense + dense).dram[dense.count...])
        for _ in 0..<3 {
            let got = try Self.execute(.lrn(op), sram: sram).sram
            #expect(Array(got[(output.addr / 4)...]) == hostOut)
        }
    }

    /// ONNX's resize_upsample_scales_nearest and resize_downsample_scales_nearest cases.
    @Test func hostResizeMatchesONNXExamples() throws {
        let up = HostResizeOp(
            src: 0, dst: 16, inDims: [1, 1, 2, 2], outDims: [1, 1, 4, 6], scales: [1, 1, 2, 3],
            coordinateMode: .halfPixel, nearestMode: .roundPreferFloor)
        let upOut = try Self.execute(.hostResize(up), sram: [0], dram: [1, 2, 3, 4] + [Float](repeating: 0, count: 24))
            .dram
        #expect(Array(upOut[4...]) == [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4])
        let down = HostResizeOp(
            src: 0, dst: 32, inDims: [1, 1, 2, 4], outDims: [1, 1, 1, 2], scales: [1, 1, 0.6, 0.6],
            coordinateMode: .halfPixel, nearestMode: .roundPreferFloor)
        let downOut = try Self.execute(.hostResize(down), sram: [0], dram: (1...8).map(Float.init) + [0, 0]).dram
        #expect(Array(downOut[8...]) == [1, 3])
        // align_corners and asymmetric/floor, by hand: in 3 -> out 5.
        #expect(
            (0..<5).map {
                ResizeAxis.nearestIndex($0, scale: 5.0 / 3, inLength: 3, outLength: 5, .alignCorners, .roundPreferCeil)
            }
                == [0, 1, 1, 2, 2])
        #expect(
            (0..<5).map { ResizeAxis.nearestIndex($0, scale: 5.0 / 3, inLength: 3, outLength: 5, .asymmetric, .floor) }
                == [0, 0, 1, 1, 2])
    }

    /// ONNX's resize_upsample_scales_linear, ..._align_corners and
    /// resize_downsample_scales_linear examples.
    @Test func hostLinearResizeMatchesONNXExamples() throws {
        func run(_ x: [Float], _ inDims: [Int], _ outDims: [Int], _ scales: [Float], _ mode: CoordinateMode) throws
            -> [Float]
        {
            let count = outDims.reduce(1, *)
            let op = HostResizeOp(
                src: 0, dst: 4 * x.count, inDims: inDims, outDims: outDims, scales: scales, coordinateMode: mode,
                nearestMode: .floor, mode: .linear)
            let out = try Self.execute(.hostResize(op), sram: [0], dram: x + [Float](repeating: 0, count: count)).dram
            return Array(out[x.count...])
        }
        func close(_ a: [Float], _ b: [Float]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 }
        }
        let up = try run([1, 2, 3, 4], [1, 1, 2, 2], [1, 1, 4, 4], [1, 1, 2, 2], .halfPixel)
        #expect(close(up, [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]), "\(up)")
        let corners = try run([1, 2, 3, 4], [1, 1, 2, 2], [1, 1, 4, 4], [1, 1, 2, 2], .alignCorners)
        let third: Float = 1.0 / 3
        let expected: [Float] = [
            1, 1 + third, 2 - third, 2, 2 - third, 2, 2 + third, 3 - third,
            2 + third, 3 - third, 3, 3 + third, 3, 3 + third, 4 - third, 4
        ]
        #expect(close(corners, expected), "\(corners)")
        let down = try run((1...8).map(Float.init), [1, 1, 2, 4], [1, 1, 1, 2], [1, 1, 0.6, 0.6], .halfPixel)
        #expect(close(down, [2.6666665, 4.3333331]), "\(down)")
    }

    /// The vector unit's RESIZE, tile by tile over bands of output rows,
    /// gives HOST.RESIZE's bits for every mode, upsampling and downsampling.
    static let resizeCases: [(CoordinateMode, NearestMode, ResizeMode, Float, Float)] = [
        (.halfPixel, .roundPreferFloor, .linear, 2, 3),
        (.alignCorners, .roundPreferCeil, .linear, 1.75, 0.6),
        (.asymmetric, .floor, .nearest, 2, 2),
        (.pytorchHalfPixel, .roundPreferCeil, .nearest, 0.5, 1.5),
        (.tfHalfPixelForNN, .roundPreferFloor, .nearest, 3, 1)
    ]

    @Test(arguments: resizeCases)
    func vectorResizeMatchesHost(
        coordinate: CoordinateMode, nearest: NearestMode, mode: ResizeMode, scaleH: Float, scaleW: Float
    ) throws {
        let (channels, inH, inW) = (3, 7, 6)
        let (outH, outW) = (Int(Float(inH) * scaleH), Int(Float(inW) * scaleW))
        var random = SeededRandom(seed: 11)
        let x = (0..<(channels * inH * inW)).map { _ in random.normal() }
        let host = HostResizeOp(
            src: 0, dst: 4 * x.count, inDims: [1, channels, inH, inW], outDims: [1, channels, outH, outW],
            scales: [1, 1, scaleH, scaleW], coordinateMode: coordinate, nearestMode: nearest, mode: mode)
        let expected = try Self.execute(
            .hostResize(host), sram: [0], dram: x + [Float](repeating: 0, count: channels * outH * outW)
        ).dram[x.count...]
        for band in [1, 2, 3] {
            var rows: [[Float]] = Array(repeating: [], count: channels)
            for y0 in stride(from: 0, to: outH, by: band) {
                let outRows = y0..<min(y0 + band, outH)
                var op = ResizeOp(
                    input: SRAMTile(), output: SRAMTile(), inRow: 0, outRow: y0, inHeight: inH, outHeight: outH,
                    scales: (scaleH, scaleW), coordinateMode: coordinate, nearestMode: nearest, mode: mode)
                let inRows = op.inputRows(outRows)
                op.inRow = inRows.lowerBound
                op.input = SRAMTile(addr: 0, channels: channels, height: inRows.count, width: inW)
                var tile: [Float] = []
                for c in 0..<channels {
                    for r in inRows {
                        let start = (c * inH + r) * inW
                        tile += x[start..<(start + inW)]
                    }
                }
                op.output = SRAMTile(addr: 4 * tile.count, channels: channels, height: outRows.count, width: outW)
                let sram = try Self.execute(
                    .resize(op), sram: tile + [Float](repeating: 0, count: op.output.elements)
                ).sram
                for c in 0..<channels {
                    let start = tile.count + c * outRows.count * outW
                    rows[c] += sram[start..<(start + outRows.count * outW)]
                }
            }
            let got = rows.flatMap { $0 }, want = Array(expected)
            let first = got.indices.first { $0 >= want.count || got[$0] != want[$0] }
            #expect(
                got == want, "bands of \(band) rows: first difference at \(String(describing: first)) of \(want.count)")
        }
    }

    @Test func hostTransposeAndReduceMean() throws {
        let x = (0..<24).map(Float.init)  // 2x3x4
        let t = HostTransposeOp(src: 0, dst: 96, dims: [1, 1, 1, 2, 3, 4], perm: [0, 1, 2, 5, 3, 4])  // -> 4x2x3
        let out = try Self.execute(.hostTranspose(t), sram: [0], dram: x + [Float](repeating: 0, count: 24)).dram
        var expected: [Float] = []
        for k in 0..<4 { for i in 0..<2 { for j in 0..<3 { expected.append(x[i * 12 + j * 4 + k]) } } }
        #expect(Array(out[24...]) == expected)
        let m = HostReduceMeanOp(src: 0, dst: 96, dims: [1, 1, 1, 2, 3, 4], axesMask: 1 << 4 | 1 << 5, keepDims: true)
        let mean = try Self.execute(.hostReduceMean(m), sram: [0], dram: x + [0, 0]).dram
        #expect(Array(mean[24...]) == [5.5, 17.5])
        let copy = CopyOp(
            counts: [1, 1, 2, 2], srcAddr: 4, srcStrides: [0, 0, 4, 1], dstAddr: 96, dstStrides: [0, 0, 2, 1])
        let copied = try Self.execute(.hostCopy(copy), sram: [0], dram: x + [0, 0, 0, 0]).dram
        #expect(Array(copied[24...]) == [1, 2, 5, 6])
    }

    /// The program with every opcode runs; timing-only stats equal the full run's.
    @Test func everyOpcodeProgramRuns() throws {
        let program = everyOpcodeProgram()
        let run = try runProgram(program, MutationFuzzTests.inputs)
        #expect(run.stats == run.timingOnly)
        #expect(Set(program.instructions.map(\.opcode)) == Set(Opcode.allCases))
        let x = MutationFuzzTests.inputs["x"]!.floats
        #expect(run.outputs["xcopy"] == x)
        #expect(abs(run.outputs["prob"]!.reduce(0, +) - 1) < 1e-5)
        #expect(run.outputs["mean"]!.count == 2)
        // LRN on the vector unit and HOST.LRN share their arithmetic: the same bits.
        #expect(run.outputs["lrn_tile"] == run.outputs["lrn"])
        #expect(run.stats.hostBusyCycles > 0 && run.stats.vectorBusyCycles > 0 && run.stats.matrixBusyCycles > 0)
    }

    /// The CONV loops of docs/isa.md on a word-addressed SRAM (`sram[i]` is byte address 4 i).
    static func referenceConv(_ op: ConvOp, sram: inout [Float]) {
        let (input, output) = (op.input, op.output), window = op.window
        let (kh, kw, sh, sw) = (op.kernelH, op.kernelW, op.strideH, op.strideW), (dh, dw) = (op.dilationH, op.dilationW)
        let cinG = input.channels / op.groups, coutG = output.channels / op.groups
        let (inBase, outBase) = (input.addr / 4, output.addr / 4)
        for co in 0..<output.channels {
            let group = co / coutG
            for y in 0..<output.height {
                for x in 0..<output.width {
                    let o = outBase + co * output.channelStride + y * output.rowStride + x
                    var acc: Float = op.accumulate ? sram[o] : 0
                    for c in 0..<cinG {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let (iy, ix) = (y * sh + ky * dh, x * sw + kx * dw)
                                let (ty, tx) = (window.originY + iy, window.originX + ix)
                                guard ty >= 0, ty < window.extentH, tx >= 0, tx < window.extentW else { continue }
                                let wv = sram[op.weightAddr / 4 + ((co * cinG + c) * kh + ky) * kw + kx]
                                acc +=
                                    wv
                                    * sram[
                                        inBase + (group * cinG + c) * input.channelStride + iy * input.rowStride + ix]
                            }
                        }
                    }
                    if op.hasBias { acc += sram[op.biasAddr / 4 + co] }
                    sram[o] = reference(op.activation, acc)
                }
            }
        }
    }
}
