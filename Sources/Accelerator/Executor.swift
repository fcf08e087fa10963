import Foundation
import Synchronization
import Tensors

// Runs a program: validate everything first, then the timing model, then
// (unless timing-only) the functional model in program order. Program order is
// one schedule the tokens allow (the validator checks this), so the functional
// results are those of any token-respecting execution of a race-free program.

public struct ExecutionOptions: Sendable {
    /// Skip the arithmetic; the stats are identical to a full run.
    public var timingOnly = false
    /// Reject programs whose total work (MACs and element operations) exceeds
    /// this, before running anything. nil: no limit.
    public var maxWork: Int? = nil
    /// Reject programs in which two engines touch the same memory word (one
    /// writing) without a token chain ordering them (`Program.checkHazards()`).
    public var checkHazards = true
    public init(timingOnly: Bool = false, maxWork: Int? = nil, checkHazards: Bool = true) {
        (self.timingOnly, self.maxWork, self.checkHazards) = (timingOnly, maxWork, checkHazards)
    }
}

public struct ExecutionResult: Sendable {
    /// Output tensors by name (empty for a timing-only run).
    public var outputs: [String: Tensor]
    public var stats: ExecutionStats
    /// Start and end cycle of every instruction.
    public var schedule: [InstructionTiming]
}

public enum Executor {
    /// Validates and runs `program`. Inputs are checked against the tensor table
    /// (names, shapes, dtypes); in a timing-only run they may be omitted.
    public static func run(
        _ program: Program, inputs: [String: Tensor],
        options: ExecutionOptions = ExecutionOptions()
    ) throws -> ExecutionResult {
        var phases = PhaseTimes()
        return try run(program, inputs: inputs, options: options, phases: &phases)
    }

    /// `run`, timed: "validate", "hazard check", "timing" (what of the timing model has not finished
    /// during the hazard check) and "run" (the arithmetic, after the memories' first touch).
    public static func run(
        _ program: Program, inputs: [String: Tensor], options: ExecutionOptions, phases: inout PhaseTimes
    ) throws -> ExecutionResult {
        _ = GEMM.singleThreaded  // stops OpenBLAS's idle threads before they take a core from the checks
        let summary = try phases.measure("validate") { try program.validate() }
        if let limit = options.maxWork, summary.work > limit {
            throw ProgramError("program needs \(summary.work) element operations, over the limit of \(limit)")
        }
        // The hazard check uses one core. On the other meanwhile: the memories' first touch (the kernel
        // zeroing every page the arithmetic writes, 9% of a single-core run of ResNet-50), and the timing
        // model, which shares nothing with the checks or the arithmetic but the program (started here,
        // it no longer takes a core from the arithmetic's split products).
        let memories = options.timingOnly ? nil : Memories()
        let touched = memories.map { memories in
            Pending {
                InstructionProfile.timed("memories") {
                    memories.prepare(program)
                    memories.touch()
                }
            }
        }
        let timing = Pending { InstructionProfile.timed("timing") { program.timing(summary: summary) } }
        if options.checkHazards { try phases.measure("hazard check") { try program.checkHazards() } }
        try checkInputs(program, inputs, required: !options.timingOnly)
        // The timing model finishes before the arithmetic starts: left running beside it, it would take a
        // core from the split products while it lasts (ResNet-50: 12 ms of one core). It usually finishes
        // during the hazard check (the phase is then a few microseconds).
        let (stats, schedule) = phases.measure("timing") { timing.value }
        return try phases.measure("run") {
            guard let memories, let touched else {
                return ExecutionResult(outputs: [:], stats: stats, schedule: schedule)
            }
            // What of the first touch is left once the checks are done (most of it where the host backs
            // fresh huge pages lazily: ResNet-50, 55 to 80 ms of a core against the usual 5), this core
            // shares with the other instead of waiting for it.
            InstructionProfile.timed("memories, the rest") {
                memories.waitPrepared()
                memories.touch()
                touched.value
            }
            let outputs = try compute(program, inputs, memories)
            return ExecutionResult(outputs: outputs, stats: stats, schedule: schedule)
        }
    }

    /// The functional model's DRAM and SRAM, their pages touched once so that
    /// the kernel maps and zeroes them before the arithmetic starts: all of
    /// SRAM, and the DRAM words that the inputs, STOREs and host instructions
    /// write (bounds of each; the program is valid, so they lie inside). The
    /// DRAM's first touch is a list of runs of words, none across a huge page,
    /// that any number of threads take from (`touch`).
    private final class Memories: @unchecked Sendable {
        // Written by `prepare`, read after `waitPrepared` (or on the thread that prepared).
        private(set) var dram: Memory?, sram: Memory?
        private var runs: [Range<Int>] = []
        private let next = Atomic<Int>(0)
        private let prepared = DispatchSemaphore(value: 0)

        /// Allocates the memories, touches SRAM and lists the DRAM's runs; once.
        func prepare(_ program: Program) {
            defer { prepared.signal() }
            (dram, sram) = (Memory(bytes: program.dramBytes), Memory(bytes: program.config.sramBytes))
            sram?.touchPages(0..<program.config.sramBytes / 4)
            guard dram != nil else { return }
            var written = program.inputs.map { $0.address / 4..<($0.address + $0.byteCount + 3) / 4 }
            for instruction in program.instructions { written += instruction.operation.dramWriteBounds }
            written.sort { $0.lowerBound < $1.lowerBound }
            let hugePage = Memory.hugePageWords
            var touched = 0  // pages below word `touched` are listed
            for words in written where words.upperBound > touched {
                var from = max(words.lowerBound, touched)
                while from < words.upperBound {
                    let to = min(words.upperBound, (from / hugePage + 1) * hugePage)
                    runs.append(from..<to)
                    from = to
                }
                touched = words.upperBound
            }
        }

        /// Waits until `prepare` has finished (on another thread).
        func waitPrepared() {
            prepared.wait()
            prepared.signal()
        }

        /// Touches the pages of runs no other thread has taken until none is left (some may still be
        /// in progress on other threads when it returns). Only after `prepare`, before the arithmetic.
        func touch() {
            guard let dram else { return }
            while case let i = next.wrappingAdd(1, ordering: .relaxed).oldValue, i < runs.count {
                dram.touchPages(runs[i])
            }
        }
    }

    /// The functional model: DRAM starts as the constants and the inputs;
    /// returns the outputs. The constants segment is never written (the
    /// validator rejects such programs), so LOADs read it where it lies, in
    /// the mapped file, at whatever byte alignment it has there; it is copied
    /// into DRAM only for an instruction that reads across its end, a host
    /// instruction that reads it or an output inside it, and when its size is
    /// not whole words.
    private static func compute(_ program: Program, _ inputs: [String: Tensor], _ memories: Memories) throws
        -> [String: Tensor]
    {
        guard let dram = memories.dram, let sram = memories.sram else {
            throw ProgramError(
                "cannot allocate \(program.dramBytes) bytes of DRAM and \(program.config.sramBytes) bytes of SRAM")
        }
        for t in program.inputs { dram.write(inputs[t.name]!.littleEndianBytes[...], at: t.address) }
        program.constants.withUnsafeBytes { raw in
            let constants: RawWords
            if let base = raw.baseAddress, raw.count % 4 == 0 {
                constants = RawWords(base: base, count: raw.count / 4)
            } else {
                dram.write(raw, at: 0)
                constants = RawWords(base: dram.view.base, count: 0)
            }
            let machine = Machine(sram: sram.view, dram: dram.view, constants: constants)
            Parallel.holdingWorkers {
                if InstructionProfile.enabled {
                    var profile = InstructionProfile()
                    // The kinds' times are this thread's CPU time; its wall time beside it shows what other
                    // processes took of its core meanwhile (the rest of the run phase's gap to their sum).
                    InstructionProfile.timed("every instruction") {
                        for instruction in program.instructions {
                            profile.measure(instruction.operation) { machine.execute($0) }
                        }
                    }
                    profile.print()
                } else {
                    for instruction in program.instructions { machine.execute(instruction.operation) }
                }
            }
            // An output may be a constant itself.
            if program.outputs.contains(where: { $0.address / 4 < constants.count }) { machine.copyConstants() }
        }
        var outputs: [String: Tensor] = [:]
        for t in program.outputs {
            outputs[t.name] = Tensor(
                shape: t.shape, dtype: t.dtype, littleEndianBytes: dram.read(t.address, count: t.byteCount)[...])
        }
        withExtendedLifetime((dram, sram)) {}
        return outputs
    }

    /// Checks given inputs against the program's input table: no unknown names,
    /// matching dtypes and shapes, and (if `required`) none missing.
    public static func checkInputs(_ program: Program, _ inputs: [String: Tensor], required: Bool) throws {
        let expected = program.inputs
        for name in inputs.keys.sorted() where !expected.contains(where: { $0.name == name }) {
            throw ProgramError(
                "unknown input '\(name)' (the program's inputs: \(expected.map(\.name).joined(separator: ", ")))")
        }
        for t in expected {
            guard let given = inputs[t.name] else {
                if required { throw ProgramError("missing input '\(t.name)' (\(t.dtype) \(shapeText(t.shape)))") }
                continue
            }
            guard given.dtype == t.dtype else {
                throw ProgramError("input '\(t.name)': expected dtype \(t.dtype), got \(given.dtype)")
            }
            guard given.shape == t.shape else {
                throw ProgramError(
                    "input '\(t.name)': expected shape \(shapeText(t.shape)), got \(shapeText(given.shape))"
                        + shapeDifference(expected: t.shape, given: given.shape))
            }
        }
    }
}

/// Where two shapes of one rank differ, by axis ("; axis 1 is 32, not 3"), and whether they are the same
/// dims in another order (an NHWC tensor given for NCHW); empty when the ranks differ.
func shapeDifference(expected: [Int], given: [Int]) -> String {
    guard expected.count == given.count else { return " (rank \(given.count), not \(expected.count))" }
    let axes = expected.indices.filter { expected[$0] != given[$0] }
        .map { "axis \($0) is \(given[$0]), not \(expected[$0])" }
    let reordered = expected.sorted() == given.sorted() ? ": the same dims in another order (channels last?)" : ""
    return "; " + axes.joined(separator: ", ") + reordered
}

/// The functional model: SRAM and DRAM words, and one kernel per operation.
struct Machine {
    let sram: Words
    let dram: Words
    /// The constants segment (DRAM words from 0) where the program holds it;
    /// empty when it was copied into `dram` up front.
    let constants: RawWords
    let scratch = Scratch()
    /// The tap matrix in scratch slot 0 and the CONV it was gathered for.
    let gathered = GatheredTaps()
    /// Tap matrices kept for the CONVs that read the same taps again.
    let tapPanels = TapPanels()
    private let constantsCopied = Flag()

    init(sram: Words, dram: Words, constants: RawWords? = nil) {
        (self.sram, self.dram) = (sram, dram)
        self.constants = constants ?? RawWords(base: dram.base, count: 0)
    }

    final class Flag { var value = false }

    /// Copies the constants segment into DRAM (once), for readers that do
    /// not take it from where it lies.
    func copyConstants() {
        guard !constantsCopied.value, constants.count > 0 else { return }
        constantsCopied.value = true
        UnsafeMutableRawPointer(dram.at(0, constants.count)).copyMemory(
            from: constants.base, byteCount: 4 * constants.count)
    }

    /// Where a read of DRAM words `words` is served: the constants where
    /// they lie when it stays inside them, else DRAM (with the constants
    /// copied in first when it starts inside them).
    func dramSource(_ words: Range<Int>) -> RawWords {
        if words.upperBound <= constants.count && !constantsCopied.value { return constants }
        if words.lowerBound < constants.count { copyConstants() }
        return dram.raw
    }

    func execute(_ op: Op) {
        defer {
            // After the operation: a CONV may write over the words it gathered from.
            if let written = op.sramWriteBounds {
                if let read = gathered.inputWords, written.overlaps(read) { gathered.forget() }
                tapPanels.forget(overlapping: written)
            }
        }
        switch op {
        case .load(let t): load(t)
        case .store(let t): store(t)
        case .conv(let c): conv(c)
        case .pool(let p): pool(p)
        case .eltwise(let e): eltwise(e)
        case .act(let a): act(a)
        case .lrn(let l): lrn(l)
        case .resize(let r): resize(r)
        case .matmul(let m): matmul(m)
        case .copy(let c): copyBox(c, from: sram, to: sram)
        case .sync: break
        default: hostExecute(op)
        }
    }

    /// Host instructions read DRAM from their source address up; one that
    /// starts inside the constants segment gets them copied into DRAM first.
    private func hostExecute(_ op: Op) {
        switch op {
        case .hostCopy(let c):
            if c.srcAddr / 4 < constants.count { copyConstants() }
            copyBox(c, from: dram, to: dram)
        case .hostSoftmax(let s):
            if s.src / 4 < constants.count { copyConstants() }
            softmax(s)
        case .hostLRN(let l):
            if l.src / 4 < constants.count { copyConstants() }
            lrn(l)
        case .hostResize(let r):
            if r.src / 4 < constants.count { copyConstants() }
            resize(r)
        case .hostTranspose(let t):
            if t.src / 4 < constants.count { copyConstants() }
            transpose(t)
        case .hostReduceMean(let m):
            if m.src / 4 < constants.count { copyConstants() }
            reduceMean(m)
        default: preconditionFailure("not a host instruction")
        }
    }
}

/// A value computed on a global queue; `value` waits for it.
final class Pending<Value: Sendable>: @unchecked Sendable {
    private var result: Value?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () -> Value) {
        DispatchQueue.global().async {
            self.result = work()
            self.done.signal()
        }
    }

    /// The value, once computed (the semaphore orders the write before this read).
    var value: Value {
        done.wait()
        done.signal()
        return result!
    }
}
