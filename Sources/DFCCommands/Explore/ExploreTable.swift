import Foundation
import Tensors

/// The Pareto front over cycles, DRAM bytes and energy.
public enum ExplorePareto {
    /// Marks each point no other point of the same model and SRAM size beats
    /// or equals in all three figures while beating it in one.
    public static func mark(_ points: inout [ExplorePoint]) {
        for k in points.indices {
            guard let p = points[k].figures else {
                points[k].pareto = false
                continue
            }
            points[k].pareto = !points.contains { other in
                guard let q = other.figures, other.setting.model == points[k].setting.model,
                    other.setting.sramBytes == points[k].setting.sramBytes
                else { return false }
                let noWorse =
                    q.cycles <= p.cycles && q.dramBytes <= p.dramBytes && q.energyFemtojoules <= p.energyFemtojoules
                let better =
                    q.cycles < p.cycles || q.dramBytes < p.dramBytes || q.energyFemtojoules < p.energyFemtojoules
                return noWorse && better
            }
        }
    }
}

/// The sweep as a table for people, CSV for spreadsheets and JSON for scripts.
public enum ExploreTable {
    static let columns = [
        "model", "sram_bytes", "dram_bytes_per_cycle", "array", "objective", "fusion", "dram_bytes",
        "dram_weight_bytes", "dram_activation_bytes", "compulsory_bytes", "cycles", "layer_floor_cycles", "energy_fj",
        "compile_seconds", "pareto", "error"
    ]

    /// One line per point, columns aligned; `*` marks the Pareto front.
    public static func text(_ points: [ExplorePoint]) -> String {
        let header = [
            "model", "SRAM", "B/cycle", "array", "objective", "fusion", "DRAM MB", "weights MB", "activ. MB",
            "compulsory MB", "Mcycles", "floor Mcycles", "energy mJ", "compile s", "pareto"
        ]
        var rows = [header]
        for point in points {
            let s = point.setting
            var row = [
                (s.model as NSString).lastPathComponent, ExploreUnits.size(s.sramBytes), "\(s.bandwidth)", s.array,
                s.objective, s.fusion ? "fused" : "layers"
            ]
            if let f = point.figures {
                row += [
                    ExploreUnits.megabytes(f.dramBytes), ExploreUnits.megabytes(f.dramWeightBytes),
                    ExploreUnits.megabytes(f.dramActivationBytes), ExploreUnits.megabytes(f.compulsoryBytes),
                    String(format: "%.3f", Double(f.cycles) / 1e6),
                    String(format: "%.3f", Double(f.layerFloorCycles) / 1e6),
                    String(format: "%.3f", Double(f.energyFemtojoules) / 1e12),
                    String(format: "%.1f", point.compileSeconds), point.pareto ? "*" : ""
                ]
            } else {
                row += ["does not compile: " + DFCError.oneLine(point.error ?? "")]
            }
            rows.append(row)
        }
        let widths = header.indices.map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max()! }
        // Text columns to the left, numbers to the right.
        let leftAligned: Set<Int> = [0, 3, 4, 5, 14]
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: max(0, widths[column] - cell.count))
                return column == row.count - 1 && row.count < header.count
                    ? cell : leftAligned.contains(column) ? cell + pad : pad + cell
            }.joined(separator: "  ").replacingOccurrences(of: #"\s+$"#, with: "", options: .regularExpression)
        }.joined(separator: "\n") + "\n"
    }

    public static func csv(_ points: [ExplorePoint]) -> String {
        var lines = [columns.joined(separator: ",")]
        for point in points {
            let s = point.setting, f = point.figures
            let numbers = [
                f?.dramBytes, f?.dramWeightBytes, f?.dramActivationBytes, f?.compulsoryBytes, f?.cycles,
                f?.layerFloorCycles, f?.energyFemtojoules
            ].map { $0.map(String.init) ?? "" }
            let cells =
                [
                    quote(s.model), "\(s.sramBytes)", "\(s.bandwidth)", s.array, s.objective, "\(s.fusion)"
                ] + numbers + [
                    String(format: "%.3f", point.compileSeconds), "\(point.pareto)", quote(point.error ?? "")
                ]
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func json(_ points: [ExplorePoint]) throws -> Data {
        struct Document: Encodable {
            var dfcVersion: String
            var points: [ExplorePoint]
            enum CodingKeys: String, CodingKey {
                case dfcVersion = "dfc_version"
                case points
            }
        }
        return try ExploreCache.encoder.encode(Document(dfcVersion: DFCVersion.string, points: points))
    }

    /// A CSV field, quoted when it holds a comma, a quote or a line break.
    static func quote(_ field: String) -> String {
        guard field.contains(where: { ",\"\n\r".contains($0) }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

enum ExploreUnits {
    /// SRAM sizes as the command line takes them: 512KiB, 2MiB.
    static func size(_ bytes: Int) -> String {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)]
        where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.2f", Double(bytes) / 1e6) }
}
