import Accelerator
import Testing
@testable import Compiler
@testable import GraphIR

/// A band's work for the next band emitted as soon as its buffers allow:
/// a folded stem's taps (always) and a cached halo's kept rows (when the
/// plan says so, `BandPlan.shiftsEarly`), so that the in-order vector
/// engine does not queue them behind work that waits for the matrix unit.
@Suite("Early band work: folded taps and halo moves of the next band")
struct EarlyBandWorkTests {
    typealias Builder = FusionTests.Builder

    /// A ResNet-style stem: a 3-channel 7x7 stride-2 convolution (its taps fold), a 3x3 max pool, and a
    /// bottleneck whose residual Add (vector) follows the matrix unit's convolutions.
    static func stemBlock() throws -> Graph {
        var b = Builder()
        let stem = b.conv("x", cin: 3, cout: 64, k: 7, stride: 2, pad: 3)
        let pool = b.node(
            .maxPool, [stem], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        var y = b.conv(pool, cin: 64, cout: 64, k: 1)
        y = b.conv(y, cin: 64, cout: 64, k: 3, pad: 1)
        y = b.conv(y, cin: 64, cout: 256, k: 1, relu: false)
        let shortcut = b.conv(pool, cin: 64, cout: 256, k: 1, relu: false)
        let sum = b.node(.add, [y, shortcut], activation: .relu)
        return try b.graph(input: [1, 3, 96, 64], output: sum)
    }

    /// The group alone as a program: its bytes counted by the executor, its outputs checked against the
    /// interpreter (`ScheduleTests.runAndCount`), and its instructions with their debug names.
    static func program(_ graph: Graph, _ plan: BandPlan) throws -> (bytes: Int, program: Program) {
        let bytes = try ScheduleTests.runAndCount(graph, .bands(plan), config: .df1)
        return (bytes, try Codegen.compile(graph, config: .df1, groups: [.bands(plan)]).0)
    }

    @Test("a folded stem's taps for the next band are copied before this band's Add")
    func foldedTapsEarly() throws {
        let graph = try Self.stemBlock()
        let context = try PlanningContext(graph: graph, config: .df1, objective: .edp)
        let plan = try #require(try context.planBands(0..<graph.nodes.count, rows: 1, halo: .cache, maxSlots: 1))
        let stem = graph.nodes[0].name, add = graph.nodes.last!.name
        #expect(plan.folded.keys.sorted() == [stem], "\(plan.tileDescription)")
        for early in [false, true] {
            var variant = plan
            variant.shiftsEarly = early
            let (bytes, program) = try Self.program(graph, variant)
            #expect(bytes == plan.dramBytes)
            // Between two CONVs of the stem, its tap COPYs (the second CONV's) all precede the Add's ELTWISE.
            let instructions = program.instructions
            let convs = instructions.indices.filter {
                instructions[$0].opcode == .conv && program.debugNames[$0].contains(stem)
            }
            #expect(convs.count > 4)
            for (before, after) in zip(convs, convs.dropFirst()) {
                let between = (before + 1)..<after
                let copies = between.filter {
                    instructions[$0].opcode == .copy && program.debugNames[$0].contains(stem)
                }
                let adds = between.filter {
                    instructions[$0].opcode == .eltwise && program.debugNames[$0].contains(add)
                }
                #expect(!copies.isEmpty)
                if let last = copies.last, let first = adds.first { #expect(last < first, "band of CONV \(after)") }
            }
            // Predicted cycles are the program's: the plan simulated on its own is the whole program here.
            let cycles = program.config.schedule(instructions, constantsBytes: program.constants.count).stats.cycles
            #expect(try context.simulatedCycles(.bands(variant)) == cycles)
        }
    }

    @Test("moving the kept rows early is a candidate, verified and predicted exactly, and faster on the stem")
    func shiftsEarly() throws {
        let graph = try Self.stemBlock()
        let range = 0..<graph.nodes.count
        let context = try PlanningContext(graph: graph, config: .df1, objective: .edp)
        let plans = try FusionPlanner.candidates(range, context: context)
        let early = plans.compactMap { plan -> BandPlan? in
            guard case .bands(let bands) = plan, bands.shiftsEarly else { return nil }
            return bands
        }
        #expect(!early.isEmpty)
        for plan in early {
            var late = plan
            late.shiftsEarly = false
            #expect(plan.halo == .cache && plan.tileDescription.contains("moved early"))
            #expect(
                plans.contains {
                    $0.tileDescription(graph: graph) == GroupPlan.bands(late).tileDescription(graph: graph)
                })
            #expect(try Self.program(graph, plan).bytes == plan.dramBytes)
        }
        let single = try #require(try context.planBands(range, rows: 1, halo: .cache, maxSlots: 1))
        var moved = single
        moved.shiftsEarly = true
        #expect(try Self.program(graph, moved).bytes == single.dramBytes)
        let (fast, slow) = (try context.simulatedCycles(.bands(moved)), try context.simulatedCycles(.bands(single)))
        #expect(
            fast < slow,
            "\(fast) against \(slow) cycles: single-buffered bands of one row: the max pool's and convolutions' kept rows move while the matrix unit works"
        )
    }
}
