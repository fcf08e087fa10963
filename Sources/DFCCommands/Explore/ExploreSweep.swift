import Accelerator
import Compiler
import Dispatch
import Foundation
import GraphIR
import GraphPasses
import ONNXImport
import Tensors

/// A design-space sweep: every combination of the swept values, for every
/// model, compiled in parallel, each point cached on disk.
public struct ExploreSweep: Sendable {
    public var models: [String]
    /// The accelerator the swept values override (a preset or a JSON file).
    public var accel = "df1"
    /// SRAM sizes in bytes; empty: the accelerator's own.
    public var sramSizes: [Int] = []
    /// DRAM bytes per cycle; empty: the accelerator's own.
    public var bandwidths: [Int] = []
    /// Matrix-unit sizes (N×N MACs); empty: the accelerator's own.
    public var arrays: [Int] = []
    public var objectives: [Objective] = [.default]
    /// Also compile each point layer by layer (`--no-fusion`), the baseline fusion is measured against.
    public var baseline = false
    public var maxGroupLength = Codegen.Options.defaultMaxGroupLength
    public var inputShapes: [String: [Int]] = [:]
    public var maxMemoryBytes = CompileOptions.defaultMaxMemoryBytes

    public init(models: [String]) { self.models = models }

    /// The points in sweep order, with the accelerator resolved for each.
    public func settings() throws -> [ExplorePoint.Setting] {
        let base: AcceleratorConfig
        do { base = try AcceleratorConfig.resolve(accel, sram: nil) } catch {
            throw DFCError("--accel \(accel): \(error)")
        }
        var settings: [ExplorePoint.Setting] = []
        for model in models {
            for sram in sramSizes.isEmpty ? [base.sramBytes] : sramSizes {
                for bandwidth in bandwidths.isEmpty ? [base.dramBytesPerCycle] : bandwidths {
                    for array in arrays.isEmpty ? [nil] : arrays.map(Optional.some) {
                        var config: AcceleratorConfig
                        do {
                            config = try AcceleratorConfig.resolve(accel, sram: String(sram))
                            config.dramBytesPerCycle = bandwidth
                            if let array { (config.matrixInputLanes, config.matrixOutputLanes) = (array, array) }
                            try config.validate()
                        } catch {
                            throw DFCError("--accel \(accel) with SRAM \(sram), bandwidth \(bandwidth): \(error)")
                        }
                        for objective in objectives {
                            for fusion in baseline ? [true, false] : [true] {
                                settings.append(
                                    ExplorePoint.Setting(
                                        model: model, config: config, objective: objective.rawValue, fusion: fusion,
                                        maxGroupLength: maxGroupLength, inputShapes: inputShapes,
                                        maxMemoryBytes: maxMemoryBytes))
                            }
                        }
                    }
                }
            }
        }
        return settings
    }

    /// What a run did: the points in sweep order, and how many were compiled
    /// now and how many came from the cache.
    public struct Outcome: Sendable {
        public var points: [ExplorePoint]
        public var computed: Int
        public var cached: Int
    }

    /// Imports each model once, then compiles the points not in `cache` on
    /// every core. `progress` is called (from any thread, one call at a time)
    /// after each point with the number done and the total.
    public func run(
        cache: ExploreCache?, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> Outcome {
        let settings = try self.settings()
        var points = [ExplorePoint?](repeating: nil, count: settings.count)
        var work: [(index: Int, key: String)] = []
        var graphs: [String: Graph] = [:]
        for model in models where graphs[model] == nil {
            let graph = try Self.prepare(model, inputShapes: inputShapes, maxMemoryBytes: maxMemoryBytes)
            graphs[model] = graph
            let digest = try ExploreCache.modelDigest(path: model, graph: graph)
            for (index, setting) in settings.enumerated() where setting.model == model {
                let key = try ExploreCache.key(modelDigest: digest, setting: setting)
                if let hit = cache?.lookup(key) {
                    points[index] = hit
                    (points[index]!.index, points[index]!.setting) = (index, setting)
                } else {
                    work.append((index, key))
                }
            }
        }
        let cachedCount = settings.count - work.count
        let results = Results(count: work.count)
        let done = Counter(cachedCount)
        progress(cachedCount, settings.count)
        let (todo, imported) = (work, graphs)
        DispatchQueue.concurrentPerform(iterations: todo.count) { k in
            let (index, key) = todo[k]
            var point = Self.compile(imported[settings[index].model]!, setting: settings[index])
            point.index = index
            results.set(k, point)
            // A cache that cannot be written costs a recompile later, nothing more.
            try? cache?.store(point, key: key)
            done.increment { progress($0, settings.count) }
        }
        for (k, item) in work.enumerated() { points[item.index] = results.values[k] }
        var outcome = Outcome(points: points.map { $0! }, computed: work.count, cached: cachedCount)
        ExplorePareto.mark(&outcome.points)
        return outcome
    }

    /// Computes (or finds in `cache`) the point of one setting of this sweep.
    public func run(point setting: ExplorePoint.Setting, index: Int, cache: ExploreCache?) throws -> ExplorePoint {
        let graph = try Self.prepare(setting.model, inputShapes: inputShapes, maxMemoryBytes: maxMemoryBytes)
        let key = try ExploreCache.key(
            modelDigest: try ExploreCache.modelDigest(path: setting.model, graph: graph), setting: setting)
        let cached = cache?.lookup(key)
        var point = cached ?? Self.compile(graph, setting: setting)
        if cached == nil { try? cache?.store(point, key: key) }
        (point.index, point.setting) = (index, setting)
        return point
    }

    /// Imports `model` and runs the graph passes, once for all its points.
    static func prepare(_ model: String, inputShapes: [String: [Int]], maxMemoryBytes: Int) throws -> Graph {
        var graph = try ONNXImporter.load(path: model)
        do {
            try PassManager().run(
                &graph, options: CompileOptions(inputShapes: inputShapes, maxMemoryBytes: maxMemoryBytes))
        } catch let error as DFCError {
            throw error.inFile(model)
        }
        return graph
    }

    /// Compiles one point; a point that cannot be compiled records why.
    static func compile(_ graph: Graph, setting: ExplorePoint.Setting) -> ExplorePoint {
        let start = DispatchTime.now().uptimeNanoseconds
        var point = ExplorePoint(
            index: 0, setting: setting, figures: nil, error: nil, compileSeconds: 0, pareto: false)
        do {
            let objective = Objective(rawValue: setting.objective) ?? .default
            let compilation = try Codegen.schedule(
                graph,
                options: Codegen.Options(
                    config: setting.config, fusion: setting.fusion, objective: objective,
                    maxGroupLength: setting.maxGroupLength), explain: false)
            var report = CompileReport(model: setting.model, graph: graph, compilation: compilation)
            report.objective = objective
            var figures = try ExplorePoint.Figures(report: report.json())
            for (k, layer) in compilation.layers.enumerated() where k < figures.rows.count {
                figures.rows[k].layers = layer.members.count
            }
            point.figures = figures
        } catch let error as DFCError {
            point.error = error.message
        } catch {
            point.error = "\(error)"
        }
        point.compileSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return point
    }
}

/// Results written by concurrent workers, each to its own slot.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [ExplorePoint?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ k: Int, _ point: ExplorePoint) { lock.withLock { values[k] = point } }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int
    init(_ value: Int) { self.value = value }
    /// Counts one more and tells `report` the new count, under the lock so reports come one at a time, in order.
    func increment(_ report: (Int) -> Void) {
        lock.withLock {
            value += 1
            report(value)
        }
    }
}
