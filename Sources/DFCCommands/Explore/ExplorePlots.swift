import Foundation
import Plots

/// The charts of a sweep, per model: traffic and cycles against SRAM size,
/// where one program's bytes and cycles go, and the Pareto front.
public enum ExplorePlots {
    /// SVG files by name (`MODEL-traffic.svg`, ...) for every model with compiled points.
    /// `breakdownSRAM`: the SRAM size whose fused program the breakdown shows (default: the middle swept size).
    public static func files(_ points: [ExplorePoint], breakdownSRAM: Int? = nil) -> [(name: String, svg: String)] {
        var files: [(String, String)] = []
        var models: [String] = []
        for point in points where !models.contains(point.setting.model) { models.append(point.setting.model) }
        for model in models {
            let mine = points.filter { $0.setting.model == model && $0.figures != nil }
            guard let reference = mine.first(where: \.setting.fusion) ?? mine.first else { continue }
            let name = ((model as NSString).lastPathComponent as NSString).deletingPathExtension
            let line = mine.filter { Self.sameAxes($0.setting, reference.setting) }
            let title = (model as NSString).lastPathComponent
            files.append(("\(name)-traffic.svg", traffic(line, title: title)))
            files.append(("\(name)-cycles.svg", cycles(line, title: title)))
            if let chart = breakdown(line, sram: breakdownSRAM, title: title) {
                files.append(("\(name)-breakdown.svg", chart))
            }
            files.append(("\(name)-pareto.svg", pareto(mine, title: title)))
        }
        return files
    }

    /// Points that differ from `reference` only in SRAM size and fusion.
    static func sameAxes(_ a: ExplorePoint.Setting, _ b: ExplorePoint.Setting) -> Bool {
        a.bandwidth == b.bandwidth && a.array == b.array && a.objective == b.objective
    }

    static func describe(_ s: ExplorePoint.Setting) -> String {
        "\(s.bandwidth) B/cycle DRAM, \(s.array.replacingOccurrences(of: "x", with: "×")) MAC array, objective \(s.objective)"
    }

    static var sramAxis: Axis { Axis("SRAM size", scale: .log2) { value, _ in Axis.binaryBytes(value) } }

    /// The fused points and the layer-by-layer figures at each SRAM size (the
    /// baseline's own points when swept, otherwise the fused compiles' baseline).
    static func lines(_ points: [ExplorePoint]) -> (fused: [ExplorePoint], layerByLayer: [(Int, ExplorePoint.Summary)])
    {
        let fused = points.filter(\.setting.fusion).sorted { $0.setting.sramBytes < $1.setting.sramBytes }
        let baseline = points.filter { !$0.setting.fusion }.sorted { $0.setting.sramBytes < $1.setting.sramBytes }
        let layerByLayer =
            baseline.isEmpty
            ? fused.map { ($0.setting.sramBytes, $0.figures!.layerByLayer) }
            : baseline.map { point in
                let f = point.figures!
                return (
                    point.setting.sramBytes,
                    ExplorePoint.Summary(
                        dramBytes: f.dramBytes, cycles: f.cycles, energyFemtojoules: f.energyFemtojoules)
                )
            }
        return (fused, layerByLayer)
    }

    static func traffic(_ points: [ExplorePoint], title: String) -> String {
        let (fused, layerByLayer) = lines(points)
        let megabytes = { (bytes: Int) in Double(bytes) / 1e6 }
        let all = fused + points.filter { !$0.setting.fusion }
        let floor = all.sorted { $0.setting.sramBytes < $1.setting.sramBytes }.map {
            Series.Point(x: Double($0.setting.sramBytes), y: megabytes($0.figures!.compulsoryBytes))
        }
        return XYChart(
            title: "\(title): DRAM traffic against SRAM size", subtitle: describe(points[0].setting),
            x: sramAxis, y: Axis("DRAM traffic (MB)"),
            series: [
                Series(
                    "fused",
                    points: fused.map { .init(x: Double($0.setting.sramBytes), y: megabytes($0.figures!.dramBytes)) },
                    color: Palette.color(0)),
                Series(
                    "layer by layer", points: layerByLayer.map { .init(x: Double($0.0), y: megabytes($0.1.dramBytes)) },
                    color: Palette.color(1)),
                Series(
                    "compulsory (weights once, input, output)", points: uniqueX(floor), style: .dashed,
                    color: Palette.color(7))
            ]
        ).svg()
    }

    static func cycles(_ points: [ExplorePoint], title: String) -> String {
        let (fused, layerByLayer) = lines(points)
        let millions = { (cycles: Int) in Double(cycles) / 1e6 }
        let floor = fused.map {
            Series.Point(x: Double($0.setting.sramBytes), y: millions($0.figures!.layerFloorCycles))
        }
        return XYChart(
            title: "\(title): cycles against SRAM size", subtitle: describe(points[0].setting),
            x: sramAxis, y: Axis("cycles (millions)"),
            series: [
                Series(
                    "fused",
                    points: fused.map { .init(x: Double($0.setting.sramBytes), y: millions($0.figures!.cycles)) },
                    color: Palette.color(0)),
                Series(
                    "layer by layer", points: layerByLayer.map { .init(x: Double($0.0), y: millions($0.1.cycles)) },
                    color: Palette.color(1)),
                Series(
                    "layer floor (each layer's busiest engine)", points: uniqueX(floor), style: .dashed,
                    color: Palette.color(7))
            ]
        ).svg()
    }

    /// One bar per layer or fusion group of the fused program at `sram`.
    static func breakdown(_ points: [ExplorePoint], sram: Int?, title: String) -> String? {
        let fused = points.filter(\.setting.fusion).sorted { $0.setting.sramBytes < $1.setting.sramBytes }
        guard !fused.isEmpty else { return nil }
        let point =
            sram.flatMap { size in fused.first { $0.setting.sramBytes == size } } ?? fused[(fused.count - 1) / 2]
        let rows = point.figures!.rows
        var ticks: [Int: String] = [:]
        let every = max(1, Int((Double(rows.count) / 12).rounded(.up)))
        for k in stride(from: 0, to: rows.count, by: every) { ticks[k] = "\(k + 1)" }
        let groups = rows.filter { $0.layers > 1 }.count
        let bounds = ["matrix", "vector", "dma", "host"].filter { bound in rows.contains { $0.bound == bound } }
        let megabytes = { (bytes: Int) in Double(bytes) / 1e6 }
        return StackedBarChart(
            title: "\(title): where the bytes and cycles go",
            subtitle:
                "fused program at \(Axis.binaryBytes(Double(point.setting.sramBytes))) SRAM; \(describe(point.setting))",
            categoryLabel: "layer or fusion group, in program order (\(rows.count) rows, \(groups) fused groups)",
            categoryTicks: ticks,
            panels: [
                .init(
                    y: Axis("DRAM traffic (MB)"),
                    parts: [
                        ("weights", Palette.color(0)), ("activation reads", Palette.color(1)),
                        ("activation writes", Palette.color(2))
                    ],
                    values: rows.map {
                        [
                            megabytes($0.weightBytes), megabytes($0.activationReadBytes),
                            megabytes($0.activationWriteBytes)
                        ]
                    }),
                .init(
                    y: Axis("cycles (thousands)"), parts: bounds.map { (Self.boundNames[$0]!, Self.boundColors[$0]!) },
                    values: rows.map { row in bounds.map { $0 == row.bound ? Double(row.cycles) / 1e3 : 0 } })
            ]
        ).svg()
    }

    static let boundNames = [
        "matrix": "cycles, matrix-bound", "vector": "cycles, vector-bound", "dma": "cycles, DMA-bound",
        "host": "cycles, host-bound"
    ]
    static let boundColors = [
        "matrix": Palette.color(4), "vector": Palette.color(5), "dma": Palette.color(3), "host": Palette.color(7)
    ]

    /// Cycles against energy for every point; colour is the SRAM size, filled points are on the front.
    static func pareto(_ points: [ExplorePoint], title: String) -> String {
        let sizes = Set(points.map(\.setting.sramBytes)).sorted()
        let series = sizes.enumerated().map { k, size in
            Series(
                "\(Axis.binaryBytes(Double(size)))",
                points: points.filter { $0.setting.sramBytes == size }.map {
                    Series.Point(
                        x: Double($0.figures!.cycles) / 1e6, y: Double($0.figures!.energyFemtojoules) / 1e12,
                        hollow: !$0.pareto)
                }, style: .markers, color: Palette.color(k))
        }
        return XYChart(
            title: "\(title): cycles against energy, every point",
            subtitle: "filled: on the Pareto front (cycles, DRAM traffic, energy) of its SRAM size; hollow: dominated",
            x: Axis("cycles (millions)", fromZero: false), y: Axis("energy (mJ)", fromZero: false), series: series
        ).svg()
    }

    static func uniqueX(_ points: [Series.Point]) -> [Series.Point] {
        var seen = Set<Double>()
        return points.filter { seen.insert($0.x).inserted }
    }
}
