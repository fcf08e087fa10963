import Foundation

/// The modeled accelerator's parameters. Read by the tiler, the cost model, the
/// encoder and the executor. The element type is always fp32.
public struct AcceleratorConfig: Codable, Equatable, Sendable {
    public var name: String
    public var clockHz: Int
    /// Input channels the matrix unit consumes per cycle (rows of its MAC array).
    public var matrixInputLanes: Int
    /// Output channels the matrix unit produces per cycle (columns of its MAC array).
    public var matrixOutputLanes: Int
    public var vectorLanes: Int
    public var sramBytes: Int
    public var dramBytesPerCycle: Int
    public var dmaSetupCycles: Int
    public var dramBurstBytes: Int
    public var hostSetupCycles: Int
    public var hostElementsPerCycle: Int
    /// Energy per DRAM byte, SRAM byte, MAC and vector element (docs/isa.md, "Energy").
    public var energy: EnergyModel

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case clockHz = "clock_hz"
        case matrixInputLanes = "matrix_input_lanes"
        case matrixOutputLanes = "matrix_output_lanes"
        case vectorLanes = "vector_lanes"
        case sramBytes = "sram_bytes"
        case dramBytesPerCycle = "dram_bytes_per_cycle"
        case dmaSetupCycles = "dma_setup_cycles"
        case dramBurstBytes = "dram_burst_bytes"
        case hostSetupCycles = "host_setup_cycles"
        case hostElementsPerCycle = "host_elements_per_cycle"
        case energy
    }

    /// The integer fields: every key but `name` and `energy`, in encoding order.
    public static let integerFields = CodingKeys.allCases.filter { $0 != .name && $0 != .energy }

    /// The built-in default (docs/isa.md).
    public static let df1 = AcceleratorConfig(
        name: "df1", clockHz: 1_000_000_000, matrixInputLanes: 32, matrixOutputLanes: 32,
        vectorLanes: 64, sramBytes: 1 << 20, dramBytesPerCycle: 32, dmaSetupCycles: 100,
        dramBurstBytes: 64, hostSetupCycles: 1000, hostElementsPerCycle: 4,
        energy: .horowitz45nm(sramBytes: 1 << 20))

    /// Named presets, by name. Their SRAM energies are the defaults for their SRAM sizes.
    public static let presets: [String: AcceleratorConfig] = {
        var small = df1, large = df1, lowBandwidth = df1
        (small.name, small.sramBytes) = ("df1-small", 256 << 10)
        small.energy.followSRAMSize(small.sramBytes)
        (large.name, large.sramBytes) = ("df1-large", 4 << 20)
        large.energy.followSRAMSize(large.sramBytes)
        // DRAM a quarter as fast: the regime where traffic, not compute, sets the time.
        (lowBandwidth.name, lowBandwidth.dramBytesPerCycle) = ("df1-lowbw", 8)
        return ["df1": df1, "df1-small": small, "df1-large": large, "df1-lowbw": lowBandwidth]
    }()

    public static var presetNames: [String] { presets.keys.sorted() }

    public static func preset(named name: String) -> AcceleratorConfig? { presets[name] }

    /// A config as read from a preset or a JSON file, and the energies the file
    /// gave (SRAM energies it did not give follow the SRAM size).
    typealias Source = (config: AcceleratorConfig, givenEnergies: Set<EnergyModel.CodingKeys>)

    /// A preset name, or a JSON file (see `load(jsonFile:)`).
    public static func resolve(_ nameOrPath: String) throws -> AcceleratorConfig { try source(nameOrPath).config }

    static func source(_ nameOrPath: String) throws -> Source {
        if let p = preset(named: nameOrPath) { return (p, []) }
        if nameOrPath.hasSuffix(".json") || FileManager.default.fileExists(atPath: nameOrPath) {
            return try readJSON(nameOrPath)
        }
        throw ConfigError(
            "unknown accelerator '\(nameOrPath)' (presets: \(presetNames.joined(separator: ", ")), or a .json file)")
    }

    /// A preset name or JSON file, then an optional SRAM size override such as
    /// "512KiB" (what `--accel` and `--sram` give); the SRAM energies follow the
    /// new size unless the JSON file gave them. The result is validated.
    public static func resolve(_ nameOrPath: String, sram: String?) throws -> AcceleratorConfig {
        let read = try source(nameOrPath)
        var config = read.config
        if let sram {
            guard let bytes = parseSize(sram) else {
                throw ConfigError("--sram '\(sram)': expected a size like 65536, 512KiB or 2MiB")
            }
            config.sramBytes = bytes
            config.energy.followSRAMSize(bytes, keeping: read.givenEnergies)
        }
        try config.validate()
        return config
    }

    /// Reads a JSON object whose keys override a base config: `"base"` names a
    /// preset (default df1), any other key is a field above (sizes may be
    /// strings like "512KiB") or an energy in picojoules (`energy_mac_pj`, ...,
    /// decimals allowed). SRAM energies not given are the default for the final
    /// SRAM size. Unknown keys are rejected. The result is validated.
    public static func load(jsonFile path: String) throws -> AcceleratorConfig { try readJSON(path).config }

    static func readJSON(_ path: String) throws -> Source {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("\(path): cannot read file")
        }
        do { return try parseJSON(data) } catch let e as ConfigError {
            throw ConfigError("\(path): \(e.message)")
        }
    }

    public static func fromJSON(_ data: Data) throws -> AcceleratorConfig { try parseJSON(data).config }

    /// Every key a config file may have.
    public static var fileKeys: [String] {
        ["base", "name"] + integerFields.map(\.rawValue) + EnergyModel.CodingKeys.allCases.map(\.fileKey)
    }

    static func parseJSON(_ data: Data) throws -> Source {
        guard let dict = try? JSONDecoder().decode([String: JSONScalar].self, from: data) else {
            throw ConfigError("not a JSON object of strings and numbers")
        }
        var config = df1
        if let base = dict["base"] {
            guard case .string(let name) = base, let p = preset(named: name) else {
                throw ConfigError("unknown base preset \(base) (presets: \(presetNames.joined(separator: ", ")))")
            }
            config = p
        }
        var givenEnergies = Set<EnergyModel.CodingKeys>()
        for key in dict.keys.sorted() where key != "base" {
            if let energy = EnergyModel.CodingKeys(fileKey: key) {
                config.energy[energy] = try femtojoules(fromPicojoules: dict[key]!, key: key)
                givenEnergies.insert(energy)
                continue
            }
            guard let field = CodingKeys(rawValue: key), field != .energy else {
                throw ConfigError("unknown key '\(key)' (known: \(fileKeys.joined(separator: ", ")))")
            }
            switch (field, dict[key]!) {
            case (.name, .string(let s)): config.name = s
            case (.name, let v): throw ConfigError("'name' must be a string, got \(v)")
            case (_, .int(let n)): config[field] = n
            case (_, .string(let s)):
                guard let n = parseSize(s) else { throw ConfigError("'\(key)': cannot read size '\(s)'") }
                config[field] = n
            case (_, let v): throw ConfigError("'\(key)' must be an integer, got \(v)")
            }
        }
        config.energy.followSRAMSize(config.sramBytes, keeping: givenEnergies)
        try config.validate()
        return (config, givenEnergies)
    }

    /// A config file's energy (picojoules, decimals allowed) in whole femtojoules, rounded to nearest.
    static func femtojoules(fromPicojoules value: JSONScalar, key: String) throws -> Int {
        let maximum = Double(EnergyModel.maximumFemtojoules) / 1000
        let picojoules: Double
        switch value {
        case .int(let n): picojoules = Double(n)
        case .number(let d): picojoules = d
        default: throw ConfigError("'\(key)' must be a number of picojoules, got \(value)")
        }
        guard picojoules.isFinite, (0...maximum).contains(picojoules) else {
            throw ConfigError("'\(key)' = \(value) picojoules is outside 0...\(Int(maximum))")
        }
        return Int((picojoules * 1000).rounded())
    }

    /// Integer fields by key (`integerFields`; `name` and `energy` read as 0 and ignore writes).
    subscript(field: CodingKeys) -> Int {
        get {
            switch field {
            case .name, .energy: 0
            case .clockHz: clockHz
            case .matrixInputLanes: matrixInputLanes
            case .matrixOutputLanes: matrixOutputLanes
            case .vectorLanes: vectorLanes
            case .sramBytes: sramBytes
            case .dramBytesPerCycle: dramBytesPerCycle
            case .dmaSetupCycles: dmaSetupCycles
            case .dramBurstBytes: dramBurstBytes
            case .hostSetupCycles: hostSetupCycles
            case .hostElementsPerCycle: hostElementsPerCycle
            }
        }
        set {
            switch field {
            case .name, .energy: break
            case .clockHz: clockHz = newValue
            case .matrixInputLanes: matrixInputLanes = newValue
            case .matrixOutputLanes: matrixOutputLanes = newValue
            case .vectorLanes: vectorLanes = newValue
            case .sramBytes: sramBytes = newValue
            case .dramBytesPerCycle: dramBytesPerCycle = newValue
            case .dmaSetupCycles: dmaSetupCycles = newValue
            case .dramBurstBytes: dramBurstBytes = newValue
            case .hostSetupCycles: hostSetupCycles = newValue
            case .hostElementsPerCycle: hostElementsPerCycle = newValue
            }
        }
    }

    /// Parses "65536", "512KiB", "512K", "1MiB", "1M", "2MB" (SI), "1GiB", "100B".
    /// K/M/G and KiB/MiB/GiB are powers of 1024; KB/MB/GB powers of 1000.
    public static func parseSize(_ text: String) -> Int? {
        let s = text.trimmingCharacters(in: .whitespaces)
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let n = Int(digits) else { return nil }
        let units: [String: Int] = [
            "": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000, "m": 1 << 20, "mib": 1 << 20,
            "mb": 1_000_000, "g": 1 << 30, "gib": 1 << 30, "gb": 1_000_000_000
        ]
        let suffix = s.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard let unit = units[suffix] else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : v
    }

    /// Upper bounds that keep a hostile config from asking for absurd memory or time.
    static let limits: [CodingKeys: ClosedRange<Int>] = [
        .clockHz: 1...1 << 40, .matrixInputLanes: 1...4096, .matrixOutputLanes: 1...4096,
        .vectorLanes: 1...65536, .sramBytes: 4...1 << 30, .dramBytesPerCycle: 1...1 << 20,
        .dmaSetupCycles: 0...1 << 30, .dramBurstBytes: 4...1 << 20, .hostSetupCycles: 0...1 << 30,
        .hostElementsPerCycle: 1...1 << 20
    ]

    /// The smallest SRAM that holds one tile of anything: a matrix-unit weight
    /// block with one input and one output vector, or three vector-unit rows.
    public var minimumSRAMBytes: Int {
        max(
            4 * (matrixInputLanes * matrixOutputLanes + matrixInputLanes + matrixOutputLanes),
            4 * 3 * vectorLanes, dramBurstBytes)
    }

    /// Throws a `ConfigError` naming the first invalid field.
    public func validate() throws {
        for key in Self.integerFields {
            let range = Self.limits[key]!
            let v = self[key]
            if v <= 0 && range.lowerBound > 0 {
                throw ConfigError("\(key.rawValue) must be positive, got \(v)")
            }
            guard range.contains(v) else {
                throw ConfigError("\(key.rawValue) = \(v) is outside \(range.lowerBound)...\(range.upperBound)")
            }
        }
        if sramBytes % 4 != 0 { throw ConfigError("sram_bytes = \(sramBytes) is not a multiple of 4") }
        if dramBurstBytes % 4 != 0 { throw ConfigError("dram_burst_bytes = \(dramBurstBytes) is not a multiple of 4") }
        if sramBytes < minimumSRAMBytes {
            throw ConfigError(
                "sram_bytes = \(sramBytes) is smaller than one tile (\(minimumSRAMBytes) bytes: "
                    + "a \(matrixInputLanes)x\(matrixOutputLanes) weight block with its input and output vectors)")
        }
        if name.utf8.count > 255 { throw ConfigError("name is longer than 255 bytes") }
        try energy.validate()
    }

    /// Binary layout inside a .dfx: the name, then every integer field as u64,
    /// then every energy (femtojoules) as u64.
    func encode(_ w: inout ByteWriter) {
        w.string(name)
        for key in Self.integerFields { w.u64(UInt64(self[key])) }
        for key in EnergyModel.CodingKeys.allCases { w.u64(UInt64(max(0, energy[key]))) }
    }

    static func decode(_ r: inout ByteReader) throws -> AcceleratorConfig {
        var config = df1
        config.name = try r.string(maxBytes: 255, what: "config name")
        for key in integerFields {
            let v = try r.u64()
            guard v <= UInt64(Int.max) else { throw ProgramError.corrupt("config field \(key.rawValue) out of range") }
            config[key] = Int(v)
        }
        for key in EnergyModel.CodingKeys.allCases {
            let v = try r.u64()
            guard v <= UInt64(EnergyModel.maximumFemtojoules) else {
                throw ProgramError.corrupt("config energy \(key.rawValue) = \(v) is out of range")
            }
            config.energy[key] = Int(v)
        }
        do { try config.validate() } catch let e as ConfigError {
            throw ProgramError.corrupt("invalid config: \(e.message)")
        }
        return config
    }
}

/// A config that cannot be used, with a one-line reason.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One value of a config JSON object.
enum JSONScalar: Decodable, CustomStringConvertible {
    case int(Int), number(Double), string(String), other(String)

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let b = try? c.decode(Bool.self) {
            self = .other(String(b))
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else {
            self = .other("a JSON array, object or null")
        }
    }

    var description: String {
        switch self {
        case .int(let i): String(i)
        case .number(let d): String(d)
        case .string(let s): "'\(s)'"
        case .other(let s): s
        }
    }
}
