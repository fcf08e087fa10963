import Accelerator
import Foundation
import TestSupport
import Testing

@testable import DFCCommands

/// A real sweep of the bundled ResNet-8 at three SRAM sizes with the layer-by-layer baseline.
@Suite("dfc explore", .serialized)
struct ExploreTests {
    static let model = "Fixtures/demo/resnet8.onnx"
    static let sizes = ["128KiB", "256KiB", "512KiB"]

    static func sweep() -> ExploreSweep {
        var sweep = ExploreSweep(models: [DFCProcess.repoRoot.appendingPathComponent(model).path])
        sweep.sramSizes = sizes.map { AcceleratorConfig.parseSize($0)! }
        sweep.baseline = true
        return sweep
    }

    /// What `dfc compile --report` says for one point.
    static func report(sram: String, fusion: Bool, in folder: ScratchFolder) throws -> [String: Any] {
        let path = folder.path("report-\(sram)-\(fusion).json")
        let result = try DFCProcess.run(
            ["compile", model, "--sram", sram, "--report", path] + (fusion ? [] : ["--no-fusion"]))
        #expect(result.status == 0, "\(result.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("every point's numbers equal a compile of its own; a second run takes all from the cache")
    func sweepMatchesCompiles() throws {
        let folder = try ScratchFolder("explore")
        defer { folder.remove() }
        let cache = ExploreCache(directory: folder.path("cache"))
        let first = try Self.sweep().run(cache: cache)
        #expect((first.computed, first.cached) == (6, 0))
        #expect(first.points.map(\.setting.fusion) == [true, false, true, false, true, false])
        #expect(first.points.map(\.index) == Array(0..<6))
        for point in first.points {
            let figures = try #require(point.figures, "\(point.error ?? "")")
            let size = Self.sizes[point.index / 2]
            #expect(point.setting.sramBytes == AcceleratorConfig.parseSize(size)!)
            let report = try Self.report(sram: size, fusion: point.setting.fusion, in: folder)
            #expect(figures.dramBytes == report["predicted_dram_bytes"] as? Int)
            #expect(figures.dramWeightBytes == report["predicted_dram_weight_bytes"] as? Int)
            #expect(figures.dramActivationBytes == report["predicted_dram_activation_bytes"] as? Int)
            #expect(figures.compulsoryBytes == report["compulsory_bytes"] as? Int)
            #expect(figures.cycles == report["predicted_cycles"] as? Int)
            #expect(figures.layerFloorCycles == report["layer_floor_cycles"] as? Int)
            #expect(figures.energyFemtojoules == report["predicted_energy_fj"] as? Int)
            #expect(figures.rows.count == (report["layers"] as? [Any])?.count)
            #expect(
                figures.rows.map { $0.weightBytes + $0.activationReadBytes + $0.activationWriteBytes }.reduce(0, +)
                    == figures.dramBytes)
        }
        // The baseline point is the fused compile's own layer-by-layer program.
        for (fused, baseline) in zip(first.points.filter(\.setting.fusion), first.points.filter { !$0.setting.fusion })
        {
            #expect(fused.figures!.layerByLayer.dramBytes == baseline.figures!.dramBytes)
            #expect(fused.figures!.layerByLayer.cycles == baseline.figures!.cycles)
            #expect(fused.figures!.dramBytes < baseline.figures!.dramBytes)
        }
        #expect(try folder.entries("cache").filter { $0.hasSuffix(".json") }.count == 6)

        let second = try Self.sweep().run(cache: cache)
        #expect((second.computed, second.cached) == (0, 6))
        #expect(second.points == first.points)
        // Another objective is another point: only those miss.
        var extended = Self.sweep()
        extended.objectives = [.edp, .traffic]
        let third = try extended.run(cache: cache)
        #expect((third.computed, third.cached) == (6, 6))
        // The key is what the model is, not where: a copy elsewhere finds every point.
        try FileManager.default.copyItem(atPath: Self.sweep().models[0], toPath: folder.path("copy.onnx"))
        var copy = Self.sweep()
        copy.models = [folder.path("copy.onnx")]
        let fourth = try copy.run(cache: cache)
        #expect((fourth.computed, fourth.cached) == (0, 6))
        #expect(fourth.points.allSatisfy { $0.setting.model == folder.path("copy.onnx") })
    }

    @Test("the Pareto front: no marked point is dominated, every unmarked one is, per SRAM size")
    func pareto() throws {
        func point(_ sram: Int, _ cycles: Int, _ bytes: Int, _ energy: Int) -> ExplorePoint {
            let figures = ExplorePoint.Figures(
                dramBytes: bytes, dramWeightBytes: 0, dramActivationBytes: bytes, compulsoryBytes: 0, cycles: cycles,
                layerFloorCycles: 0, energyFemtojoules: energy,
                layerByLayer: .init(dramBytes: 0, cycles: 0, energyFemtojoules: 0), fusionFellBack: false, rows: [])
            var config = AcceleratorConfig.df1
            config.sramBytes = sram
            return ExplorePoint(
                index: 0,
                setting: .init(
                    model: "m", config: config, objective: "edp", fusion: true, maxGroupLength: 16, inputShapes: [:],
                    maxMemoryBytes: 1),
                figures: figures, error: nil, compileSeconds: 0, pareto: false)
        }
        var points = [
            point(1024, 10, 10, 10), point(1024, 5, 20, 10), point(1024, 10, 10, 11), point(1024, 10, 10, 10),
            point(2048, 50, 50, 50), point(1024, 11, 11, 11)
        ]
        ExplorePareto.mark(&points)
        // Equal points are both on the front; the one at 2 KiB is compared with nothing at 1 KiB.
        #expect(points.map(\.pareto) == [true, true, false, true, true, false])
    }

    @Test("a point that does not compile is a row saying why, with empty figures, off the front")
    func failedPoint() throws {
        var config = AcceleratorConfig.df1
        config.sramBytes = 1 << 17
        var point = ExplorePoint(
            index: 0,
            setting: .init(
                model: "dir/net.onnx", config: config, objective: "edp", fusion: true, maxGroupLength: 16,
                inputShapes: [:], maxMemoryBytes: 1),
            figures: nil, error: "conv_1: no tiling fits 131072 bytes, \"even\" one row", compileSeconds: 0.5,
            pareto: true)
        var points = [point]
        ExplorePareto.mark(&points)
        point = points[0]
        #expect(!point.pareto)
        let table = ExploreTable.text(points).split(separator: "\n")
        #expect(table[1].hasPrefix("net.onnx  128KiB"))
        #expect(table[1].hasSuffix("does not compile: conv_1: no tiling fits 131072 bytes, \"even\" one row"))
        let csv = ExploreTable.csv(points).split(separator: "\n")
        #expect(
            csv[1]
                == "dir/net.onnx,131072,32,32x32,edp,true,,,,,,,,0.500,false,\"conv_1: no tiling fits 131072 bytes, \"\"even\"\" one row\""
        )
    }

    @Test("table, CSV and JSON from the command line carry the sweep's numbers; plots are valid SVG")
    func commandOutputs() throws {
        let folder = try ScratchFolder("explore-cli")
        defer { folder.remove() }
        let direct = try Self.sweep().run(cache: nil)
        let result = try DFCProcess.run(
            [
                "explore", Self.model, "--sram", "128KiB..512KiB", "--no-fusion", "--cache", folder.path("cache"),
                "--csv", folder.path("sweep.csv"), "--json", folder.path("sweep.json"), "--plots", folder.path("plots")
            ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "progress goes to a terminal only")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 7)
        #expect(lines[0].hasPrefix("model"))
        let csv = try String(contentsOfFile: folder.path("sweep.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 7)
        let header = csv[0].split(separator: ",").map(String.init)
        for (line, point) in zip(csv.dropFirst(), direct.points) {
            let cells = Dictionary(
                uniqueKeysWithValues: zip(
                    header, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
            #expect(cells["dram_bytes"] == "\(point.figures!.dramBytes)")
            #expect(cells["cycles"] == "\(point.figures!.cycles)")
            #expect(cells["energy_fj"] == "\(point.figures!.energyFemtojoules)")
            #expect(cells["sram_bytes"] == "\(point.setting.sramBytes)")
            #expect(cells["pareto"] == "\(point.pareto)")
            // The table row: the same traffic in MB and the Pareto mark.
            let row = lines[point.index + 1]
            #expect(row.contains(String(format: "%.2f", Double(point.figures!.dramBytes) / 1e6)))
            #expect(row.hasSuffix("*") == point.pareto)
        }
        let json = try JSONDecoder().decode(
            Document.self, from: Data(contentsOf: URL(fileURLWithPath: folder.path("sweep.json"))))
        #expect(json.points.map(\.figures) == direct.points.map(\.figures))
        #expect(
            try folder.entries("plots") == [
                "resnet8-breakdown.svg", "resnet8-cycles.svg", "resnet8-pareto.svg", "resnet8-traffic.svg"
            ])
        var svgs: [String: ParsedSVG] = [:]
        for name in try folder.entries("plots") {
            let text = try String(contentsOfFile: folder.path("plots/\(name)"), encoding: .utf8)
            svgs[name] = try ParsedSVG(text)
            #expect(try SVGRenderer.png(text).map { $0.starts(with: [0x89, 0x50, 0x4E, 0x47]) } ?? true, "\(name)")
        }
        // Traffic: the fused line, the layer-by-layer line and the compulsory floor, at each SRAM size.
        let traffic = try #require(svgs["resnet8-traffic.svg"])
        func values(_ svg: ParsedSVG, series: String, _ key: String) -> [Double] {
            var inside = false
            var found: [Double] = []
            for element in svg.elements {
                if element.name == "g" { inside = element.attributes["data-name"] == series }
                if inside, element.name == "circle", let value = element.attributes[key] {
                    found.append(Double(value)!)
                }
            }
            return found
        }
        let fused = direct.points.filter(\.setting.fusion), baseline = direct.points.filter { !$0.setting.fusion }
        #expect(values(traffic, series: "fused", "data-y") == fused.map { Double($0.figures!.dramBytes) / 1e6 })
        #expect(values(traffic, series: "fused", "data-x") == [131072, 262144, 524288])
        #expect(
            values(traffic, series: "layer by layer", "data-y") == baseline.map { Double($0.figures!.dramBytes) / 1e6 })
        let xAxis = try #require(traffic.all("g").first { $0.attributes["class"] == "axis x" })
        #expect(xAxis.attributes["data-label"] == "SRAM size")
        #expect(
            traffic.all("text", class: "tick-label").filter { $0.group == "axis x" }.map(\.text) == [
                "128 KiB", "256 KiB", "512 KiB"
            ])
        let yAxis = try #require(traffic.all("g").first { $0.attributes["class"] == "axis y" })
        #expect(Double(yAxis.attributes["data-max"]!)! >= baseline.map { Double($0.figures!.dramBytes) / 1e6 }.max()!)
        #expect(yAxis.attributes["data-label"] == "DRAM traffic (MB)")
        // Cycles: fused and layer by layer against the layer floor.
        let cycles = try #require(svgs["resnet8-cycles.svg"])
        #expect(values(cycles, series: "fused", "data-y") == fused.map { Double($0.figures!.cycles) / 1e6 })
        // The breakdown is the middle size's fused program, its parts summing to its traffic.
        let breakdown = try #require(svgs["resnet8-breakdown.svg"])
        let middle = fused[1].figures!
        let bars = breakdown.all("rect", class: "bar")
        let bytes = bars.filter { !$0.attributes["data-part"]!.hasPrefix("cycles") }
        let total = bytes.map { Double($0.attributes["data-value"]!)! }.reduce(0, +)
        #expect(abs(total - Double(middle.dramBytes) / 1e6) < 1e-9)
        #expect(Set(bytes.map { $0.attributes["data-bar"]! }).count <= middle.rows.count)
        // Cycles: one bar per row with cycles, coloured by what bounds the row.
        let cycleBars = bars.filter { $0.attributes["data-part"]!.hasPrefix("cycles") }
        #expect(cycleBars.count == middle.rows.filter { $0.cycles > 0 }.count)
        for bar in cycleBars {
            let row = middle.rows[Int(bar.attributes["data-bar"]!)!]
            #expect(Double(bar.attributes["data-value"]!)! == Double(row.cycles) / 1e3)
            #expect(bar.attributes["data-part"] == ExplorePlots.boundNames[row.bound])
        }
        #expect(Set(middle.rows.map(\.bound)).isSubset(of: ["matrix", "vector", "dma", "host"]))
        // Pareto: one marker per point, filled exactly on the front.
        let pareto = try #require(svgs["resnet8-pareto.svg"])
        let markers = pareto.all("circle", class: "point")
        #expect(markers.count == direct.points.count)
        #expect(markers.filter { $0.attributes["fill"] != "white" }.count == direct.points.filter(\.pareto).count)
    }

    @Test("progress goes to stderr on a terminal: points done, elapsed, time left")
    func progressOnTerminal() throws {
        // script(1) gives dfc a pseudo-terminal for its output.
        let script = "/usr/bin/script"
        try #require(FileManager.default.isExecutableFile(atPath: script), "script (util-linux) is needed")
        let command = "'\(DFCProcess.binary.path)' explore \(Self.model) --sram 128KiB,256KiB --no-cache >/dev/null"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = ["-qec", command, "/dev/null"]
        process.currentDirectoryURL = DFCProcess.repoRoot
        let output = Pipe()
        (process.standardOutput, process.standardError) = (output, output)
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("\r0/2 points, 0 s") && text.contains("2/2 points, "), "\(text)")
        #expect(text.contains("1/2 points, ") && text.contains(" s left"), "\(text)")
    }

    @Test("SHA-256 matches the standard's test vectors, however the bytes arrive")
    func sha256() {
        func digest(_ parts: [[UInt8]]) -> String {
            var hash = SHA256()
            for part in parts { hash.update(part) }
            return hash.hexDigest()
        }
        #expect(digest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest([Array("abc".utf8)]) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(digest([long]) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(digest([Array(long[..<3]), Array(long[3..<50]), Array(long[50...])]) == digest([long]))
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(digest([million]) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        let pieces = [million[..<100], million[100..<700], million[700..<764], million[764...]].map(Array.init)
        #expect(digest(pieces) == digest([million]))
    }

    struct Document: Decodable { var points: [ExplorePoint] }

    @Test("--emit-makefile under make -j2, then --merge, gives the direct sweep's table")
    func makefile() throws {
        let make = ["/usr/bin/make", "/bin/make"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try #require(make != nil, "make is needed")
        let folder = try ScratchFolder("explore-make")
        defer { folder.remove() }
        let sweep = ["explore", Self.model, "--sram", "128KiB..512KiB", "--no-fusion"]
        let direct = try DFCProcess.run(sweep + ["--no-cache", "--csv", folder.path("direct.csv")])
        #expect(direct.status == 0, "\(direct.stderr)")
        let emitted = try DFCProcess.run(
            sweep + [
                "--cache", folder.path("cache"), "--emit-makefile", folder.path("Makefile"), "--points-dir",
                folder.path("points")
            ])
        #expect(emitted.status == 0, "\(emitted.stderr)")
        #expect(emitted.stdout.isEmpty)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: make!)
        process.arguments = ["-j2", "-f", folder.path("Makefile"), "DFC=\(DFCProcess.binary.path)"]
        process.currentDirectoryURL = DFCProcess.repoRoot
        let output = Pipe()
        (process.standardOutput, process.standardError) = (output, output)
        try process.run()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(log)")
        let points = try folder.entries("points")
        #expect(points == (0..<6).map { "point-\($0).json" })
        #expect(try folder.entries("cache").filter { $0.hasSuffix(".json") }.count == 6)
        let merged = try DFCProcess.run(
            ["explore", "--merge"] + points.reversed().map { folder.path("points/\($0)") } + [
                "--csv", folder.path("merged.csv")
            ])
        #expect(merged.status == 0, "\(merged.stderr)")
        // Everything but the compile time.
        func table(_ name: String) throws -> [[Substring]] {
            try String(contentsOfFile: folder.path(name), encoding: .utf8).split(separator: "\n").map { line in
                var cells = line.split(separator: ",", omittingEmptySubsequences: false)
                cells.remove(at: ExploreTable.columns.firstIndex(of: "compile_seconds")!)
                return cells
            }
        }
        #expect(try table("merged.csv") == table("direct.csv"))
        #expect(try table("merged.csv").count == 7)
    }

    @Test(
        "bad sweeps give one error line",
        arguments: [
            (["--sram", "100KiB..1MiB"], "a range starts at a power of two"),
            (["--sram", "1MiB..128KiB"], "expected a size like 512KiB or a range"),
            (["--bandwidth", "8,x"], "positive integers"),
            (["--objective", "speed"], "expected one of"),
            (["--accel", "nope"], "unknown accelerator"),
            (["--sram", "16"], "sram"),
            (["--max-group-length", "1"], "expected a number from 2 to 4096")
        ])
    func badSweep(extra: [String], message: String) throws {
        let result = try DFCProcess.run(["explore", Self.model, "--no-cache"] + extra)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("dfc: error: ") && result.stderr.contains(message), "\(result.stderr)")
    }

    @Test("a missing model and a bad point file are named")
    func badFiles() throws {
        let missing = try DFCProcess.run(["explore", "does_not_exist.onnx", "--no-cache"])
        #expect(missing.status != 0 && missing.stderr.contains("does_not_exist.onnx"))
        #expect(missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
        let merge = try DFCProcess.run(["explore", "--merge", Self.model])
        #expect(merge.status == 1 && merge.stderr.contains("not a point file"), "\(merge.stderr)")
    }
}
