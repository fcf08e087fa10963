import Foundation
import Testing
@testable import Accelerator

@Suite struct ConfigTests {
    @Test func df1Defaults() throws {
        let c = AcceleratorConfig.df1
        #expect(c.clockHz == 1_000_000_000)
        #expect(c.matrixInputLanes == 32 && c.matrixOutputLanes == 32)
        #expect(c.vectorLanes == 64)
        #expect(c.sramBytes == 1 << 20)
        #expect(c.dramBytesPerCycle == 32 && c.dmaSetupCycles == 100 && c.dramBurstBytes == 64)
        try c.validate()
    }

    @Test func presetsResolveByName() throws {
        #expect(AcceleratorConfig.presetNames == ["df1", "df1-large", "df1-lowbw", "df1-small"])
        #expect(try AcceleratorConfig.resolve("df1-small").sramBytes == 256 << 10)
        #expect(try AcceleratorConfig.resolve("df1-large").sramBytes == 4 << 20)
        // df1-lowbw is df1 with a quarter of the DRAM bandwidth, nothing else.
        var lowBandwidth = try AcceleratorConfig.resolve("df1-lowbw")
        #expect(lowBandwidth.dramBytesPerCycle == 8)
        (lowBandwidth.name, lowBandwidth.dramBytesPerCycle) = ("df1", 32)
        #expect(lowBandwidth == .df1)
        for name in AcceleratorConfig.presetNames { try AcceleratorConfig.resolve(name).validate() }
        let error = #expect(throws: ConfigError.self) { try AcceleratorConfig.resolve("df2") }
        #expect(error?.message.hasPrefix("unknown accelerator 'df2'") == true)
    }

    @Test func sizesParse() {
        let cases: [(String, Int?)] = [
            ("65536", 65536), ("512KiB", 512 << 10), ("512K", 512 << 10), ("1MiB", 1 << 20), ("1M", 1 << 20),
            ("2MB", 2_000_000), ("4kb", 4000), ("1GiB", 1 << 30), ("100B", 100), (" 8 KiB ", 8192),
            ("", nil), ("KiB", nil), ("1.5MiB", nil), ("12XB", nil), ("-4", nil), ("99999999999999999999", nil)
        ]
        for (text, expected) in cases { #expect(AcceleratorConfig.parseSize(text) == expected, "\(text)") }
    }

    @Test func sramOverride() throws {
        #expect(try AcceleratorConfig.resolve("df1", sram: "512KiB").sramBytes == 512 << 10)
        #expect(try AcceleratorConfig.resolve("df1-large", sram: nil).sramBytes == 4 << 20)
        let bad = #expect(throws: ConfigError.self) { try AcceleratorConfig.resolve("df1", sram: "big") }
        #expect(bad?.message == "--sram 'big': expected a size like 65536, 512KiB or 2MiB")
        let small = #expect(throws: ConfigError.self) { try AcceleratorConfig.resolve("df1", sram: "1KiB") }
        #expect(small?.message.hasPrefix("sram_bytes = 1024 is smaller than one tile") == true)
    }

    @Test func jsonOverridesAnyField() throws {
        let json = #"{"base": "df1-small", "sram_bytes": "512KiB", "vector_lanes": 128, "name": "mine"}"#
        let c = try AcceleratorConfig.fromJSON(Data(json.utf8))
        #expect(c.sramBytes == 512 << 10 && c.vectorLanes == 128 && c.name == "mine")
        #expect(c.dmaSetupCycles == 100)
        // Every key can be overridden (the SRAM energies follow a new SRAM size).
        for key in AcceleratorConfig.integerFields {
            var expected = AcceleratorConfig.df1
            expected[key] = expected[key] * 2
            expected.energy = .horowitz45nm(sramBytes: expected.sramBytes)
            let c = try AcceleratorConfig.fromJSON(Data(#"{"\#(key.rawValue)": \#(expected[key])}"#.utf8))
            #expect(c == expected, "\(key.rawValue)")
        }
    }

    @Test func invalidConfigsAreRejected() throws {
        let cases: [(String, String)] = [
            (#"{"dram_bytes_per_cycle": 0}"#, "dram_bytes_per_cycle must be positive, got 0"),
            (#"{"sram_bytes": 1024}"#, "sram_bytes = 1024 is smaller than one tile (4352 bytes"),
            (#"{"sram_bytes": 65537}"#, "not a multiple of 4"),
            (#"{"sram": 65536}"#, "unknown key 'sram'"),
            (#"{"base": "df9"}"#, "unknown base preset"),
            (#"{"vector_lanes": 1.5}"#, "'vector_lanes' must be an integer, got 1.5"),
            (#"{"vector_lanes": true}"#, "'vector_lanes' must be an integer, got true"),
            (#"{"sram_bytes": "lots"}"#, "cannot read size 'lots'"),
            (#"[1, 2]"#, "not a JSON object")
        ]
        for (json, message) in cases {
            let error = #expect(throws: ConfigError.self) { try AcceleratorConfig.fromJSON(Data(json.utf8)) }
            #expect(error?.message.contains(message) == true, "\(json): \(error?.message ?? "")")
        }
    }

    @Test func jsonFileErrorsNameTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("accel-\(UUID().uuidString).json").path
        try Data(#"{"bogus": 1}"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: ConfigError.self) { try AcceleratorConfig.resolve(path) }
        #expect(error?.message.hasPrefix("\(path): unknown key 'bogus'") == true)
    }

    @Test func configTravelsInTheProgram() throws {
        var config = try AcceleratorConfig.resolve("df1-large")
        config.hostSetupCycles = 7
        let program = Program(config: config, dramBytes: 64)
        #expect(try Program(decoding: program.encoded()).config == config)
    }
}
