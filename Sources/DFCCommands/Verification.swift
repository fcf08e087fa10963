import Accelerator
import Foundation
import GraphIR
import ReferenceInterpreter

/// SplitMix64: a small seedable generator, so "random" inputs are the same
/// on every machine and every run.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box-Muller).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1p-53, 1e-300), u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}

/// Compares the accelerator's outputs with the reference interpreter's.
public enum Verification {
    /// Relative L2 error allowed between executor and interpreter: fp32
    /// sums in a different order drift by about this much over deep networks.
    public static let relativeL2Limit: Double = 1e-4

    /// Seeded N(0, 1) values for every graph input.
    public static func randomInputs(for graph: Graph, seed: UInt64 = 0x00DF_C0DE) -> [String: Tensor] {
        var random = SeededRandom(seed: seed)
        var inputs: [String: Tensor] = [:]
        for name in graph.inputs {
            let type = graph.type(of: name)!
            inputs[name] = Tensor(shape: type.shape, floats: (0..<type.count).map { _ in random.normal() })
        }
        return inputs
    }

    public struct Difference: Sendable {
        public var output: String
        public var maxAbsolute: Double
        public var relativeL2: Double
        public var worstIndex: Int
        public var passed: Bool { relativeL2 <= Verification.relativeL2Limit || maxAbsolute <= 1e-5 }

        public var description: String {
            "output '\(output)': max |diff| \(String(format: "%.3g", maxAbsolute)) at index \(worstIndex), relative L2 error \(String(format: "%.3g", relativeL2)) (limit \(relativeL2Limit))"
        }
    }

    /// Element-wise comparison of two same-sized value lists.
    public static func compare(_ name: String, expected: [Float], actual: [Float]) -> Difference {
        var maxAbsolute = 0.0, worst = 0, errorSquares = 0.0, normSquares = 0.0
        for i in 0..<min(expected.count, actual.count) {
            let e = Double(expected[i]), a = Double(actual[i])
            let d = abs(e - a)
            if !(d <= maxAbsolute) { maxAbsolute = d.isNaN ? .infinity : d; worst = i }
            errorSquares += (e - a) * (e - a)
            normSquares += e * e
        }
        if expected.count != actual.count { maxAbsolute = .infinity }
        let relative = normSquares > 0 ? (errorSquares / normSquares).squareRoot() : errorSquares.squareRoot()
        return Difference(output: name, maxAbsolute: maxAbsolute, relativeL2: relative.isNaN ? .infinity : relative, worstIndex: worst)
    }

    /// Runs `reference` in the interpreter and `program` in the executor on
    /// the same seeded inputs; returns one difference per output.
    public static func run(reference: Graph, program: Program, seed: UInt64 = 0x00DF_C0DE) throws -> [Difference] {
        let inputs = randomInputs(for: reference, seed: seed)
        let expected = try Interpreter.run(reference, inputs: inputs)
        var arrays: [String: NDArray] = [:]
        for (name, tensor) in inputs { arrays[name] = NDArray(shape: tensor.shape, floats: tensor.floats) }
        let result: ExecutionResult
        do {
            result = try Executor.run(program, inputs: arrays)
        } catch let error as ProgramError {
            throw DFCError("the executor rejected the program: \(error.message)")
        }
        return reference.outputs.map { name in
            compare(name, expected: expected[name]?.floats ?? [], actual: result.outputs[name]?.floats ?? [])
        }
    }
}
