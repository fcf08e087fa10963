// The timing model, and the counts the energy model prices. Every formula here
// is written out in docs/isa.md ("Timing", "Energy"); keep the two in step.
// Costs depend only on the instructions, never on data, so a timing-only run
// gives the same numbers as a full run.

/// The cost of one instruction on its engine.
public struct InstructionCost: Equatable, Sendable {
    /// Cycles the engine spends on it (for DMA: setup + data).
    public var cycles = 0
    /// DMA only: the part of `cycles` that occupies the shared DRAM channel.
    public var channelCycles = 0
    public var dramReadBytes = 0, dramWriteBytes = 0, dramWeightBytes = 0, dramActivationBytes = 0
    public var hostReadBytes = 0, hostWriteBytes = 0
    public var macs = 0
    /// SRAM bytes read and written (docs/isa.md, "Energy"): zero for host instructions.
    public var sramReadBytes = 0, sramWriteBytes = 0
    /// Elements the vector unit processes: what its cycles are counted from.
    public var vectorElements = 0
}

/// The quotient rounded up (b > 0, a >= 0).
@inline(__always) public func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }

/// The engines' cycle formulas, each written once. `cost(of:)` prices
/// instructions with them, and the compiler's estimates are sums of them,
/// so a plan is costed by the same arithmetic the executor times it with.
extension AcceleratorConfig {
    /// A LOAD or STORE whose contiguous runs, each rounded up to whole bursts, add up to `burstBytes`.
    @inlinable public func transferCycles(burstBytes: Int) -> Int {
        dmaSetupCycles + channelCycles(burstBytes: burstBytes)
    }

    /// The part of a transfer that occupies the shared DRAM channel.
    @inlinable public func channelCycles(burstBytes: Int) -> Int { ceilDiv(burstBytes, dramBytesPerCycle) }

    /// The matrix unit on `positions` output positions (times taps) of a
    /// convolution with these channels per group: one block of input lanes
    /// by one block of output lanes per cycle.
    @inlinable public func matrixCycles(inputChannels: Int, outputChannels: Int, groups: Int = 1, positions: Int) -> Int
    {
        ceilDiv(inputChannels, matrixInputLanes) * ceilDiv(outputChannels, matrixOutputLanes) * groups * positions
    }

    /// The vector unit on `elements` results (times taps, for windows and depthwise convolutions).
    @inlinable public func vectorCycles(elements: Int) -> Int { ceilDiv(elements, vectorLanes) }
}

extension AcceleratorConfig {
    /// The cost of a valid instruction (call `Program.validate()` first) in a
    /// program whose constants segment is [0, constantsBytes).
    public func cost(of instruction: Instruction, constantsBytes: Int) -> InstructionCost {
        var c = InstructionCost()
        switch instruction.operation {
        case .load(let t), .store(let t):
            let (requested, weight, burstBytes) = dramRunTotals(t, constantsBytes: constantsBytes)
            c.channelCycles = channelCycles(burstBytes: burstBytes)
            c.cycles = transferCycles(burstBytes: burstBytes)
            // The SRAM side of a transfer is every cell of the box, zero-filled ones included.
            if instruction.opcode == .load {
                c.dramReadBytes = requested
                c.sramWriteBytes = 4 * t.elements
            } else {
                c.dramWriteBytes = requested
                c.sramReadBytes = 4 * t.elements
            }
            c.dramWeightBytes = weight
            c.dramActivationBytes = requested - weight
        case .conv(let p):
            let cinG = p.input.channels / p.groups, coutG = p.output.channels / p.groups
            let positions = p.output.height * p.output.width * p.kernelH * p.kernelW
            c.macs = p.output.channels * cinG * positions
            if p.isDepthwise {
                vector(&c, elements: p.output.channels * positions)
            } else {
                c.cycles = matrixCycles(
                    inputChannels: cinG, outputChannels: coutG, groups: p.groups, positions: positions)
            }
            let weights = p.output.channels * cinG * p.kernelH * p.kernelW
            let bias = p.hasBias ? p.output.channels : 0, accumulated = p.accumulate ? p.output.elements : 0
            c.sramReadBytes = 4 * (p.input.elements + weights + bias + accumulated)
            c.sramWriteBytes = 4 * p.output.elements
        case .matmul(let p):
            c.macs = p.m * p.n * p.k
            c.cycles = matrixCycles(inputChannels: p.k, outputChannels: p.n, positions: p.m)
            c.sramReadBytes = 4 * (p.m * p.k + p.n * p.k + (p.hasBias ? p.n : 0) + (p.accumulate ? p.m * p.n : 0))
            c.sramWriteBytes = 4 * p.m * p.n
        case .pool(let p):
            vector(&c, elements: p.output.elements * p.kernelH * p.kernelW)
            (c.sramReadBytes, c.sramWriteBytes) = (4 * p.input.elements, 4 * p.output.elements)
        case .eltwise(let p):
            vector(&c, elements: p.output.elements)
            (c.sramReadBytes, c.sramWriteBytes) = (4 * (p.a.elements + p.b.elements), 4 * p.output.elements)
        case .act(let p):
            vector(&c, elements: p.output.elements)
            (c.sramReadBytes, c.sramWriteBytes) = (4 * p.input.elements, 4 * p.output.elements)
        case .lrn(let p):
            // One multiply-add per window channel per output, as the host's count.
            vector(&c, elements: p.output.elements * p.size)
            (c.sramReadBytes, c.sramWriteBytes) = (4 * p.input.elements, 4 * p.output.elements)
        case .resize(let p):
            // A copy per output (nearest), or four taps blended (bilinear).
            vector(&c, elements: p.output.elements * (p.mode == .linear ? 4 : 1))
            (c.sramReadBytes, c.sramWriteBytes) = (4 * p.input.elements, 4 * p.output.elements)
        case .copy(let p):
            vector(&c, elements: p.elements)
            (c.sramReadBytes, c.sramWriteBytes) = (4 * p.elements, 4 * p.elements)
        case .sync:
            c.cycles = 0
        case .hostCopy(let p):
            host(&c, work: p.elements, read: p.elements, written: p.elements)
        case .hostSoftmax(let p):
            let n = p.outer * p.axis * p.inner
            host(&c, work: 3 * n, read: n, written: n)
        case .hostLRN(let p):
            let n = p.n * p.c * p.spatial
            host(&c, work: n * p.size, read: n, written: n)
        case .hostResize(let p):
            // Linear blends two neighbours per resized axis.
            let out = p.outDims.reduce(1, *)
            let axes = (0..<4).filter { p.inDims[$0] != p.outDims[$0] || p.scales[$0] != 1 }.count
            host(&c, work: p.mode == .linear ? out << axes : out, read: p.inDims.reduce(1, *), written: out)
        case .hostTranspose(let p):
            let n = p.dims.reduce(1, *)
            host(&c, work: n, read: n, written: n)
        case .hostReduceMean(let p):
            let n = p.dims.reduce(1, *)
            let kept = (0..<hostRank).reduce(1) { p.axesMask & (1 << $1) != 0 ? $0 : $0 * p.dims[$1] }
            host(&c, work: n, read: n, written: kept)
        }
        return c
    }

    /// A transfer's DRAM runs summed: bytes asked for, those inside the
    /// constants segment [0, constantsBytes), and each run rounded up to whole
    /// bursts. A box of a row-major tensor (strides as `TransferOp(tensorAt:...)`
    /// sets them) is counted without walking its runs: below the outermost
    /// partial dimension the box is one run per step of the dimensions above,
    /// all of one length, and no two of them touch (their starts are distinct
    /// multiples of the stride above the partial dimension, which exceeds a
    /// run). Other transfers, and boxes that straddle the end of the
    /// constants, walk their runs (`dramRunTotalsByWalking`).
    func dramRunTotals(_ t: TransferOp, constantsBytes: Int) -> (requested: Int, weight: Int, burstBytes: Int) {
        let s = t.dramStrides, o = t.origin, extent = t.extent
        guard s.count == boxRank, s[3] == 1, s[2] == extent[3], s[1] == extent[2] * s[2], s[0] == extent[1] * s[1]
        else { return dramRunTotalsByWalking(t, constantsBytes: constantsBytes) }
        var lo = SIMD4<Int>(repeating: 0), hi = lo
        for d in 0..<boxRank {
            lo[d] = max(0, -o[d])
            hi[d] = min(t.counts[d], extent[d] - o[d])
            if hi[d] <= lo[d] { return (0, 0, 0) }
        }
        // The outermost dimension the runs cover only part of (as `forEachDRAMRun` finds it).
        var m = boxRank - 1
        while m > 0 && o[m] + lo[m] == 0 && o[m] + hi[m] == extent[m] { m -= 1 }
        var runs = 1, first = t.dramAddr + 4 * (o[m] + lo[m]) * s[m], last = first
        for d in 0..<m {
            runs *= hi[d] - lo[d]
            first += 4 * (o[d] + lo[d]) * s[d]
            last += 4 * (o[d] + hi[d] - 1) * s[d]
        }
        let length = 4 * (hi[m] - lo[m]) * s[m]
        let requested = runs * length
        let weight: Int
        if last + length <= constantsBytes {
            weight = requested
        } else if first >= constantsBytes {
            weight = 0
        } else {
            return dramRunTotalsByWalking(t, constantsBytes: constantsBytes)
        }
        return (requested, weight, runs * ceilDiv(length, dramBurstBytes) * dramBurstBytes)
    }

    /// `dramRunTotals` by walking every run (`forEachDRAMRun`): the definition.
    func dramRunTotalsByWalking(_ t: TransferOp, constantsBytes: Int) -> (
        requested: Int, weight: Int, burstBytes: Int
    ) {
        var requested = 0, weight = 0, burstBytes = 0
        forEachDRAMRun(t) { start, bytes in
            requested += bytes
            weight += max(0, min(start + bytes, constantsBytes) - start)
            burstBytes += ceilDiv(bytes, dramBurstBytes) * dramBurstBytes
        }
        return (requested, weight, burstBytes)
    }

    private func vector(_ c: inout InstructionCost, elements: Int) {
        c.cycles = vectorCycles(elements: elements)
        c.vectorElements = elements
    }

    private func host(_ c: inout InstructionCost, work: Int, read: Int, written: Int) {
        c.cycles = hostSetupCycles + ceilDiv(work, hostElementsPerCycle)
        c.hostReadBytes = 4 * read
        c.hostWriteBytes = 4 * written
    }
}

/// Calls `body(startByte, byteCount)` for each maximal contiguous DRAM run of a
/// transfer's in-bounds cells, in box order (dim 0 outermost). Consecutive cells
/// whose addresses follow each other merge into one run, across rows too.
public func forEachDRAMRun(_ t: TransferOp, _ body: (Int, Int) -> Void) {
    // SIMD4 rather than arrays: no allocation per transfer (boxRank is 4).
    var lo = SIMD4<Int>(repeating: 0), hi = lo
    for d in 0..<boxRank {
        lo[d] = max(0, -t.origin[d])
        hi[d] = min(t.counts[d], t.extent[d] - t.origin[d])
        if hi[d] <= lo[d] { return }
    }
    var runStart = 0, runEnd = -1
    func emit(_ start: Int, _ bytes: Int) {
        if start == runEnd {
            runEnd += bytes
        } else {
            if runEnd >= 0 { body(runStart, runEnd - runStart) }
            (runStart, runEnd) = (start, start + bytes)
        }
    }
    let s = t.dramStrides, o = t.origin
    if s[3] == 1 {
        // Dims inside `m` are whole and dense, so each step of the dims outside
        // it is one contiguous range (the same runs, found without walking rows).
        var m = boxRank - 1
        while m > 0 && o[m] + lo[m] == 0 && o[m] + hi[m] == t.extent[m] && s[m - 1] == t.extent[m] * s[m] { m -= 1 }
        func walk(_ d: Int, _ base: Int) {
            if d == m {
                emit(base + 4 * (o[m] + lo[m]) * s[m], 4 * (hi[m] - lo[m]) * s[m])
                return
            }
            for i in lo[d]..<hi[d] { walk(d + 1, base + 4 * (o[d] + i) * s[d]) }
        }
        walk(0, t.dramAddr)
    } else {
        for i0 in lo[0]..<hi[0] {
            for i1 in lo[1]..<hi[1] {
                for i2 in lo[2]..<hi[2] {
                    let row = t.dramAddr + 4 * ((o[0] + i0) * s[0] + (o[1] + i1) * s[1] + (o[2] + i2) * s[2])
                    for i3 in lo[3]..<hi[3] { emit(row + 4 * (o[3] + i3) * s[3], 4) }
                }
            }
        }
    }
    if runEnd >= 0 { body(runStart, runEnd - runStart) }
}

/// Start and end cycle of each instruction.
public struct InstructionTiming: Equatable, Sendable {
    public var start: Int
    public var end: Int
}

extension Program {
    /// Runs the timing model over a valid program (see docs/isa.md, "Timing").
    /// Instructions are taken in program order; each starts when its engine is
    /// free and its tokens have arrived; a DMA's data phase also waits for the
    /// DRAM channel, which serves transfers in program order.
    public func timing(summary: ProgramSummary) -> (stats: ExecutionStats, schedule: [InstructionTiming]) {
        let result = config.schedule(instructions, constantsBytes: constants.count)
        var stats = result.stats
        stats.sramPeakBytes = summary.sramPeakBytes
        stats.dramCompulsoryBytes = constantWordsLoaded() * 4 + tensors.reduce(0) { $0 + $1.byteCount }
        stats.instructions = instructions.count
        return (stats, result.schedule)
    }

    /// How many distinct 4-byte words of the constants segment LOADs read
    /// (every weight once; alignment padding and unused constants excluded).
    func constantWordsLoaded() -> Int {
        let words = (constants.count + 3) / 4
        // Word ranges the LOADs read in the constants segment, merged. Tiled weight loads read strided
        // runs that neighbours only later join up, so the list is sorted and merged whenever it doubles:
        // it stays the size of the merged set (ResNet-50's fused program held 6 MiB of runs otherwise).
        var ranges: [Range<Int>] = []
        var mergeAt = 1024
        for instruction in instructions {
            if ranges.count >= mergeAt {
                ranges = Self.merged(ranges)
                mergeAt = max(1024, 2 * ranges.count)
            }
            // Every cell a LOAD reads lies at or after its DRAM address.
            guard case .load(let t) = instruction.operation, t.dramAddr / 4 < words else { continue }
            forEachDRAMRun(t) { start, bytes in
                let first = start / 4, end = min(words, (start + bytes) / 4)
                guard first < end else { return }
                // Runs mostly follow each other: grow the last range rather than add one.
                if let last = ranges.last, last.lowerBound <= first, first <= last.upperBound {
                    ranges[ranges.count - 1] = last.lowerBound..<max(last.upperBound, end)
                } else {
                    ranges.append(first..<end)
                }
            }
        }
        return Self.merged(ranges).reduce(0) { $0 + $1.count }
    }

    /// `ranges` sorted, with overlapping and touching ranges joined: the same set of words.
    static func merged(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) where !range.isEmpty {
            if let last = result.last, range.lowerBound <= last.upperBound {
                result[result.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }
}

extension AcceleratorConfig {
    /// The schedule of an instruction sequence under the timing model: the
    /// core of `Program.timing`, also used by the compiler to cost a piece of
    /// a program before the program exists. The instructions should follow
    /// the token protocol (docs/isa.md, section 2).
    public func schedule(_ instructions: [Instruction], constantsBytes: Int) -> (
        stats: ExecutionStats, schedule: [InstructionTiming]
    ) {
        let n = Engine.allCases.count
        var clock = TimingClock(config: self)
        var queues = [[Int]](repeating: [], count: n * n)  // token arrival cycles, FIFO
        var heads = [Int](repeating: 0, count: n * n)
        var schedule: [InstructionTiming] = []
        schedule.reserveCapacity(instructions.count)
        for instruction in instructions {
            let e = instruction.engine.index
            var ready = 0
            // Engines by bit, not `EngineSet.engines`: no array per instruction.
            for w in 0..<n where instruction.wait.rawValue & (1 << w) != 0 {
                let q = w * n + e
                // A missing token (never in a validated program) delays nothing.
                if heads[q] < queues[q].count { ready = max(ready, queues[q][heads[q]]) }
                heads[q] += 1
            }
            let timing = clock.add(
                engine: instruction.engine, transfer: instruction.opcode == .load || instruction.opcode == .store,
                cost: cost(of: instruction, constantsBytes: constantsBytes), ready: ready)
            for s in 0..<n where instruction.signal.rawValue & (1 << s) != 0 { queues[e * n + s].append(timing.end) }
            schedule.append(timing)
        }
        return (clock.stats, schedule)
    }
}

/// The engines, the DRAM channel and the counts of the timing model as
/// instructions are taken in program order: what `schedule` steps through,
/// and what a caller that knows when each instruction's tokens arrive (the
/// compiler's sequencer, which places them) steps through without keeping
/// the instructions.
public struct TimingClock: Sendable {
    public let config: AcceleratorConfig
    private var engineFree = [Int](repeating: 0, count: Engine.allCases.count)
    private var channelFree = 0
    private var counts = ExecutionStats()

    public init(config: AcceleratorConfig) { self.config = config }

    /// Takes the next instruction, which runs on `engine` (a LOAD or STORE
    /// when `transfer`), costs `cost` and whose tokens have all arrived by
    /// cycle `ready`: it starts when its engine is free and they have; a
    /// transfer's data phase also waits for the DRAM channel.
    public mutating func add(engine: Engine, transfer: Bool, cost: InstructionCost, ready: Int) -> InstructionTiming {
        let e = engine.index
        let start = max(engineFree[e], ready)
        var end = start + cost.cycles
        if transfer {
            let dataStart = max(start + config.dmaSetupCycles, channelFree)
            end = dataStart + cost.channelCycles
            channelFree = end
            counts.dramChannelBusyCycles += cost.channelCycles
        }
        engineFree[e] = end
        counts.cycles = max(counts.cycles, end)
        counts.addBusy(engine, cost.cycles)
        counts.dramReadBytes += cost.dramReadBytes
        counts.dramWriteBytes += cost.dramWriteBytes
        counts.dramWeightBytes += cost.dramWeightBytes
        counts.dramActivationBytes += cost.dramActivationBytes
        counts.hostReadBytes += cost.hostReadBytes
        counts.hostWriteBytes += cost.hostWriteBytes
        counts.macs += cost.macs
        counts.sramReadBytes += cost.sramReadBytes
        counts.sramWriteBytes += cost.sramWriteBytes
        counts.vectorElements += cost.vectorElements
        return InstructionTiming(start: start, end: end)
    }

    /// When each engine (by raw value) and the DRAM channel are next free, and the counts so far: what a
    /// caller that knows a run of instructions repeats (the compiler's scratch sequencer) moves ahead.
    public var position: (engineFree: [Int], channelFree: Int, counts: ExecutionStats) {
        get { (engineFree, channelFree, counts) }
        set { (engineFree, channelFree, counts) = newValue }
    }

    /// The counts so far, with the energy they cost.
    public var stats: ExecutionStats {
        var stats = counts
        stats.energy = config.energy.breakdown(
            dramBytes: stats.dramReadBytes + stats.dramWriteBytes, sramReadBytes: stats.sramReadBytes,
            sramWriteBytes: stats.sramWriteBytes, macs: stats.macs, vectorElements: stats.vectorElements)
        return stats
    }
}
