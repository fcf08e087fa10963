// The energy model. Every rule here is written out in docs/isa.md ("Energy");
// keep the two in step. Energies are whole femtojoules so that sums are exact
// and the same on every machine.

/// What one unit of each kind of work costs, in femtojoules (1 pJ = 1000 fJ).
public struct EnergyModel: Codable, Equatable, Sendable {
    /// Per byte a LOAD reads from or a STORE writes to DRAM.
    public var dramFemtojoulesPerByte: Int
    /// Per byte an instruction reads from SRAM.
    public var sramReadFemtojoulesPerByte: Int
    /// Per byte an instruction writes to SRAM.
    public var sramWriteFemtojoulesPerByte: Int
    /// Per multiply-accumulate of CONV and MATMUL.
    public var macFemtojoules: Int
    /// Per element the vector unit processes (results times taps).
    public var vectorElementFemtojoules: Int

    public init(
        dramFemtojoulesPerByte: Int, sramReadFemtojoulesPerByte: Int, sramWriteFemtojoulesPerByte: Int,
        macFemtojoules: Int, vectorElementFemtojoules: Int
    ) {
        (self.dramFemtojoulesPerByte, self.sramReadFemtojoulesPerByte, self.sramWriteFemtojoulesPerByte) =
            (dramFemtojoulesPerByte, sramReadFemtojoulesPerByte, sramWriteFemtojoulesPerByte)
        (self.macFemtojoules, self.vectorElementFemtojoules) = (macFemtojoules, vectorElementFemtojoules)
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case dramFemtojoulesPerByte = "dram_fj_per_byte"
        case sramReadFemtojoulesPerByte = "sram_read_fj_per_byte"
        case sramWriteFemtojoulesPerByte = "sram_write_fj_per_byte"
        case macFemtojoules = "mac_fj"
        case vectorElementFemtojoules = "vector_fj"

        /// The key in a config file, where the value is in picojoules.
        public var fileKey: String {
            switch self {
            case .dramFemtojoulesPerByte: "energy_dram_pj_per_byte"
            case .sramReadFemtojoulesPerByte: "energy_sram_read_pj_per_byte"
            case .sramWriteFemtojoulesPerByte: "energy_sram_write_pj_per_byte"
            case .macFemtojoules: "energy_mac_pj"
            case .vectorElementFemtojoules: "energy_vector_pj"
            }
        }

        init?(fileKey: String) {
            guard let key = Self.allCases.first(where: { $0.fileKey == fileKey }) else { return nil }
            self = key
        }
    }

    /// Fields by key.
    subscript(field: CodingKeys) -> Int {
        get {
            switch field {
            case .dramFemtojoulesPerByte: dramFemtojoulesPerByte
            case .sramReadFemtojoulesPerByte: sramReadFemtojoulesPerByte
            case .sramWriteFemtojoulesPerByte: sramWriteFemtojoulesPerByte
            case .macFemtojoules: macFemtojoules
            case .vectorElementFemtojoules: vectorElementFemtojoules
            }
        }
        set {
            switch field {
            case .dramFemtojoulesPerByte: dramFemtojoulesPerByte = newValue
            case .sramReadFemtojoulesPerByte: sramReadFemtojoulesPerByte = newValue
            case .sramWriteFemtojoulesPerByte: sramWriteFemtojoulesPerByte = newValue
            case .macFemtojoules: macFemtojoules = newValue
            case .vectorElementFemtojoules: vectorElementFemtojoules = newValue
            }
        }
    }

    // MARK: Defaults

    /// The defaults, from Horowitz, "Computing's energy problem (and what we
    /// can do about it)", ISSCC 2014, 45 nm: a MAC is an fp32 multiply (3.7 pJ)
    /// and add (0.9 pJ); a vector element one fp32 add; DRAM the low end of
    /// 1.3-2.6 nJ per 64-bit access; SRAM see `sramFemtojoulesPerByte(sramBytes:)`.
    public static func horowitz45nm(sramBytes: Int) -> EnergyModel {
        let sram = sramFemtojoulesPerByte(sramBytes: sramBytes)
        return EnergyModel(
            dramFemtojoulesPerByte: 162_500, sramReadFemtojoulesPerByte: sram, sramWriteFemtojoulesPerByte: sram,
            macFemtojoules: 4_600, vectorElementFemtojoules: 900)
    }

    /// The default energy per SRAM byte, read or written: a 64-bit access to
    /// 1 MB costs about 100 pJ (12.5 pJ per byte), and the cost grows with the
    /// square root of the size (Horowitz's table: 10 pJ at 8 KB, 20 pJ at 32 KB,
    /// 100 pJ at 1 MB), so 12.5 pJ * sqrt(sramBytes / 1 MiB), rounded to whole fJ.
    public static func sramFemtojoulesPerByte(sramBytes: Int) -> Int {
        // Exact inputs, one correctly rounded sqrt and product: the same on every machine.
        Int((12_500 * (Double(max(0, sramBytes)) / Double(1 << 20)).squareRoot()).rounded())
    }

    /// Moves the SRAM energies not in `kept` to the default for an SRAM of
    /// `sramBytes` (what a changed SRAM size does unless the energies were given).
    mutating func followSRAMSize(_ sramBytes: Int, keeping kept: Set<CodingKeys> = []) {
        let sram = Self.sramFemtojoulesPerByte(sramBytes: sramBytes)
        for key in [CodingKeys.sramReadFemtojoulesPerByte, .sramWriteFemtojoulesPerByte] where !kept.contains(key) {
            self[key] = sram
        }
    }

    // MARK: Pricing

    /// The largest energy per unit a config may give: 1e6 pJ.
    public static let maximumFemtojoules = 1_000_000_000

    /// Throws a `ConfigError` naming the first field outside 0...`maximumFemtojoules`.
    public func validate() throws {
        for key in CodingKeys.allCases where !(0...Self.maximumFemtojoules).contains(self[key]) {
            throw ConfigError(
                "energy \(key.rawValue) = \(self[key]) is outside 0...\(Self.maximumFemtojoules) femtojoules")
        }
    }

    /// The energy of some work, by where it is spent. Products and sums
    /// saturate at `Int.max` (far beyond any real program) instead of trapping.
    public func breakdown(dramBytes: Int, sramReadBytes: Int, sramWriteBytes: Int, macs: Int, vectorElements: Int)
        -> EnergyBreakdown
    {
        EnergyBreakdown(
            dramFemtojoules: saturatingProduct(dramBytes, dramFemtojoulesPerByte),
            sramFemtojoules: saturatingSum(
                saturatingProduct(sramReadBytes, sramReadFemtojoulesPerByte),
                saturatingProduct(sramWriteBytes, sramWriteFemtojoulesPerByte)),
            macFemtojoules: saturatingProduct(macs, macFemtojoules),
            vectorFemtojoules: saturatingProduct(vectorElements, vectorElementFemtojoules))
    }

    /// The total of `breakdown(...)`: each count times its energy per unit.
    public func femtojoules(dramBytes: Int, sramReadBytes: Int, sramWriteBytes: Int, macs: Int, vectorElements: Int)
        -> Int
    {
        breakdown(
            dramBytes: dramBytes, sramReadBytes: sramReadBytes, sramWriteBytes: sramWriteBytes, macs: macs,
            vectorElements: vectorElements
        ).totalFemtojoules
    }
}

/// Energy in femtojoules, split by where it is spent.
public struct EnergyBreakdown: Equatable, Sendable {
    public var dramFemtojoules = 0, sramFemtojoules = 0, macFemtojoules = 0, vectorFemtojoules = 0
    public init(dramFemtojoules: Int = 0, sramFemtojoules: Int = 0, macFemtojoules: Int = 0, vectorFemtojoules: Int = 0)
    {
        (self.dramFemtojoules, self.sramFemtojoules, self.macFemtojoules, self.vectorFemtojoules) =
            (dramFemtojoules, sramFemtojoules, macFemtojoules, vectorFemtojoules)
    }
    public var totalFemtojoules: Int {
        saturatingSum(saturatingSum(dramFemtojoules, sramFemtojoules), saturatingSum(macFemtojoules, vectorFemtojoules))
    }
}

extension AcceleratorConfig {
    /// The energy of some work under this config's energy model (what the
    /// executor reports, and what the compiler can price a plan with).
    public func energyFemtojoules(
        dramBytes: Int, sramReadBytes: Int, sramWriteBytes: Int, macs: Int, vectorElements: Int
    )
        -> Int
    {
        energy.femtojoules(
            dramBytes: dramBytes, sramReadBytes: sramReadBytes, sramWriteBytes: sramWriteBytes, macs: macs,
            vectorElements: vectorElements)
    }
}

/// Non-negative femtojoules as picojoules in decimal, without trailing zeros: 162500 -> "162.5".
func picojoulesText(_ femtojoules: Int) -> String {
    let (whole, fraction) = femtojoules.quotientAndRemainder(dividingBy: 1000)
    guard fraction != 0 else { return String(whole) }
    var digits = String(fraction)
    digits = String(repeating: "0", count: 3 - digits.count) + digits
    while digits.hasSuffix("0") { digits.removeLast() }
    return "\(whole).\(digits)"
}

private func saturatingProduct(_ count: Int, _ perUnit: Int) -> Int {
    let (p, overflow) = count.multipliedReportingOverflow(by: perUnit)
    return overflow ? Int.max : p
}

private func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (s, overflow) = a.addingReportingOverflow(b)
    return overflow ? Int.max : s
}
