import Accelerator
import GraphPasses
import ONNXImport
import TestSupport
import Tensors
import Testing
@testable import Compiler
@testable import GraphIR

/// The fusion search simulates each candidate of a repeated block once: an
/// interval of the same layers up to names shares the simulated costs.
@Suite("Simulation memo")
struct SimulationMemoTests {
    typealias Builder = FusionTests.Builder

    /// A stem and three identical residual bottlenecks; the last block's output is the graph's.
    static func repeatedBlocks() throws -> Graph {
        var b = Builder()
        // Names of three digits, in the same order in every block.
        b.count = 100
        var x = b.conv("x", cin: 8, cout: 32, k: 1)
        for _ in 0..<3 {
            var y = b.conv(x, cin: 32, cout: 16, k: 1)
            y = b.conv(y, cin: 16, cout: 16, k: 3, pad: 1)
            y = b.conv(y, cin: 16, cout: 32, k: 1, relu: false)
            x = b.node(.add, [y, x], activation: .relu)
        }
        return try b.graph(input: [1, 8, 12, 12], output: x)
    }

    static func block(_ k: Int) -> Range<Int> { (1 + 4 * k)..<(5 + 4 * k) }

    @Test("repeated blocks share a signature; the last, whose output is the graph's, and shifted ranges do not")
    func signatures() throws {
        let graph = try Self.repeatedBlocks()
        let context = try PlanningContext(graph: graph, config: .df1, objective: .edp)
        let memo = SimulationMemo(context: context, checks: false)
        #expect(memo.signature(Self.block(0)) == memo.signature(Self.block(1)))
        #expect(memo.signature(Self.block(1)) != memo.signature(Self.block(2)))
        #expect(memo.signature(Self.block(0)) != memo.signature(2..<6))
        // Inside a block, the same offsets agree too.
        #expect(memo.signature(2..<4) == memo.signature(6..<8))
    }

    @Test("a candidate of the second block costs what the same candidate of the first was simulated at")
    func remembered() throws {
        let graph = try Self.repeatedBlocks()
        var config = AcceleratorConfig.df1
        config.sramBytes = 24 << 10
        let context = try PlanningContext(graph: graph, config: config, objective: .edp)
        let memo = SimulationMemo(context: context, checks: false)
        let (first, second) = (Self.block(0), Self.block(1))
        let plans = try FusionPlanner.candidates(first, context: context)
        let again = try FusionPlanner.candidates(second, context: context)
        #expect(plans.count == again.count && plans.count > 1)
        let signature = memo.signature(first)
        for k in plans.indices {
            let simulated = try memo.simulate(plans[k], signature: signature, candidates: plans.count, candidate: k)
            #expect(simulated == (try context.simulate(plans[k])))
            let remembered = try memo.simulate(again[k], signature: signature, candidates: again.count, candidate: k)
            #expect(remembered == simulated)
            #expect(
                remembered == (try context.simulate(again[k])),
                "candidate \(k): \(again[k].tileDescription(graph: graph))")
        }
        // A memo that checks simulates every hit too, and agrees.
        let checking = SimulationMemo(context: context, checks: true)
        for k in plans.indices {
            let a = try checking.simulate(plans[k], signature: signature, candidates: plans.count, candidate: k)
            let b = try checking.simulate(again[k], signature: signature, candidates: again.count, candidate: k)
            #expect(a == b)
        }
    }

    @Test(
        "the second block's candidates have the first's floors, remembered; a checking memo plans both and catches a difference"
    )
    func rememberedFloors() throws {
        let graph = try Self.repeatedBlocks()
        var config = AcceleratorConfig.df1
        config.sramBytes = 24 << 10
        let context = try PlanningContext(graph: graph, config: config, objective: .edp)
        let (first, second) = (Self.block(0), Self.block(1))
        let floors = { (range: Range<Int>) in
            try FusionPlanner.candidates(range, context: context).map { FusionPlanner.costFloor($0, context: context) }
        }
        let (a, b) = (try floors(first), try floors(second))
        #expect(a == b && a.count > 1)
        let memo = SimulationMemo(context: context, checks: false)
        let signature = memo.signature(first)
        #expect(memo.floors(signature: signature) == nil)
        try memo.remember(floors: a, signature: signature, nodes: first)
        #expect(memo.floors(signature: memo.signature(second)) == b)
        #expect(memo.floors(signature: memo.signature(Self.block(2))) == nil)
        // A checking memo never answers (every interval plans its candidates) and compares what it is told.
        let checking = SimulationMemo(context: context, checks: true)
        try checking.remember(floors: a, signature: signature, nodes: first)
        #expect(checking.floors(signature: signature) == nil)
        try checking.remember(floors: b, signature: signature, nodes: second)
        var wrong = b
        wrong[0].cycles += 1
        #expect(throws: DFCError.self) { try checking.remember(floors: wrong, signature: signature, nodes: second) }
    }

    /// Signatures written from the facts found once are the ones written from the names, on
    /// models with views (Inception's concatenations), repeated blocks and graph outputs.
    @Test(
        "every interval's signature equals the one written from the names",
        arguments: ["Fixtures/demo/resnet8.onnx", "Fixtures/onnx/shufflenet_blocks.onnx", ".cache/bench/resnet18.onnx"])
    func signaturesFromFacts(model: String) throws {
        let path = TestPaths.repository.appendingPathComponent(model).path
        var graph = try ONNXImporter.load(path: path)
        try PassManager().run(&graph, options: CompileOptions())
        let context = try PlanningContext(graph: graph, config: .df1, objective: .edp)
        let memo = SimulationMemo(context: context, checks: false)
        var compared = 0
        for j in 1...graph.nodes.count {
            for i in max(0, j - 12)..<j {
                #expect(memo.signature(i..<j) == memo.signatureByNames(i..<j), "\(model) \(i)..<\(j)")
                compared += 1
            }
        }
        #expect(compared > 100)
    }
}
