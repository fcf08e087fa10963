import Accelerator
import ArgumentParser
import Foundation
import Tensors

/// `dfc report`: the tables of a `--report` JSON file, for people or spreadsheets.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the per-group and per-layer tables of a --report JSON file.",
        discussion: HelpText.discussion(
            """
            table: the totals, one row per fusion group, then one row per program row (a single layer or a \
            fusion group) with each group's ONNX layers under it. csv and json: one record per ONNX layer \
            (--table layers) or per fusion group (--table groups).
            """,
            examples: [
                ("the tables of a compile's report", "dfc report report.json"),
                (
                    "one CSV record per fusion group, for a spreadsheet",
                    "dfc report report.json --format csv --table groups"
                )
            ]))

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, csv, json
    }

    enum Table: String, ExpressibleByArgument, CaseIterable {
        case layers, groups
    }

    @Argument(help: "A report written by `dfc compile --report`.")
    var file: String

    @Option(help: "table, csv or json.")
    var format: Format = .table

    @Option(help: "For csv and json: one record per ONNX layer (layers) or per fusion group (groups).")
    var table: Table = .layers

    func run() throws {
        let text = try ReportTables(file: file).render(format, table: table)
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// The records of a report, read once and printed in any format.
struct ReportTables {
    /// The whole report.
    let report: [String: Any]
    /// One record per ONNX layer: its program row, group, bytes and cycles.
    var layers: [[(String, Any)]] = []
    /// One record per fusion group.
    var groups: [[(String, Any)]] = []

    static let engines = ["load", "matrix", "vector", "store", "host", "dram_channel"]

    init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw DFCError("cannot read the file", file: file, kind: .io)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let rows = object["layers"] as? [[String: Any]]
        else {
            throw DFCError("not a report of `dfc compile --report` (no \"layers\" array)", file: file)
        }
        report = object
        let groupRows = object["groups"] as? [[String: Any]] ?? []
        var groupOf: [String: Int] = [:]
        for (k, group) in groupRows.enumerated() {
            for name in group["layers"] as? [String] ?? [] { groupOf[name] = k + 1 }
        }
        func busy(_ row: [String: Any]) -> [(String, Any)] {
            let cycles = row["busy_cycles"] as? [String: Any] ?? [:]
            return Self.engines.map { ("\($0)_busy_cycles", cycles[$0] ?? 0) }
        }
        for (index, row) in rows.enumerated() {
            let members = row["per_layer"] as? [[String: Any]]
            for layer in members ?? [row] {
                let node = layer["node"] as? String ?? ""
                let shared: [(String, Any)] = [
                    ("row", index), ("group", groupOf[node].map { $0 as Any } ?? ""), ("node", node),
                    ("op", layer["op"] ?? ""), ("instructions", layer["instructions"] ?? 0),
                    ("dram_read_bytes", layer["dram_read_bytes"] ?? 0),
                    ("dram_write_bytes", layer["dram_write_bytes"] ?? 0), ("macs", layer["macs"] ?? 0),
                    ("cycles", layer["cycles"] ?? 0), ("bound_by", layer["bound_by"] ?? "")
                ]
                layers.append(shared + busy(layer))
            }
        }
        for (k, group) in groupRows.enumerated() {
            let names = group["layers"] as? [String] ?? []
            groups.append([
                ("group", k + 1), ("layers", names.count), ("first", names.first ?? ""), ("last", names.last ?? ""),
                ("predicted_dram_bytes", group["predicted_dram_bytes"] ?? 0),
                ("predicted_cycles", group["predicted_cycles"] ?? 0),
                ("program_cycles", group["program_cycles"] ?? ""), ("overlap_cycles", group["overlap_cycles"] ?? ""),
                ("layer_by_layer_dram_bytes", group["layer_by_layer_dram_bytes"] ?? 0),
                ("layer_by_layer_cycles", group["layer_by_layer_cycles"] ?? 0), ("bound", group["bound"] ?? ""),
                ("matrix_busy_fraction", group["matrix_busy_fraction"] ?? ""), ("tiling", group["tiling"] ?? "")
            ])
        }
    }

    func render(_ format: Report.Format, table: Report.Table) throws -> String {
        let records = table == .layers ? layers : groups
        switch format {
        case .csv:
            guard let first = records.first else { return "" }
            let header = first.map(\.0).joined(separator: ",")
            return ([header] + records.map { $0.map { Self.csvField(Self.text($0.1)) }.joined(separator: ",") })
                .joined(separator: "\n") + "\n"
        case .json:
            let objects = records.map { Dictionary($0, uniquingKeysWith: { a, _ in a }) }
            let data = try JSONSerialization.data(
                withJSONObject: objects, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            return String(decoding: data, as: UTF8.self) + "\n"
        case .table:
            return tables()
        }
    }

    /// The totals, the groups and the program rows as aligned text.
    func tables() -> String {
        func int(_ key: String, _ object: [String: Any] = [:]) -> Int {
            ((object.isEmpty ? report : object)[key] as? NSNumber)?.intValue ?? 0
        }
        var out = "model \(report["model"] ?? "?"), accelerator \(report["accelerator"] ?? "?")"
        if let c = report["accelerator_config"] as? [String: Any] {
            out +=
                " (sram \(c["sram_bytes"] ?? "?") B, matrix \(c["matrix_input_lanes"] ?? "?")x"
                + "\(c["matrix_output_lanes"] ?? "?"), dram \(c["dram_bytes_per_cycle"] ?? "?") B/cycle)"
        }
        out += "\npredicted \(int("predicted_dram_bytes")) DRAM bytes (compulsory \(int("compulsory_bytes"))), "
        out += "\(int("predicted_cycles")) cycles, \(int("instructions")) instructions\n"
        if !groups.isEmpty {
            out += "\ngroups\n"
            out += textTable(
                [
                    "#", "layers", "first", "last", "DRAM bytes", "cycles", "in program", "overlap", "LbL bytes",
                    "LbL cycles", "bound", "matrix busy"
                ],
                groups.map { g in g.prefix(12).map { Self.text($0.1) } })
        }
        out += "\nrows (a fusion group's ONNX layers under it; cycles of a layer: its busiest engine)\n"
        let rows = report["layers"] as? [[String: Any]] ?? []
        var lines: [[String]] = []
        for (index, row) in rows.enumerated() {
            let members = row["per_layer"] as? [[String: Any]] ?? []
            let name = members.isEmpty ? Self.text(row["node"] ?? "") : "group of \(members.count) layers"
            lines.append(
                [
                    "\(index)", name, Self.text(row["op"] ?? ""), "\(int("instructions", row))",
                    "\(int("dram_read_bytes", row) + int("dram_write_bytes", row))", "\(int("cycles", row))",
                    Self.text(row["overlap_cycles"] ?? ""), Self.text(row["bound"] ?? "")
                ])
            for m in members {
                lines.append(
                    [
                        "", "  " + Self.text(m["node"] ?? ""), Self.text(m["op"] ?? ""), "\(int("instructions", m))",
                        "\(int("dram_read_bytes", m) + int("dram_write_bytes", m))", "\(int("cycles", m))", "",
                        Self.text(m["bound_by"] ?? "")
                    ])
            }
        }
        out += textTable(["row", "node", "op", "instructions", "DRAM bytes", "cycles", "overlap", "bound"], lines)
        return out
    }

    static func text(_ value: Any) -> String {
        if !(value is String), let n = value as? NSNumber {
            let d = n.doubleValue
            if d != d.rounded() { return String(format: "%.3f", d) }
            return String(n.int64Value)
        }
        return "\(value)"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
