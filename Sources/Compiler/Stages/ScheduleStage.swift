import Accelerator
import Foundation
import GraphIR
import Tensors

/// What the scheduling stages hand each other, from the graph the graph
/// passes left to the emitted program.
struct ScheduleState {
    let graph: Graph
    let options: Codegen.Options
    /// Say why each group ends where it does (`--report`, `--dump-ir=fuse`).
    let explain: Bool
    /// One constants segment serves every program of the graph.
    let constants: ConstantSegment
    /// The layer-by-layer program: every single layer's costs, the baseline, the fallback.
    /// Without its DRAM map until `emit` adds it.
    var layerByLayer: Emitter.Built
    /// `fuse`: the partition and each group's tiles.
    var plan = FusionPlan(segments: [])
    /// `tile`: one line per segment saying how it is tiled.
    var tiles: [String] = []
    /// `plan-memory`: the DRAM layout of the partition.
    var layout: ProgramLayout?
    /// `emit`: the program, and whether the fused one lost to layer by layer.
    var result: Emitter.Built?
    var fellBack = false
}

/// A scheduling stage: a named step after the graph passes, run, verified
/// and printed by `ScheduleManager` as the `PassManager` does for graph passes.
protocol ScheduleStage: Sendable {
    /// Kebab-case name, used by `--dump-ir=NAME`.
    var name: String { get }
    /// One line for `--help`.
    var summary: String { get }
    func run(_ state: inout ScheduleState) throws
    /// The stage's result as text, for `--dump-ir`.
    func dump(_ state: ScheduleState) -> String
    /// The invariants the stage promises; checked after it runs.
    func verify(_ state: ScheduleState) throws
}

/// Runs the scheduling stages in order, verifying after each and printing
/// the ones asked for.
struct ScheduleManager {
    /// The stages, top to bottom.
    static let pipeline: [any ScheduleStage] = [
        // The partition and each group's tiles are chosen together: a partition is only as good as its tiles.
        Fuse(),
        // Every segment's tiling, for the record and the dumps.
        Tile(),
        // DRAM addresses depend on which values live together, i.e. on the groups.
        PlanMemory(),
        // Instructions last; a fused program that loses to layer by layer is replaced by it.
        Emit()
    ]

    var dumpStages: Set<String> = []
    var dump: (String, String) -> Void = { _, _ in }
    /// Check each stage's invariants after it runs: in debug builds and
    /// whenever DFC_VERIFY_STAGES is set (`make test` sets it).
    var verifyStages = _isDebugAssertConfiguration() || ProcessInfo.processInfo.environment["DFC_VERIFY_STAGES"] != nil

    func run(_ state: inout ScheduleState) throws {
        for stage in Self.pipeline {
            do {
                try stage.run(&state)
                if verifyStages { try stage.verify(state) }
            } catch let error as DFCError where error.file == nil {
                throw DFCError("\(stage.name): \(error.message)", kind: error.kind)
            }
            if dumpStages.contains(stage.name) { dump(stage.name, stage.dump(state)) }
            PhaseTrace.releaseFreeMemory()
            PhaseTrace.mark(stage.name)
        }
    }
}
