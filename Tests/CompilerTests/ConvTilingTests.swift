import Accelerator
import DFCCommands
import Testing
@testable import Compiler
@testable import GraphIR

/// A convolution too large for SRAM runs in units of output channels, each
/// reading the whole input once. Where the weights cannot stay resident, the
/// fewest units win: blocks of any multiple of the array width, and one output
/// slot where two do not fit.
@Suite("Convolution tiles: output blocks and slots")
struct ConvTilingTests {
    typealias Builder = FusionTests.Builder

    @Test("output blocks: for every unit count the least lane multiple that gives it, besides the doubling blocks")
    func outputBlocks() {
        let doubling: (Int) -> [Int] = { total in [total] + [32, 64, 128, 256].filter { $0 < total } }
        let sizes = ConvTiling.outputBlockSizes(512, lanes: 32, base: doubling)
        #expect(sizes.allSatisfy { $0 % 32 == 0 && $0 <= 512 })
        #expect(Set(sizes).count == sizes.count)
        for units in 1...16 {
            let least = (512 + units - 1) / units
            let size = (least + 31) / 32 * 32
            #expect(sizes.contains(size), "\(units) units: \(size) missing from \(sizes)")
        }
        #expect(Set(sizes).isSuperset(of: [512, 256, 192, 128, 96, 64, 32]))
        // A layer narrower than two arrays has only its own width and the array's.
        #expect(ConvTiling.outputBlockSizes(48, lanes: 32, base: doubling) == [48, 32])
    }

    /// A 3x3 convolution whose weights (885 KB) cannot stay resident in `sramBytes`, with 96 output
    /// channels whose whole 16x16 tile (98 KB) fits once beside its streams but not twice.
    static let sramBytes = 420 << 10

    static func largeLayer() throws -> Graph {
        var b = Builder()
        let y = b.conv("x", cin: 256, cout: 96, k: 3, pad: 1)
        return try b.graph(input: [1, 256, 16, 16], output: y)
    }

    @Test("one output slot lets the whole output block be one unit: the input is read once, and the program runs")
    func singleOutputSlot() throws {
        let graph = try Self.largeLayer()
        let g = try graph.convGeometry(graph.nodes[0])
        var config = AcceleratorConfig.df1
        config.sramBytes = Self.sramBytes
        let all = ConvTiling.tilings(g, hasBias: true, config: config, narrow: false)
        let single = try #require(all.filter { $0.outputSlots == 1 }.min { $0.dramBytes < $1.dramBytes })
        let double = try #require(all.filter { $0.outputSlots == 2 }.min { $0.dramBytes < $1.dramBytes })
        #expect(single.units.count == 1 && single.sramBytes <= config.sramBytes, "\(single)")
        #expect(double.units.count > 1, "\(double)")
        // The input (262 KB) is read once instead of once per unit.
        #expect(double.dramBytes - single.dramBytes >= 4 * 256 * 16 * 16, "\(single) against \(double)")
        // One slot is tried only where two do not fit.
        #expect(
            ConvTiling.evaluate(
                g, units: single.units, work: .init(single.units, config: config), rows: single.rows,
                validRows: 16, cb: single.coutBlock, kb: single.cinBlock, order: single.order,
                resident: single.weightsResident, hasBias: true, outputSlots: 2, config: config) == nil)
        for objective in [Objective.traffic, .edp] {
            let best = try #require(ConvTiling.best(g, hasBias: true, config: config, objective: objective))
            #expect(best.outputSlots == 1, "\(objective): \(best)")
            let (program, _) = try Codegen.compile(
                graph, options: Codegen.Options(config: config, fusion: false, objective: objective))
            for difference in try Verification.run(reference: graph, program: program) {
                #expect(difference.passed, "\(objective): \(difference.description)")
            }
            let bytes = ObjectiveTests.figures(program).bytes
            #expect(bytes == single.dramBytes, "\(objective): ran \(bytes), predicted \(single)")
        }
    }
}
