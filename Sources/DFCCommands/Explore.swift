import Accelerator
import ArgumentParser
import Compiler
import Foundation
import Tensors

/// `dfc explore`: compile models over ranges of accelerator settings and
/// show what each point costs, as a table, CSV, JSON and SVG plots.
struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sweep SRAM size, DRAM bandwidth, array size and objective; tables, CSV, JSON and SVG plots.",
        discussion: HelpText.discussion(
            """
            Every combination of the swept values is compiled, for every model, on all cores. Finished points \
            are cached (by a SHA-256 of the model with its weights, the resolved accelerator, the options and \
            dfc's version), so an interrupted or extended sweep resumes where it stopped. --emit-makefile writes \
            one make target per point instead; `make -j N` then runs them and --merge collects their files.
            """,
            examples: [
                (
                    "how big must the SRAM be? traffic and cycles from 128 KiB to 8 MiB, with plots",
                    "dfc explore model.onnx --sram 128KiB..8MiB --no-fusion --plots plots --csv sweep.csv"
                ),
                (
                    "a sweep too big for one machine: one make target per point, then collect",
                    "dfc explore model.onnx --sram 128KiB..8MiB --bandwidth 8,16,32 --emit-makefile sweep.mk"
                )
            ]))

    @Argument(help: ArgumentHelp("ONNX models to sweep; with --merge, the point files to collect.", valueName: "MODEL"))
    var inputs: [String] = []

    @Option(
        name: .customLong("accel"),
        help: ArgumentHelp(
            "The accelerator the swept values change (a preset or a JSON file).", valueName: "NAME|FILE.json"))
    var accel = "df1"

    @Option(
        name: .customLong("sram"),
        help: ArgumentHelp(
            "SRAM sizes: a list (256KiB,1MiB) or a range of powers of two (128KiB..8MiB).", valueName: "SIZES"))
    var sram: String?

    @Option(
        name: .customLong("bandwidth"), help: ArgumentHelp("DRAM bytes per cycle, e.g. 8,16,32.", valueName: "N,..."))
    var bandwidth: String?

    @Option(
        name: .customLong("array"),
        help: ArgumentHelp("Matrix-unit sizes (N×N MACs), e.g. 16,32,64.", valueName: "N,..."))
    var array: String?

    @Option(
        name: .customLong("objective"),
        help: ArgumentHelp(
            "Objectives to compile for: traffic, latency, energy, edp.",
            valueName: "NAME,..."))
    var objective: String = Objective.default.rawValue

    @Flag(name: .customLong("no-fusion"), help: "Also compile every point layer by layer, the baseline.")
    var noFusion = false

    @Option(
        name: .customLong("input-shape"),
        help: ArgumentHelp("Bind a graph input's shape, e.g. input=1x3x224x224 (repeatable).", valueName: "NAME=SHAPE"))
    var inputShapes: [String] = []

    @Option(name: .customLong("max-group-length"), help: ArgumentHelp("As for dfc compile.", valueName: "N"))
    var maxGroupLength: Int = Codegen.Options.defaultMaxGroupLength

    @Option(name: .customLong("csv"), help: ArgumentHelp("Write the table as CSV.", valueName: "FILE.csv"))
    var csv: String?

    @Option(name: .customLong("json"), help: ArgumentHelp("Write every point as JSON.", valueName: "FILE.json"))
    var json: String?

    @Option(
        name: .customLong("plots"),
        help: ArgumentHelp("Write SVG plots per model into this folder (created if missing).", valueName: "DIR"))
    var plots: String?

    @Option(
        name: .customLong("breakdown-sram"),
        help: ArgumentHelp(
            "The SRAM size whose program the breakdown plot shows. Default: the middle one.", valueName: "SIZE"))
    var breakdownSRAM: String?

    @Option(
        name: .customLong("cache"),
        help: ArgumentHelp(
            "Where finished points are kept. Default: $XDG_CACHE_HOME/dfc/explore or ~/.cache/dfc/explore.",
            valueName: "DIR"))
    var cache: String?

    @Flag(name: .customLong("no-cache"), help: "Neither read nor write cached points.")
    var noCache = false

    @Option(
        name: .customLong("emit-makefile"),
        help: ArgumentHelp("Write a Makefile with one target per point instead of compiling.", valueName: "FILE"))
    var emitMakefile: String?

    @Option(
        name: .customLong("points-dir"),
        help: ArgumentHelp("With --emit-makefile: where the targets write their point files.", valueName: "DIR"))
    var pointsDir = "explore-points"

    @Flag(name: .customLong("merge"), help: "Collect point files (from --emit-makefile targets) into the outputs.")
    var merge = false

    @Option(name: .customLong("point-index"), help: .hidden)
    var pointIndex: Int?

    @Option(name: .customLong("point-json"), help: .hidden)
    var pointJSON: String?

    func run() throws {
        if merge && emitMakefile != nil {
            throw DFCError("--merge and --emit-makefile do not go together", kind: .usage)
        }
        if (pointIndex == nil) != (pointJSON == nil) {
            throw DFCError("--point-index and --point-json go together", kind: .usage)
        }
        if inputs.isEmpty { throw DFCError(merge ? "--merge needs point files" : "no model given", kind: .usage) }
        if merge { return try write(try Self.readPoints(inputs)) }
        var sweep = ExploreSweep(models: inputs)
        sweep.accel = accel
        sweep.sramSizes = try sram.map { try Self.parseSizes($0, option: "--sram") } ?? []
        sweep.bandwidths = try bandwidth.map { try Self.parseNumbers($0, option: "--bandwidth") } ?? []
        sweep.arrays = try array.map { try Self.parseNumbers($0, option: "--array") } ?? []
        sweep.objectives = try objective.split(separator: ",").map { name in
            guard let objective = Objective(rawValue: String(name)) else {
                throw DFCError(
                    "--objective \(name): expected one of \(Objective.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            return objective
        }
        // A repeated objective would be a repeated point.
        sweep.objectives = sweep.objectives.enumerated().filter { !sweep.objectives[..<$0.offset].contains($0.element) }
            .map(\.element)
        guard (2...4096).contains(maxGroupLength) else {
            throw DFCError("--max-group-length \(maxGroupLength): expected a number from 2 to 4096")
        }
        sweep.baseline = noFusion
        sweep.maxGroupLength = maxGroupLength
        sweep.inputShapes = try Compile.parseInputShapes(inputShapes)
        let settings = try sweep.settings()
        if let emitMakefile { return try writeMakefile(emitMakefile, count: settings.count) }

        let store = noCache ? nil : ExploreCache(directory: cache ?? ExploreCache.defaultDirectory)
        if let pointIndex, let pointJSON {
            guard settings.indices.contains(pointIndex) else {
                throw DFCError("--point-index \(pointIndex): the sweep has points 0 to \(settings.count - 1)")
            }
            let output = OutputFile(pointJSON, option: "--point-json")
            try OutputFile.check([output])
            let point = try sweep.run(point: settings[pointIndex], index: pointIndex, cache: store)
            return try output.write([[UInt8](try ExploreCache.encoder.encode(point))])
        }
        try OutputFile.check(outputFiles.map(\.file))
        let outcome =
            isatty(STDERR_FILENO) == 1
            ? try sweep.run(cache: store, progress: Self.progressLine()) : try sweep.run(cache: store)
        try write(outcome.points)
    }

    var outputFiles: [(file: OutputFile, kind: String)] {
        [csv.map { (OutputFile($0, option: "--csv"), "csv") }, json.map { (OutputFile($0, option: "--json"), "json") }]
            .compactMap { $0 }
    }

    /// The table on standard output (unless a file took it), then the files, all or none.
    func write(_ points: [ExplorePoint]) throws {
        var points = points
        ExplorePareto.mark(&points)
        var writes: [(file: OutputFile, parts: [[UInt8]])] = []
        for (file, kind) in outputFiles {
            let bytes = kind == "csv" ? [UInt8](ExploreTable.csv(points).utf8) : [UInt8](try ExploreTable.json(points))
            writes.append((file, [bytes]))
        }
        if let plots {
            let breakdown = try breakdownSRAM.map { text in
                guard let bytes = AcceleratorConfig.parseSize(text) else {
                    throw DFCError("--breakdown-sram '\(text)': expected a size like 512KiB")
                }
                return bytes
            }
            do { try FileManager.default.createDirectory(atPath: plots, withIntermediateDirectories: true) } catch {
                throw DFCError("cannot create the folder: \(error.localizedDescription)", file: plots, kind: .io)
            }
            for (name, svg) in ExplorePlots.files(points, breakdownSRAM: breakdown) {
                writes.append((OutputFile("\(plots)/\(name)", option: "--plots"), [[UInt8](svg.utf8)]))
            }
        }
        try OutputFile.write(writes)
        if !writes.contains(where: \.file.isStandardOutput) {
            FileHandle.standardOutput.write(Data(ExploreTable.text(points).utf8))
        }
    }

    /// A Makefile whose targets each compile one point into its own JSON file.
    func writeMakefile(_ path: String, count: Int) throws {
        let output = OutputFile(path, option: "--emit-makefile")
        try OutputFile.check([output])
        let arguments = sweepArguments
        let width = String(count - 1).count
        let files = (0..<count).map { k in
            "\(pointsDir)/point-\(String(repeating: "0", count: width - String(k).count))\(k).json"
        }
        var text = """
            # Written by dfc explore --emit-makefile: one target per point of the sweep. Run with make -j N
            # (or any scheduler that runs make targets), then collect the points:
            #   dfc explore --merge \(Self.makeQuoted(pointsDir))/point-*.json [--csv FILE] [--json FILE] [--plots DIR]

            DFC ?= dfc
            SWEEP := \(arguments.map(Self.makeQuoted).joined(separator: " "))
            POINTS := \(files.map(Self.makeQuoted).joined(separator: " "))

            all: $(POINTS)
            .PHONY: all


            """
        for (k, file) in files.enumerated() {
            text += "\(Self.makeQuoted(file)):\n\t@mkdir -p \(Self.makeQuoted(pointsDir))\n"
            text += "\t$(DFC) explore $(SWEEP) --point-index \(k) --point-json $@\n\n"
        }
        try output.write([[UInt8](text.utf8)])
    }

    /// The options that define the sweep and its cache, as given: each Makefile target repeats them.
    var sweepArguments: [String] {
        var arguments = inputs + ["--accel", accel, "--objective", objective]
        for (option, value) in [("--sram", sram), ("--bandwidth", bandwidth), ("--array", array), ("--cache", cache)] {
            if let value { arguments += [option, value] }
        }
        for shape in inputShapes { arguments += ["--input-shape", shape] }
        if maxGroupLength != Codegen.Options.defaultMaxGroupLength {
            arguments += ["--max-group-length", "\(maxGroupLength)"]
        }
        if noFusion { arguments.append("--no-fusion") }
        if noCache { arguments.append("--no-cache") }
        return arguments
    }

    /// A word for a Makefile recipe: shell-quoted when needed, `$` doubled for make.
    static func makeQuoted(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,:+@%".contains($0) } && !word.isEmpty
        let shell = plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        return shell.replacingOccurrences(of: "$", with: "$$")
    }

    static func readPoints(_ paths: [String]) throws -> [ExplorePoint] {
        var points: [ExplorePoint] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DFCError("cannot read the file", file: path, kind: .io)
            }
            do { points.append(try JSONDecoder().decode(ExplorePoint.self, from: data)) } catch {
                throw DFCError("not a point file of dfc explore", file: path)
            }
        }
        points.sort { $0.index < $1.index }
        for (a, b) in zip(points, points.dropFirst()) where a.index == b.index {
            throw DFCError("two point files hold point \(a.index)")
        }
        return points
    }

    /// `256KiB,1MiB` or `128KiB..8MiB` (every power of two from one to the other), or both, comma-separated.
    static func parseSizes(_ text: String, option: String) throws -> [Int] {
        var sizes: [Int] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = item.components(separatedBy: "..")
            let values = ends.map { AcceleratorConfig.parseSize($0) }
            guard values.count <= 2, let low = values.first ?? nil, let high = values.last ?? nil, low > 0, low <= high
            else {
                throw DFCError("\(option) '\(item)': expected a size like 512KiB or a range like 128KiB..8MiB")
            }
            if values.count == 2 {
                guard low & (low - 1) == 0 else {
                    throw DFCError("\(option) '\(item)': a range starts at a power of two (128KiB, 1MiB)")
                }
                sizes += sequence(first: low) { $0 <= high / 2 ? $0 * 2 : nil }
            } else {
                sizes.append(low)
            }
        }
        return Array(Set(sizes)).sorted()
    }

    static func parseNumbers(_ text: String, option: String) throws -> [Int] {
        let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw DFCError("\(option) '\(text)': expected positive integers separated by commas")
        }
        return Array(Set(values.map { $0! })).sorted()
    }

    /// Points done, elapsed and the time left, rewritten in place on a terminal.
    static func progressLine() -> @Sendable (Int, Int) -> Void {
        let start = Date()
        let first = Counter()
        return { done, total in
            let elapsed = Date().timeIntervalSince(start)
            let computed = done - first.once(done)
            var line = "\r\(done)/\(total) points, \(Int(elapsed)) s"
            if computed > 0 && done < total {
                line += ", about \(Int(elapsed / Double(computed) * Double(total - done))) s left"
            }
            FileHandle.standardError.write(Data((line + "\u{1B}[K" + (done == total ? "\n" : "")).utf8))
        }
    }

    /// The first value it is given, ever.
    private final class Counter: @unchecked Sendable {
        private var first: Int?
        private let lock = NSLock()
        func once(_ value: Int) -> Int {
            lock.withLock {
                if first == nil { first = value }
                return first!
            }
        }
    }
}
