import Foundation
import GraphIR
import GraphPasses
import ONNXImport
import TestSupport
import Testing
@testable import Accelerator

/// `dfc disasm` and `dfc report` on real compiled programs: the bundled
/// ResNet-8 always, ResNet-18 when the bench models are there (`make bench-models`).
@Suite struct DisasmReportTests {
    static let resnet18 = TestPaths.repository.appendingPathComponent(".cache/bench/resnet18.onnx").path

    /// A compiled model: the program, its report and the ONNX op of every layer.
    struct Compiled {
        let scratch: ScratchFolder
        let dfx: String, report: String
        let program: Program
        let json: [String: Any]
        let ops: [String: String]
        /// Each layer's inputs and outputs, from the model.
        let values: [String: Set<String>]
        let reportText: String
    }

    static func compile(_ model: String, _ extra: [String] = []) throws -> Compiled {
        let s = try ScratchFolder("dfc-disasm")
        let dfx = s.path("p.dfx"), report = s.path("report.json")
        let result = try DFCProcess.run(["compile", model, "-o", dfx, "--report", report] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        let text = try String(contentsOfFile: report, encoding: .utf8)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        var ops: [String: String] = [:]
        for row in json["layers"] as! [[String: Any]] {
            for layer in row["per_layer"] as? [[String: Any]] ?? [row] {
                ops[layer["node"] as! String] = layer["op"] as? String
            }
        }
        // The graph the compiler saw: imported, then through the pass pipeline.
        var graph = try ONNXImporter.load(path: model)
        try PassManager().run(&graph, options: CompileOptions())
        let values = Dictionary(
            graph.nodes.map { ($0.name, Set($0.inputs + $0.outputs)) }, uniquingKeysWith: { $0.union($1) })
        return Compiled(
            scratch: s, dfx: dfx, report: report, program: try Program.read(from: dfx), json: json, ops: ops,
            values: values, reportText: text)
    }

    /// Every instruction names exactly one ONNX layer, and a compute instruction's layer is of its kind.
    static func checkTags(_ c: Compiled) {
        let p = c.program
        #expect(p.debugNames.allSatisfy { $0.count == 1 }, "one layer per instruction")
        for (instruction, names) in zip(p.instructions, p.debugNames) {
            guard let name = names.first, let op = c.ops[name] else {
                Issue.record("instruction tagged \(names), not a layer of the report")
                continue
            }
            switch instruction.opcode {
            case .conv: #expect(op == "Conv", "CONV tagged with \(name) (\(op))")
            case .matmul: #expect(["Gemm", "MatMul"].contains(op), "MATMUL tagged with \(name) (\(op))")
            case .pool: #expect(op.hasSuffix("Pool"), "POOL tagged with \(name) (\(op))")
            default: break
            }
        }
        // Every DRAM address names a region its layer reads or writes (or a constant derived for it).
        var inputsAndOutputs: [String: Set<String>] = [:]
        for (name, values) in c.values { inputsAndOutputs[name] = values }
        for (i, instruction) in p.instructions.enumerated() where !instruction.dramAddresses.isEmpty {
            let layer = p.debugNames[i][0]
            #expect(p.dramReferences[i].count == instruction.dramAddresses.count, "instruction \(i)")
            for k in p.dramReferences[i] {
                let region = p.dramRegions[k].name
                #expect(
                    inputsAndOutputs[layer]?.contains(region) == true || region.hasPrefix(layer + "#"),
                    "instruction \(i) of \(layer) names \(region)")
            }
        }
        // Inside each fused row, the layers' instructions and bytes add up to the row's.
        for row in c.json["layers"] as! [[String: Any]] {
            guard let layers = row["per_layer"] as? [[String: Any]] else { continue }
            #expect(layers.reduce(0) { $0 + ($1["instructions"] as! Int) } == row["instructions"] as! Int)
            #expect(layers.reduce(0) { $0 + ($1["dram_read_bytes"] as! Int) } == row["dram_read_bytes"] as! Int)
            #expect(layers.filter { ($0["instructions"] as! Int) > 0 }.count > 1)
        }
    }

    /// The report's rows and groups: cycles that add up, bounds, no escaped slashes, the whole config.
    static func checkReport(_ c: Compiled) {
        let json = c.json
        #expect(!c.reportText.contains("\\/"))
        let config = json["accelerator_config"] as! [String: Any]
        for key in AcceleratorConfig.CodingKeys.allCases { #expect(config[key.rawValue] != nil, "\(key.rawValue)") }
        let rows = json["layers"] as! [[String: Any]]
        var exclusive = 0
        for row in rows {
            let cycles = row["cycles"] as! Int
            #expect(cycles == (row["overlap_cycles"] as! Int) + (row["exclusive_cycles"] as! Int))
            exclusive += row["exclusive_cycles"] as! Int
            let bound = row["bound"] as! String
            #expect(["compute", "dma", "host"].contains(bound) || (bound == "none" && row["instructions"] as! Int == 0))
        }
        #expect(exclusive == json["predicted_cycles"] as! Int, "the rows' exclusive cycles add up to the program's")
        let byNode = Dictionary(rows.map { ($0["node"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        let groups = json["groups"] as? [[String: Any]] ?? []
        for group in groups {
            let row = byNode[(group["layers"] as! [String]).joined(separator: "+")]!
            #expect(group["program_cycles"] as! Int == row["cycles"] as! Int)
            #expect(
                group["program_cycles"] as! Int - (group["predicted_cycles"] as! Int) == group["context_cycles"] as! Int
            )
            let busy = group["matrix_busy_fraction"] as! Double
            #expect(busy >= 0 && busy <= 1)
            #expect(["compute", "dma"].contains(group["bound"] as! String))
            #expect((group["per_layer"] as! [Any]).count == (group["layers"] as! [String]).count)
        }
    }

    /// The listing: bounded lines, named DRAM, filters, timing and the summary.
    static func checkDisasm(_ c: Compiled) throws {
        let p = c.program
        let listing = try DFCProcess.run(["disasm", c.dfx])
        #expect(listing.status == 0, "\(listing.stderr)")
        let lines = listing.stdout.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= 120 }, "longest line \(lines.map(\.count).max()!)")
        // Instruction lines start with the index; continuation lines with spaces beyond it.
        let width = String(p.instructions.count - 1).count
        let heads = lines.filter { !$0.hasPrefix(";") && $0.prefix(width).last != " " }
        #expect(heads.count == p.instructions.count)
        let input = p.inputs[0].name, output = p.outputs[0].name
        #expect(listing.stdout.contains("dram=\(input)") || listing.stdout.contains("dram=\(input)+"))
        #expect(!listing.stdout.contains("dram=constants+") && !listing.stdout.contains("dram=work+"))
        // A reference to a region that does not exist is refused by the decoder and the validator.
        var broken = p
        broken.dramReferences[0] = [p.dramRegions.count]
        #expect(throws: ProgramError.self) { try broken.validate() }
        let error = #expect(throws: ProgramError.self) { try Program(decoding: broken.encoded()) }
        #expect(error?.message.contains("DRAM region index") == true)
        #expect(listing.stdout.contains("=\(output) "), "a STORE or host instruction writes the output by name")

        // --node: exactly that layer's instructions.
        let conv = try #require(c.ops.first { $0.value == "Conv" }?.key)
        let node = try DFCProcess.run(["disasm", c.dfx, "--node", conv, "--raw"])
        let mine = node.stdout.split(separator: "\n").filter { !$0.hasPrefix(";") }
        #expect(mine.count == p.debugNames.filter { $0 == [conv] }.count)
        #expect(mine.allSatisfy { $0.hasSuffix("  ; \(conv)") })

        // --range with --timing: the timing model's cycles of exactly those instructions.
        let schedule = p.config.schedule(p.instructions, constantsBytes: p.constants.count).schedule
        let ranged = try DFCProcess.run(["disasm", c.dfx, "--range", "10..14", "--timing", "--raw"])
        let timed = ranged.stdout.split(separator: "\n").filter { !$0.hasPrefix(";") }
        #expect(timed.count == 4)
        for (k, line) in timed.enumerated() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            #expect(Int(fields[0]) == 10 + k)
            let cycles = line.drop { $0 != "[" }.dropFirst().prefix { $0 != ")" }.split(separator: ",")
            #expect(
                cycles.map { Int($0.trimmingCharacters(in: .whitespaces)) } == [
                    schedule[10 + k].start, schedule[10 + k].end
                ])
        }

        // --summary: per-engine counts and busy cycles are the timing model's.
        let stats = p.config.schedule(p.instructions, constantsBytes: p.constants.count).stats
        let summary = try DFCProcess.run(["disasm", c.dfx, "--summary"])
        #expect(summary.status == 0, "\(summary.stderr)")
        // Sections: the counts line, then the engine, opcode and layer tables.
        let sections = summary.stdout.split(separator: "\n\n")
        try #require(sections.count == 4)
        let engineRows = sections[1].split(separator: "\n").dropFirst()
        #expect(engineRows.map { $0.prefix { $0 != " " } } == ["load", "matrix", "vector", "store", "host"])
        let busy = [stats.loadBusyCycles, stats.matrixBusyCycles, stats.vectorBusyCycles, stats.storeBusyCycles]
        for (row, cycles) in zip(engineRows, busy) {
            #expect(row.split(separator: " ").map(String.init).contains(String(cycles)), "\(row)")
        }
        #expect(summary.stdout.contains("\(p.instructions.count) of \(p.instructions.count) instructions"))
        let convSummary = try DFCProcess.run(["disasm", c.dfx, "--summary", "--node", conv])
        #expect(convSummary.stdout.contains("\n\(conv) "))

        // Bad filters: one error line, nothing printed.
        let missing = try DFCProcess.run(["disasm", c.dfx, "--node", "no such layer"])
        #expect(missing.status == 1 && missing.stdout.isEmpty)
        #expect(missing.stderr == "dfc: error: \(c.dfx): no instruction computes a layer named 'no such layer'\n")
        let backwards = try DFCProcess.run(["disasm", c.dfx, "--range", "9..3"])
        #expect(backwards.status != 0 && backwards.stdout.isEmpty && backwards.stderr.contains("--range"))
    }

    /// `dfc report` in its three formats: one record per ONNX layer, the groups, no escaped slashes.
    static func checkReportCommand(_ c: Compiled) throws {
        let csv = try DFCProcess.run(["report", c.report, "--format", "csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let records = csv.stdout.split(separator: "\n")
        #expect(records.count == 1 + c.ops.count, "a header, then one line per ONNX layer")
        #expect(records[0].hasPrefix("row,group,node,op,instructions,"))
        let groups = c.json["groups"] as? [[String: Any]] ?? []
        let json = try DFCProcess.run(["report", c.report, "--format", "json", "--table", "groups"])
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(objects.count == groups.count)
        #expect(!json.stdout.contains("\\/"))
        let table = try DFCProcess.run(["report", c.report])
        #expect(table.status == 0, "\(table.stderr)")
        for name in c.ops.keys { #expect(table.stdout.contains(" \(name) "), "\(name) has a line") }
        if !groups.isEmpty { #expect(table.stdout.contains("\ngroups\n")) }
        let bad = try DFCProcess.run(["report", c.dfx])
        #expect(bad.status == 1 && bad.stdout.isEmpty && bad.stderr.hasPrefix("dfc: error: \(c.dfx): "))
    }

    @Test func resNet8() throws {
        let c = try Self.compile("Fixtures/demo/resnet8.onnx")
        defer { c.scratch.remove() }
        Self.checkTags(c)
        Self.checkReport(c)
        try Self.checkDisasm(c)
        try Self.checkReportCommand(c)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: resnet18)))
    func resNet18() throws {
        let c = try Self.compile(Self.resnet18)
        defer { c.scratch.remove() }
        Self.checkTags(c)
        Self.checkReport(c)
        try Self.checkDisasm(c)
        try Self.checkReportCommand(c)
    }

    /// With `--accel FILE.json` the report records every resolved field, not a preset name.
    @Test func reportRecordsTheResolvedConfig() throws {
        let s = try ScratchFolder("dfc-accel")
        defer { s.remove() }
        let accel = s.path("half.json")
        try Data(#"{"base": "df1", "name": "half", "dram_bytes_per_cycle": 16, "sram_bytes": 524288}"#.utf8)
            .write(to: URL(fileURLWithPath: accel))
        let c = try Self.compile("Fixtures/demo/resnet8.onnx", ["--accel", accel])
        defer { c.scratch.remove() }
        let config = c.json["accelerator_config"] as! [String: Any]
        #expect(config["name"] as? String == "half")
        #expect(config["dram_bytes_per_cycle"] as? Int == 16 && config["sram_bytes"] as? Int == 524288)
        #expect(config["matrix_input_lanes"] as? Int == AcceleratorConfig.df1.matrixInputLanes)
        #expect(config["energy"] is [String: Any])
    }

    /// The fuse and tile dumps list one layer per line: at two SRAM sizes the
    /// layer lines are the same, in graph order, and only group lines differ.
    @Test func dumpsListOneLayerPerLine() throws {
        func layerLines(_ sram: String) throws -> (fuse: [String], tile: [String]) {
            let r = try DFCProcess.run(["compile", "Fixtures/demo/resnet8.onnx", "--sram", sram, "--dump-ir=fuse,tile"])
            #expect(r.status == 0, "\(r.stderr)")
            let tile = try #require(r.stdout.range(of: "// schedule after tile"))
            func layers(_ text: Substring) -> [String] {
                text.split(separator: "\n").compactMap { line -> String? in
                    if line.hasPrefix("  layer ") {
                        return String(line.dropFirst(8).prefix { $0 != " " && $0 != ":" })
                    }
                    if line.hasPrefix("    - ") { return String(line.dropFirst(6)) }
                    if line.hasPrefix("    ") && !line.hasPrefix("    DRAM ") { return String(line.dropFirst(4)) }
                    return nil
                }
            }
            return (layers(r.stdout[..<tile.lowerBound]), layers(r.stdout[tile.lowerBound...]))
        }
        let big = try layerLines("1MiB"), small = try layerLines("128KiB")
        #expect(big.fuse.count > 10)
        #expect(big.fuse == small.fuse && big.tile == small.tile && big.fuse == big.tile)
        #expect(Set(big.fuse).count == big.fuse.count, "each layer once")
    }
}
