import Accelerator
import Testing
@testable import Compiler
@testable import GraphIR

/// A whole-map group streaming its input may hold a count of leading
/// channels that is not a multiple of the input-channel block: the block
/// that straddles the count copies its held channels from SRAM and loads
/// only the rest (ResNet-50's layer3 blocks hold 544 of 1024 channels in
/// blocks of 64).
@Suite("Whole-map groups hold channel counts between input blocks")
struct StraddledHoldTests {
    @Test("a held count inside an input block runs against the interpreter and moves the bytes predicted")
    func straddlingBlock() throws {
        let graph = try ScheduleTests.bottleneck(channels: 256, width: 64, size: 7)
        let range = 1..<graph.nodes.count
        var found = 0
        for kib in stride(from: 48, through: 160, by: 4) {
            var config = AcceleratorConfig.df1
            config.sramBytes = kib << 10
            let context = try PlanningContext(graph: graph, config: config, objective: .edp)
            let plans = try context.planWholeMap(range)
            for plan in plans {
                guard let partial = plan.partial, partial.buffer.channels % plan.inBlock != 0 else { continue }
                found += 1
                // The tail reads the input in blocks of output channels: none straddles the held count.
                #expect(partial.buffer.channels % plan.block == 0)
                #expect(plan.sramBytes <= config.sramBytes)
                let counted = try ScheduleTests.runAndCount(graph, .wholeMap(plan), config: config)
                #expect(
                    counted == plan.dramBytes,
                    "\(plan.tileDescription(graph: graph)): predicted \(plan.dramBytes), executed \(counted)")
                // It holds more than the same blocks in whole input blocks could, so it moves fewer bytes.
                let whole = plans.filter {
                    $0.block == plan.block && $0.inBlock == plan.inBlock && $0.streamedInputs == plan.streamedInputs
                        && ($0.partial?.buffer.channels ?? 0) % plan.inBlock == 0
                }
                #expect(whole.allSatisfy { $0.dramBytes > plan.dramBytes })
            }
        }
        #expect(found > 0, "no SRAM size where a plan holds a count of channels between input blocks")
    }
}
