import Accelerator
import GraphPasses
import ONNXImport
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR

/// The band planner keeps what does not depend on the band height (a
/// group's layers, constants, geometries) and each row walk (shared by the
/// single- and double-buffered plans of one height, with what the first plan
/// made from it finds for the others: stored rows, chunked inputs, bytes,
/// the estimate's work) in a `BandWalks` per group: a plan made through it
/// must be the plan made afresh, whichever buffer choice asked first.
@Suite("Planning caches")
struct PlanningCacheTests {
    /// Everything a band plan decides, in one comparable line.
    static func summary(_ plan: BandPlan?) -> String {
        guard let plan else { return "nil" }
        let buffers = plan.buffers.keys.sorted().map { value in
            let b = plan.buffers[value]!
            return
                "\(value)@\(b.address)x\(b.slots):\(b.channels)x\(b.rows)x\(b.rowWidth)\(b.alias.map { "<\($0.value)+\($0.channelOffset)" } ?? "")"
        }
        let needed = plan.needed.map { band in band.keys.sorted().map { "\($0)=\(band[$0]!)" }.joined(separator: ",") }
        let stores = plan.stores.keys.sorted().map { "\($0)=\(plan.stores[$0]!)" }
        return [
            plan.tileDescription, "bytes \(plan.dramBytes)", "cycles \(plan.estimatedCycles)",
            "weights \(plan.weightBytes)", "chunked \(plan.chunked.sorted { $0.key < $1.key })",
            "stream \(plan.streamBase)+\(plan.streamSlot)", "folded \(plan.folded.sorted { $0.key < $1.key })",
            "bands \(plan.bands)", buffers.joined(separator: " "), stores.joined(separator: " "),
            needed.joined(separator: " | ")
        ].joined(separator: "; ")
    }

    @Test(
        "band plans made through one group's walk cache equal plans made afresh, at every height, halo and buffering",
        arguments: [
            ("Fixtures/demo/resnet8.onnx", 1 << 20), ("Fixtures/demo/resnet8.onnx", 48 << 10),
            ("Fixtures/onnx/shufflenet_blocks.onnx", 1 << 20), ("Fixtures/onnx/exporter_idioms.onnx", 64 << 10)
        ])
    func walkCacheReuse(model: String, sram: Int) throws {
        var graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(model).path)
        try PassManager().run(&graph, options: CompileOptions())
        var config = AcceleratorConfig.df1
        config.sramBytes = sram
        let context = try PlanningContext(graph: graph, config: config, objective: .edp)
        var (planned, streamed, refused) = (0, 0, 0)
        for j in 1...graph.nodes.count {
            for i in max(0, j - 6)..<j - 1 {
                guard
                    FusionRules.structureProblem(i..<j, graph: graph, consumers: context.consumers) == nil,
                    let last = graph.nodes[FusionRules.mapRange(i..<j, graph: graph).upperBound - 1].outputs.first,
                    let type = graph.type(of: last), type.rank == 4
                else { continue }
                let height = type.shape[2]
                // One cache for the whole group, asked in an order unlike the search's: heights up and
                // down, both halo modes, both buffer choices, some twice.
                let walks = BandWalks()
                let heights = [1, 2, 3, 5, height, (height + 1) / 2, 2, 1].filter { $0 <= height }
                for rows in heights {
                    for halo in [BandPlan.Halo.cache, .recompute] {
                        // Whichever buffer choice comes first makes the walk and what it keeps for the other:
                        // double-buffered first at the heights asked twice, single-buffered at the others.
                        for slots in heights.firstIndex(of: rows)! < heights.lastIndex(of: rows)! ? [2, 1] : [1, 2] {
                            let cached = try context.planBands(
                                i..<j, rows: rows, halo: halo, maxSlots: slots, checked: true, walks: walks)
                            let fresh = try context.planBands(i..<j, rows: rows, halo: halo, maxSlots: slots)
                            #expect(
                                Self.summary(cached) == Self.summary(fresh),
                                "\(model) nodes \(i)..<\(j), \(rows) rows, \(halo), \(slots) slots")
                            if let fresh {
                                planned += 1
                                if !fresh.streamed.isEmpty { streamed += 1 }
                            } else {
                                refused += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(planned > 20, "\(model): too few plans to compare")
        // At small SRAM sizes the shortcut for plans that cannot fit is taken, and the streaming path too.
        if sram < 1 << 20 { #expect(refused > 0, "\(model) at \(sram) B: every plan fits") }
        if sram < 64 << 10 { #expect(streamed > 0, "\(model) at \(sram) B: no plan streams its weights") }
    }
}
