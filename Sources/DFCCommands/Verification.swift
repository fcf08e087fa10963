import Accelerator
import Foundation
import GraphIR
import ReferenceInterpreter
import Tensors

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

    /// One output's comparison, judged by the relative L2 limit.
    public struct Difference: Sendable {
        public var output: String
        public var comparison: TensorComparison
        public var passed: Bool { comparison.passes(relativeL2Limit: Verification.relativeL2Limit) }

        /// The worst difference and the relative L2 error; where NaN or infinities disagree, they are
        /// counted and located first and the figures cover the finite pairs (as `dfc compare` says it).
        public var description: String {
            if let mismatch = comparison.shapeMismatch { return "output '\(output)': \(mismatch)" }
            let c = comparison, finite = c.maxAbsoluteError.isFinite
            let figures =
                "max |diff| \(String(format: "%.3g", finite ? c.maxAbsoluteError : c.finiteMaxAbsoluteError)) at "
                + TensorComparison.index(finite ? c.worstIndex : c.finiteWorstIndex, in: c.shape)
                + ", relative L2 error \(String(format: "%.3g", finite ? c.relativeL2 : c.finiteRelativeL2))"
                + " (limit \(relativeL2Limit))"
            return "output '\(output)': "
                + (finite ? figures : "\(c.nonFiniteSummary); where both are finite, \(figures)")
        }
    }

    /// Runs `reference` in the interpreter and `program` in the executor on
    /// the same seeded inputs; returns one difference per output.
    public static func run(reference: Graph, program: Program, seed: UInt64 = 0x00DF_C0DE) throws -> [Difference] {
        let inputs = randomInputs(for: reference, seed: seed)
        let expected = try Interpreter.run(reference, inputs: inputs)
        let result: ExecutionResult
        do {
            result = try Executor.run(program, inputs: inputs)
        } catch let error as ProgramError {
            throw DFCError("the executor rejected the program: \(error.message)")
        }
        return reference.outputs.map { name in
            let missing = Tensor(shape: [0], floats: [])
            return Difference(
                output: name, comparison: TensorComparison(result.outputs[name] ?? missing, expected[name] ?? missing))
        }
    }
}
