import Foundation
import Testing

/// `dfc compare` on arrays NumPy wrote (Fixtures/npy, Tools/make_npy_fixtures.py):
/// every real dtype is compared as doubles, and NaN and infinities are named.
/// Arrays that differ exit with the verification status (5); unreadable ones with bad input (1).
@Suite("dfc compare")
struct CompareCommandTests {
    static func npy(_ name: String) -> String { "Fixtures/npy/\(name).npy" }

    @Test(
        "float64, float16, big-endian and integer arrays compare as doubles",
        arguments: [
            ("values_f64", "values_f32"), ("values_f64_big", "values_f32"), ("values_f16", "values_f64"),
            ("ints_i32", "ints_i64"), ("ints_i16_big", "ints_i64"), ("ints_i8", "ints_i64"),
            ("small_u8", "small_f32"), ("small_u16", "small_f32")
        ])
    func matchingDtypes(actual: String, expected: String) throws {
        let result = try DFCProcess.run(["compare", Self.npy(actual), Self.npy(expected)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("matches"), "\(result.stdout)")
        #expect(result.stderr.isEmpty)
    }

    @Test("integers against the floats they were truncated from differ, at a multi-dimensional index")
    func integersDiffer() throws {
        let result = try DFCProcess.run(["compare", Self.npy("ints_i64"), Self.npy("values_f32")])
        #expect(result.status == 5)
        // values[0,1] = -2.5 truncates to -2: the first of the largest differences (0.5).
        #expect(result.stderr.contains("max |diff| 0.5 at [0,1]"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("NaN is counted and located, not reported as an infinite difference")
    func nanIsNamed() throws {
        let result = try DFCProcess.run(["compare", Self.npy("nan3_f32"), Self.npy("values_f32")])
        #expect(result.status == 5)
        #expect(result.stdout.isEmpty)
        let line = result.stderr
        #expect(line.hasPrefix("dfc: error: Fixtures/npy/nan3_f32.npy: differs from"), "\(line)")
        #expect(line.contains("3 NaN in actual, first at [0,5]"), "\(line)")
        #expect(line.contains("none in expected"), "\(line)")
        // The finite elements are equal: the figures say so instead of "inf".
        #expect(line.contains("where both are finite, max |diff| 0 "), "\(line)")
        #expect(!line.contains("max |diff| inf"), "\(line)")
        #expect(line.split(separator: "\n").count == 1)

        let reversed = try DFCProcess.run(["compare", Self.npy("values_f32"), Self.npy("nan3_f32")])
        #expect(reversed.status == 5)
        #expect(reversed.stderr.contains("3 NaN in expected, first at [0,5]"), "\(reversed.stderr)")
    }

    @Test("NaN in the same places on both sides match, and are still reported")
    func nanAgreesWithItself() throws {
        let result = try DFCProcess.run(["compare", Self.npy("nan3_f32"), Self.npy("nan3_f32")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("3 NaN in actual, first at [0,5]"), "\(result.stdout)")
        #expect(result.stdout.contains("in the same places"), "\(result.stdout)")
    }

    @Test("an infinity is counted and located")
    func infinityIsNamed() throws {
        let result = try DFCProcess.run(["compare", Self.npy("inf1_f64"), Self.npy("values_f64")])
        #expect(result.status == 5)
        #expect(result.stderr.contains("1 inf in actual, first at [1,2]"), "\(result.stderr)")
    }

    @Test("a complex array is refused with one line naming its dtype")
    func complexRefused() throws {
        let result = try DFCProcess.run(["compare", Self.npy("complex_c8"), Self.npy("values_f32")])
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("complex_c8.npy: dtype '<c8' is not supported"), "\(result.stderr)")
    }
}
