import Accelerator
import Testing
@testable import Compiler
@testable import GraphIR

/// A whole-map group with a pooling tail that streams its input holds as
/// many leading channels as leave room for the pool's result (ResNet-50's
/// last block and its GlobalAveragePool are one group).
@Suite("Pooled whole-map groups hold leading channels")
struct PooledWholeMapTests {
    @Test("where the block's best plans leave no room for the pool's result, the pooled group still holds channels")
    func roomForThePool() throws {
        let graph = try ScheduleTests.bottleneck(channels: 256, width: 64, size: 7, pooled: true)
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
