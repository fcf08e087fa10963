import Accelerator
import Testing
@testable import Compiler
@testable import GraphIR

/// A whole-map group with a pooling tail that streams its input holds as
/// many leading channels as leave room for the pool's result (ResNet-50's
/// last block and its GlobalAveragePool are one group).
@Suite("Pooled whole-map groups hold leading channels")
struct PooledWholeMapTests {
    typealias Builder = FusionTests.Builder

    /// A stem, a bottleneck block and the GlobalAveragePool of its output.
    static func pooledBlock() throws -> Graph {
        var b = Builder()
        let x = b.conv("x", cin: 8, cout: 256, k: 1)
        var y = b.conv(x, cin: 256, cout: 64, k: 1)
        y = b.conv(y, cin: 64, cout: 64, k: 3, pad: 1)
        y = b.conv(y, cin: 64, cout: 256, k: 1, relu: false)
        let sum = b.node(.add, [y, x], activation: .relu)
        let pool = b.node(.globalAveragePool, [sum])
        return try b.graph(input: [1, 8, 7, 7], output: pool)
    }

    @Test("where the block's best plans leave no room for the pool's result, the pooled group still holds channels")
    func roomForThePool() throws {
        let graph = try Self.pooledBlock()
        let range = 1..<graph.nodes.count, map = 1..<(graph.nodes.count - 1)
        let result = 4 * 256
        var found = 0
        for kib in stride(from: 48, through: 160, by: 2) {
            var config = AcceleratorConfig.df1
            config.sramBytes = kib << 10
            let context = try PlanningContext(graph: graph, config: config, objective: .edp)
            let blockPlans = try context.planWholeMap(map).filter { $0.partial != nil }
            let pooled = try context.planWholeMap(range).filter { $0.partial != nil }
            for plan in pooled {
                #expect(plan.pooled != nil && DRAMPlan.align(plan.sramBytes) <= config.sramBytes)
                #expect(try ScheduleTests.runAndCount(graph, .wholeMap(plan), config: config) == plan.dramBytes)
            }
            // Every plan of the block fills the SRAM: without room left for the result, none would hold channels.
            if !blockPlans.isEmpty, !pooled.isEmpty,
                blockPlans.allSatisfy({ DRAMPlan.align($0.sramBytes) + result > config.sramBytes })
            {
                found += 1
            }
        }
        #expect(found > 0, "no SRAM size where the block's plans fill the SRAM and the pooled group holds channels")
    }
}
