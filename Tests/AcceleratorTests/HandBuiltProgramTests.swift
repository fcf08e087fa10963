import Foundation
import Tensors
import Testing
@testable import Accelerator

/// Programs built by hand whose outputs and cycle counts are worked out by hand
/// (df1: DMA setup 100, 32 B/cycle, 64 B bursts, 32x32 matrix unit, 64 lanes).
@Suite struct HandBuiltProgramTests {
    /// The example of docs/isa.md: a 3x3 conv, pad 1, bias 0.5, relu, on a
    /// 1x1x4x4 input holding 1...16, all weights 1.
    static func conv3x3Program() -> Program {
        var b = ProgramBuilder()
        let weights = b.addConstant([Float](repeating: 1, count: 9))  // DRAM [0, 36)
        let bias = b.addConstant([0.5])  // DRAM [64, 68)
        let x = b.addInput("x", shape: [1, 1, 4, 4])  // DRAM [128, 192)
        let y = b.addOutput("y", shape: [1, 1, 4, 4])  // DRAM [192, 256)
        let (sw, sb, sx, sy) = (0, 64, 128, 320)  // SRAM addresses
        b.emit(
            .load(TransferOp(tensorAt: weights, shape: [9], origin: [0], counts: [9], sramAddr: sw)), nodes: ["conv"])
        b.emit(.load(TransferOp(tensorAt: bias, shape: [1], origin: [0], counts: [1], sramAddr: sb)), nodes: ["conv"])
        // Rows and columns -1 and 4 are zero-filled: the padded input, 6x6.
        b.emit(
            .load(
                TransferOp(tensorAt: x, shape: [1, 1, 4, 4], origin: [0, 0, -1, -1], counts: [1, 1, 6, 6], sramAddr: sx)
            ),
            signal: .matrix, nodes: ["conv"])
        b.emit(
            .conv(
                ConvOp(
                    input: SRAMTile(addr: sx, channels: 1, height: 6, width: 6),
                    output: SRAMTile(addr: sy, channels: 1, height: 4, width: 4),
                    weightAddr: sw, biasAddr: sb, kernel: (3, 3), activation: .relu)),
            wait: .load, signal: .store, nodes: ["conv", "relu"])
        b.emit(
            .store(
                TransferOp(tensorAt: y, shape: [1, 1, 4, 4], origin: [0, 0, 0, 0], counts: [1, 1, 4, 4], sramAddr: sy)),
            wait: .matrix, nodes: ["relu"])
        return b.build()
    }

    @Test func conv3x3OutputsAndCycles() throws {
        let program = Self.conv3x3Program()
        let run = try runProgram(program, ["x": Tensor(shape: [1, 1, 4, 4], floats: floats(1...16))])
        // Sums of each 3x3 neighbourhood of
        //    1  2  3  4
        //    5  6  7  8
        //    9 10 11 12
        //   13 14 15 16
        // plus the bias 0.5.
        let sums: [Float] = [14, 24, 30, 22, 33, 54, 63, 45, 57, 90, 99, 69, 46, 72, 78, 54]
        #expect(run.outputs["y"] == sums.map { $0 + 0.5 })
        // load weights: 36 B = 1 burst = 64 B = 2 cycles; starts 0, data 100..102.
        // load bias: 4 B = 1 burst, 2 cycles; starts 102, data 202..204.
        // load x: rows 0..3 of x are [128,144),[144,160),... one 64 B run, 2 cycles;
        //   starts 204, data 304..306, signals matrix at 306.
        // conv: ceil(1/32)*ceil(1/32)*1 group*4*4 outputs*3*3 taps = 144 cycles, 306..450.
        // store y: 64 B, 1 burst, 2 cycles; starts 450, data 550..552.
        #expect(run.schedule.map(\.end) == [102, 204, 306, 450, 552])
        #expect(run.stats.cycles == 552)
        #expect(run.stats.loadBusyCycles == 306)
        #expect(run.stats.matrixBusyCycles == 144)
        #expect(run.stats.storeBusyCycles == 102)
        #expect(run.stats.vectorBusyCycles == 0)
        #expect(run.stats.dramChannelBusyCycles == 8)
        #expect(run.stats.dramReadBytes == 36 + 4 + 64)
        #expect(run.stats.dramWriteBytes == 64)
        #expect(run.stats.dramWeightBytes == 40)
        #expect(run.stats.dramActivationBytes == 64 + 64)
        #expect(run.stats.macs == 144)
        #expect(run.stats.sramPeakBytes == 384)  // y at [320, 384)
        #expect(run.stats.dramCompulsoryBytes == 40 + 64 + 64)  // weights and bias (not the padding), x, y
        #expect(run.timingOnly == run.stats)
    }

    /// Two tiles of 512 values, double-buffered: load, relu in place, store.
    static func doubleBufferedProgram() -> Program {
        var b = ProgramBuilder()
        let x = b.addInput("x", shape: [2, 512])
        let y = b.addOutput("y", shape: [2, 512])
        let buffers = [0, 2048]
        for t in 0..<2 {
            b.emit(
                .load(TransferOp(tensorAt: x, shape: [2, 512], origin: [t, 0], counts: [1, 512], sramAddr: buffers[t])),
                signal: .vector)
        }
        for t in 0..<2 {
            let tile = SRAMTile(addr: buffers[t], channels: 1, height: 1, width: 512)
            b.emit(.act(ActOp(input: tile, output: tile, activation: .relu)), wait: .load, signal: .store)
            b.emit(
                .store(
                    TransferOp(tensorAt: y, shape: [2, 512], origin: [t, 0], counts: [1, 512], sramAddr: buffers[t])),
                wait: .vector)
        }
        return b.build()
    }

    @Test func doubleBufferingOverlaps() throws {
        let program = Self.doubleBufferedProgram()
        let input = (0..<1024).map { Float($0 % 7) - 3 }
        let run = try runProgram(program, ["x": Tensor(shape: [2, 512], floats: input)])
        #expect(run.outputs["y"] == input.map { max(0, $0) })
        // A tile is 2048 B = 32 bursts = 64 channel cycles; DMA = 164 cycles; relu = 512/64 = 8.
        // 0 load t0:   start 0,   data 100..164
        // 1 load t1:   start 164, data 264..328
        // 2 act t0:    start 164 (token), end 172
        // 3 store t0:  start 172, setup to 272, channel busy until 328, data 328..392
        // 4 act t1:    start 328 (token), end 336
        // 5 store t1:  start 392 (engine), data 492..556
        // Serially it would take 2 * (164 + 8 + 164) = 672 cycles.
        #expect(
            run.schedule
                == [(0, 164), (164, 328), (164, 172), (172, 392), (328, 336), (392, 556)]
                .map { InstructionTiming(start: $0.0, end: $0.1) })
        #expect(run.stats.cycles == 556)
        #expect(run.stats.loadBusyCycles == 328)
        #expect(run.stats.vectorBusyCycles == 16)
        #expect(run.stats.storeBusyCycles == 328)
        #expect(run.stats.dramChannelBusyCycles == 256)
        #expect(run.stats.dramReadBytes == 4096 && run.stats.dramWriteBytes == 4096)
        #expect(run.stats.dramWeightBytes == 0 && run.stats.dramActivationBytes == 8192)
        #expect(run.timingOnly == run.stats)
    }

    /// Bursts: a strided load of 3 separate 8-byte runs costs 3 bursts.
    @Test func burstRounding() throws {
        var b = ProgramBuilder()
        let x = b.addInput("x", shape: [3, 16])
        let y = b.addOutput("y", shape: [3, 2])
        b.emit(
            .load(TransferOp(tensorAt: x, shape: [3, 16], origin: [0, 0], counts: [3, 2], sramAddr: 0)), signal: .store)
        b.emit(.store(TransferOp(tensorAt: y, shape: [3, 2], origin: [0, 0], counts: [3, 2], sramAddr: 0)), wait: .load)
        let run = try runProgram(b.build(), ["x": Tensor(shape: [3, 16], floats: floats(0...47))])
        #expect(run.outputs["y"] == [0, 1, 16, 17, 32, 33])
        // load: 3 runs of 8 B -> 3 bursts = 192 B = 6 cycles: 0..106.
        // store: one 24 B run -> 1 burst = 2 cycles: 106, data 206..208.
        #expect(run.stats.cycles == 208)
        #expect(run.stats.dramReadBytes == 24 && run.stats.dramWriteBytes == 24)
    }

    @Test func deadlockIsRejected() throws {
        var b = ProgramBuilder()
        let tile = SRAMTile(addr: 0, channels: 1, height: 1, width: 4)
        // The vector engine waits for the store engine, which waits for the vector engine.
        b.emit(.act(ActOp(input: tile, output: tile, activation: .relu)), wait: .store, signal: .store)
        b.emit(.sync(SyncOp(on: .store)), wait: .vector, signal: .vector)
        let error = #expect(throws: ProgramError.self) { try b.build().validate() }
        #expect(error?.message.contains("deadlock") == true)
    }

    /// A row-major tile ([row][channel][col]): a LOAD scatters an NCHW tensor
    /// into it, an ELTWISE reads it, a STORE gathers it back; a tile whose
    /// strides make two cells share a word is rejected.
    @Test func rowMajorTiles() throws {
        var b = ProgramBuilder()
        let x = b.addInput("x", shape: [1, 2, 3, 4])
        let y = b.addOutput("y", shape: [1, 2, 3, 4])
        // Row r of channel c at word r*8 + c*4: channel stride 4, row stride 8.
        let tile = SRAMTile(addr: 0, channels: 2, height: 3, width: 4, channelStride: 4, rowStride: 8)
        var load = TransferOp(tensorAt: x, shape: [1, 2, 3, 4], origin: [0, 0, 0, 0], counts: [1, 2, 3, 4], sramAddr: 0)
        load.sramStrides = [0, 4, 8, 1]
        b.emit(.load(load), signal: .vector)
        b.emit(.eltwise(EltwiseOp(.add, a: tile, b: tile, output: tile)), wait: .load, signal: .store)
        var store = TransferOp(
            tensorAt: y, shape: [1, 2, 3, 4], origin: [0, 0, 0, 0], counts: [1, 2, 3, 4], sramAddr: 0)
        store.sramStrides = [0, 4, 8, 1]
        b.emit(.store(store), wait: .vector)
        let run = try runProgram(b.build(), ["x": Tensor(shape: [1, 2, 3, 4], floats: floats(1...24))])
        #expect(run.outputs["y"] == floats(1...24).map { 2 * $0 })

        var bad = ProgramBuilder()
        let overlapping = SRAMTile(addr: 0, channels: 2, height: 3, width: 4, channelStride: 4, rowStride: 4)
        bad.emit(.act(ActOp(input: overlapping, output: overlapping, activation: .relu)))
        let error = #expect(throws: ProgramError.self) { try bad.build().validate() }
        #expect(error?.message.contains("overlaps itself") == true)
    }

    @Test func unconsumedTokenIsRejected() throws {
        var b = ProgramBuilder()
        b.emit(.sync(SyncOp(on: .load)), signal: .vector)
        let error = #expect(throws: ProgramError.self) { try b.build().validate() }
        #expect(error?.message.contains("never consumed") == true)
    }

    @Test func racesAreRejected() throws {
        let a = SRAMTile(addr: 0, channels: 1, height: 1, width: 16)
        func program(_ build: (inout ProgramBuilder, Int, Int) -> Void) -> Program {
            var b = ProgramBuilder()
            let x = b.addInput("x", shape: [16])
            let y = b.addOutput("y", shape: [16])
            build(&b, x, y)
            return b.build()
        }
        func load(_ x: Int) -> Op {
            .load(TransferOp(tensorAt: x, shape: [16], origin: [0], counts: [16], sramAddr: 0))
        }
        func store(_ y: Int) -> Op {
            .store(TransferOp(tensorAt: y, shape: [16], origin: [0], counts: [16], sramAddr: 0))
        }
        let relu = Op.act(ActOp(input: a, output: a, activation: .relu))
        let cases: [(Program, String)] = [
            // The relu reads what the load writes, with no token.
            (
                program { b, x, _ in
                    b.emit(load(x)); b.emit(relu)
                },
                "race: instruction 1 (act@vector) uses SRAM byte 0, which instruction 0 (load@load) writes"
            ),
            // The second load overwrites the buffer the relu still uses.
            (
                program { b, x, _ in
                    b.emit(load(x), signal: .vector); b.emit(relu, wait: .load); b.emit(load(x))
                },
                "race: instruction 2 (load@load) uses SRAM byte 0, which instruction 1 (act@vector) writes"
            ),
            // Write after read: the load overwrites what the eltwise only reads.
            (
                program { b, x, _ in
                    b.emit(load(x), signal: .vector)
                    b.emit(
                        .eltwise(
                            EltwiseOp(.add, a: a, b: a, output: SRAMTile(addr: 64, channels: 1, height: 1, width: 16))),
                        wait: .load)
                    b.emit(load(x))
                },
                "race: instruction 2 (load@load) uses SRAM byte 0, which instruction 1 (eltwise@vector) reads"
            ),
            // The host reads a DRAM tensor the store writes, with no token.
            (
                program { b, x, y in
                    b.emit(load(x), signal: .store); b.emit(store(y), wait: .load)
                    b.emit(.hostSoftmax(HostSoftmaxOp(src: y, dst: x, outer: 1, axis: 16, inner: 1)))
                },
                "race: instruction 2 (host.softmax@host) uses DRAM byte 64, which instruction 1 (store@store) writes"
            )
        ]
        for (p, message) in cases {
            try p.validate()
            let error = #expect(throws: ProgramError.self) { try p.checkHazards() }
            #expect(error?.message.hasPrefix("invalid program: " + message) == true, "\(error?.message ?? "")")
            let run = try Executor.run(
                p, inputs: ["x": Tensor(shape: [16], floats: floats(1...16))],
                options: ExecutionOptions(checkHazards: false))
            #expect(run.stats.instructions == p.instructions.count)
        }
        // Ordered through a chain: load -> matrix (sync) -> vector.
        let chained = program { b, x, y in
            b.emit(load(x), signal: .matrix)
            b.emit(.sync(SyncOp(on: .matrix)), wait: .load, signal: .vector)
            b.emit(relu, wait: .matrix, signal: .store)
            b.emit(store(y), wait: .vector)
        }
        let run = try runProgram(chained, ["x": Tensor(shape: [16], floats: (0..<16).map { Float($0) - 8 })])
        #expect(run.outputs["y"] == (0..<16).map { max(0, Float($0) - 8) })
    }

    /// The program `build` writes (after a 4-value constant at `w`) is rejected with a message containing `text`.
    static func rejects(_ build: (inout ProgramBuilder, Int) -> Void, _ text: String) {
        var b = ProgramBuilder()
        let w = b.addConstant([1, 2, 3, 4])
        build(&b, w)
        let error = #expect(throws: ProgramError.self) { try b.build().validate() }
        #expect(error?.message.contains(text) == true, "\(error?.message ?? "")")
    }

    @Test func outOfRangeAccessesAreRejected() throws {
        let sram = AcceleratorConfig.df1.sramBytes
        Self.rejects(
            { b, w in
                b.emit(.load(TransferOp(tensorAt: w, shape: [4], origin: [0], counts: [4], sramAddr: sram - 8)))
            }, "SRAM")
        Self.rejects(
            { b, w in
                b.emit(.load(TransferOp(tensorAt: w, shape: [4000], origin: [0], counts: [4000], sramAddr: 0)))
            }, "DRAM")
        Self.rejects(
            { b, w in
                b.emit(.store(TransferOp(tensorAt: w, shape: [4], origin: [0], counts: [4], sramAddr: 0)))
            }, "constants")
        Self.rejects(
            { b, w in
                let t = SRAMTile(addr: 0, channels: 1, height: 1, width: 4)
                b.emit(
                    .act(
                        ActOp(input: t, output: SRAMTile(addr: 8, channels: 1, height: 1, width: 4), activation: .relu))
                )
            }, "overlaps")
        Self.rejects(
            { b, _ in
                let t = SRAMTile(addr: 0, channels: 1, height: 5, width: 5)
                b.emit(
                    .conv(
                        ConvOp(
                            input: t, output: SRAMTile(addr: 400, channels: 1, height: 2, width: 3),
                            weightAddr: 800, kernel: (3, 3))))
            }, "output height is 2, the window gives 3")
        Self.rejects(
            { b, _ in
                var op = ActOp(
                    input: SRAMTile(addr: 0, channels: 1, height: 1, width: 4),
                    output: SRAMTile(addr: 0, channels: 1, height: 1, width: 4), activation: .relu)
                op.input.addr = -4
                b.emit(.act(op))
            }, "does not fit u32")
    }

    @Test func lrnOperandsAreChecked() throws {
        let tile = SRAMTile(addr: 0, channels: 3, height: 2, width: 4)
        func lrn(_ edit: (inout LRNOp) -> Void) -> (inout ProgramBuilder, Int) -> Void {
            var op = LRNOp(
                input: tile, output: SRAMTile(addr: 4 * tile.elements, channels: 3, height: 2, width: 4), size: 5,
                alpha: 1e-4, beta: 0.75, bias: 1)
            edit(&op)
            return { [op] b, _ in b.emit(.lrn(op)) }
        }
        var valid = ProgramBuilder()
        lrn { $0.output = tile }(&valid, 0)
        lrn { _ in }(&valid, 0)
        #expect(throws: Never.self) { try valid.build().validate() }
        Self.rejects(lrn { $0.size = 0 }, "LRN size must be >= 1, got 0")
        Self.rejects(lrn { $0.size = 1 << 16 }, "does not fit u16")
        Self.rejects(lrn { $0.beta = .nan }, "LRN beta nan is not finite")
        Self.rejects(lrn { $0.alpha = .infinity }, "LRN alpha inf is not finite")
        Self.rejects(lrn { $0.output.addr = 16 }, "overlaps")
        Self.rejects(lrn { $0.output.height = 1 }, "input is 3x2x4 but output is 3x1x4")
        Self.rejects(lrn { $0.output.addr = AcceleratorConfig.df1.sramBytes - 16 }, "SRAM")
    }

    @Test func inputsAreChecked() throws {
        let program = Self.conv3x3Program()
        let missing = #expect(throws: ProgramError.self) { try Executor.run(program, inputs: [:]) }
        #expect(missing?.message == "missing input 'x' (f32 1x1x4x4)")
        let shape = #expect(throws: ProgramError.self) {
            try Executor.run(program, inputs: ["x": Tensor(shape: [1, 1, 4, 5], floats: floats(1...20))])
        }
        #expect(shape?.message == "input 'x': expected shape 1x1x4x4, got 1x1x4x5; axis 3 is 5, not 4")
        let channelsLast = #expect(throws: ProgramError.self) {
            try Executor.run(program, inputs: ["x": Tensor(shape: [1, 4, 4, 1], floats: floats(1...16))])
        }
        #expect(
            channelsLast?.message
                == "input 'x': expected shape 1x1x4x4, got 1x4x4x1; axis 1 is 4, not 1, axis 3 is 1, not 4: the same dims in another order (channels last?)"
        )
        let dtype = #expect(throws: ProgramError.self) {
            try Executor.run(program, inputs: ["x": Tensor(shape: [1, 1, 4, 4], ints: (1...16).map(Int64.init))])
        }
        #expect(dtype?.message == "input 'x': expected dtype f32, got i64")
        // Timing-only runs need no inputs and give the same stats.
        let timing = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true))
        #expect(timing.stats.cycles == 552)
    }

    /// The worked example in docs/isa.md states the numbers the executor gives.
    @Test func documentedExampleMatches() throws {
        let doc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/isa.md"), encoding: .utf8)
        let program = Self.conv3x3Program()
        let stats = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
        #expect(doc.contains("total: \(stats.cycles) cycles"))
        #expect(doc.contains("dram_read_bytes = \(stats.dramReadBytes)"))
        #expect(doc.contains("dram_weight_bytes = \(stats.dramWeightBytes)"))
        #expect(doc.contains("macs = \(stats.macs)"))
        #expect(doc.contains("sram_read_bytes = \(stats.sramReadBytes)"))
        #expect(doc.contains("sram_write_bytes = \(stats.sramWriteBytes)"))
        #expect(doc.contains("energy_fj = \(stats.energyFemtojoules)"))
        // Every line of the example's disassembly appears verbatim in the document.
        for line in program.disassembly().split(separator: "\n") where !line.hasPrefix(";") {
            #expect(doc.contains(line), "docs/isa.md lacks: \(line)")
        }
    }
}
