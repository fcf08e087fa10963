import Foundation
import Tensors
import Testing
@testable import GraphIR
@testable import ReferenceInterpreter

/// The ops exporters write shape logic with: comparisons, logic, Where,
/// Min and Max, math of one tensor, reductions, Tile, Size, NonZero, Cast
/// and the bool tensors they make, each at its ONNX edge cases.
@Suite("Shape arithmetic kernels")
struct ShapeArithmeticTests {
    static func run(
        _ kind: OpKind, _ inputs: [Tensor?], attributes: [String: Attribute] = [:], opset: Int = 13
    ) throws -> Tensor {
        let names = inputs.indices.map { inputs[$0] == nil ? "" : "x\($0)" }
        let node = Node(name: "n", kind: kind, inputs: names, outputs: ["y"], attributes: attributes)
        return try Interpreter.evaluate(node, inputs: inputs, opset: opset)[0]
    }

    static func ints(_ shape: [Int], _ v: [Int64]) -> Tensor { Tensor(shape: shape, ints: v) }
    static func floats(_ shape: [Int], _ v: [Float]) -> Tensor { Tensor(shape: shape, floats: v) }
    static func bools(_ shape: [Int], _ v: [Bool]) -> Tensor { Tensor(shape: shape, bools: v) }

    static func expectError(
        _ message: String, _ body: () throws -> Tensor, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let result = try body()
            Issue.record("expected an error containing '\(message)', got \(result)", sourceLocation: sourceLocation)
        } catch let error as DFCError {
            #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("comparisons broadcast to a bool mask; NaN compares false; Equal takes bools; mixed types are an error")
    func comparisons() throws {
        let a = Self.floats([2, 2], [1, 2, .nan, 4]), b = Self.floats([2], [2, 2])
        #expect(try Self.run(.less, [a, b]) == Self.bools([2, 2], [true, false, false, false]))
        #expect(try Self.run(.lessOrEqual, [a, b]) == Self.bools([2, 2], [true, true, false, false]))
        #expect(try Self.run(.greater, [a, b]) == Self.bools([2, 2], [false, false, false, true]))
        #expect(try Self.run(.greaterOrEqual, [a, b]) == Self.bools([2, 2], [false, true, false, true]))
        #expect(try Self.run(.equal, [a, a]) == Self.bools([2, 2], [true, true, false, true]))
        // int64 compares exactly where fp32 could not (2^53 + 1).
        let big = Self.ints([2], [9_007_199_254_740_993, -3]), other = Self.ints([], [9_007_199_254_740_992])
        #expect(try Self.run(.greater, [big, other]) == Self.bools([2], [true, false]))
        #expect(
            try Self.run(.equal, [Self.bools([3], [true, false, true]), Self.bools([1], [true])]).bools == [
                true, false, true
            ])
        #expect(try Self.run(.equal, [Self.ints([0, 3], []), Self.ints([3], [1, 2, 3])]).shape == [0, 3])
        Self.expectError("one element type") { try Self.run(.less, [a, Self.ints([1], [1])]) }
        Self.expectError("numbers") { try Self.run(.less, [Self.bools([1], [true]), Self.bools([1], [true])]) }
        Self.expectError("do not broadcast") { try Self.run(.equal, [a, Self.floats([3], [1, 2, 3])]) }
    }

    @Test("Not, And, Or and Xor on bool tensors, broadcast; numbers are an error")
    func logic() throws {
        let a = Self.bools([2, 2], [true, true, false, false]), b = Self.bools([2], [true, false])
        #expect(try Self.run(.and, [a, b]).bools == [true, false, false, false])
        #expect(try Self.run(.or, [a, b]).bools == [true, true, true, false])
        #expect(try Self.run(.xor, [a, b]).bools == [false, true, true, false])
        #expect(try Self.run(.not, [a]) == Self.bools([2, 2], [false, false, true, true]))
        Self.expectError("bool") { try Self.run(.and, [Self.ints([1], [1]), Self.ints([1], [0])]) }
        Self.expectError("bool") { try Self.run(.not, [Self.floats([1], [0])]) }
    }

    @Test("Where broadcasts condition, x and y; x and y share a type; the condition must be bool")
    func whereSelects() throws {
        let condition = Self.bools([2, 1], [true, false])
        let x = Self.floats([3], [1, 2, 3]), y = Self.floats([], [-1])
        #expect(try Self.run(.where, [condition, x, y]) == Self.floats([2, 3], [1, 2, 3, -1, -1, -1]))
        let picked = try Self.run(
            .where, [Self.bools([3], [false, true, false]), Self.ints([1], [7]), Self.ints([3], [1, 2, 3])])
        #expect(picked == Self.ints([3], [1, 7, 3]))
        #expect(
            try Self.run(.where, [condition, Self.bools([1], [true]), Self.bools([1], [false])]).bools == [true, false])
        Self.expectError("one element type") { try Self.run(.where, [condition, x, Self.ints([], [1])]) }
        Self.expectError("must be bool") { try Self.run(.where, [Self.ints([1], [1]), x, y]) }
    }

    @Test("Min and Max take one or more operands, broadcast, and let NaN win")
    func minMax() throws {
        let a = Self.floats([2, 2], [1, 5, .nan, -2]), b = Self.floats([2], [3, 0])
        let c = Self.floats([], [4])
        let max = try Self.run(.max, [a, b, c])
        #expect(
            max.shape == [2, 2] && max.floats[0] == 4 && max.floats[1] == 5 && max.floats[2].isNaN && max.floats[3] == 4
        )
        let min = try Self.run(.min, [a, b])
        #expect(min.floats[0] == 1 && min.floats[1] == 0 && min.floats[2].isNaN && min.floats[3] == -2)
        #expect(try Self.run(.max, [a]).floats[1] == 5)
        #expect(try Self.run(.min, [Self.ints([3], [5, -9, 2]), Self.ints([1], [0])]) == Self.ints([3], [0, -9, 0]))
        Self.expectError("numbers") { try Self.run(.max, [Self.bools([1], [true]), Self.bools([1], [false])]) }
    }

    @Test("Neg and Abs on fp32 and int64 (wrapping at the minimum), Floor, Ceil and Sqrt on fp32 only")
    func unaryMath() throws {
        let x = Self.floats([5], [-1.5, -0.5, 0, 2.5, 9])
        #expect(try Self.run(.neg, [x]).floats == [1.5, 0.5, -0, -2.5, -9])
        #expect(try Self.run(.abs, [x]).floats == [1.5, 0.5, 0, 2.5, 9])
        #expect(try Self.run(.floor, [x]).floats == [-2, -1, 0, 2, 9])
        let ceiled = try Self.run(.ceil, [x]).floats
        #expect(ceiled == [-1, 0, 0, 3, 9] && ceiled[1].sign == .minus)
        let roots = try Self.run(.sqrt, [x]).floats
        #expect(roots[0].isNaN && roots[2] == 0 && roots[4] == 3)
        let ints = Self.ints([3], [.min, -4, 7])
        #expect(try Self.run(.neg, [ints]).ints == [.min, 4, -7])
        #expect(try Self.run(.abs, [ints]).ints == [.min, 4, 7])
        Self.expectError("floating point") { try Self.run(.floor, [ints]) }
        #expect(try Self.run(.sqrt, [Self.floats([0, 2], [])]).shape == [0, 2])
    }

    @Test(
        "reductions: axes as attribute (ReduceSum before 13, the others before 18) or input, negative axes, keepdims, empty sets"
    )
    func reductions() throws {
        let x = Self.ints([2, 3], [1, 2, 3, 4, 5, 6])
        // ReduceSum: an attribute at opset 11, an input at 13.
        #expect(
            try Self.run(.reduceSum, [x], attributes: ["axes": .ints([-1])], opset: 11) == Self.ints([2, 1], [6, 15]))
        #expect(
            try Self.run(.reduceSum, [x, Self.ints([1], [0])], attributes: ["keepdims": .int(0)])
                == Self.ints([3], [5, 7, 9]))
        #expect(try Self.run(.reduceSum, [x]) == Self.ints([1, 1], [21]))
        // Empty axes with noop_with_empty_axes: the input unchanged.
        #expect(try Self.run(.reduceSum, [x, Self.ints([0], [])], attributes: ["noop_with_empty_axes": .int(1)]) == x)
        // ReduceProd reads the attribute until opset 18.
        #expect(
            try Self.run(.reduceProd, [x], attributes: ["axes": .ints([1]), "keepdims": .int(0)])
                == Self.ints([2], [6, 120]))
        #expect(try Self.run(.reduceProd, [x, Self.ints([1], [0])], opset: 18) == Self.ints([1, 3], [4, 10, 18]))
        let f = Self.floats([2, 2], [1.5, -2, 3, 0.25])
        #expect(try Self.run(.reduceMax, [f], attributes: ["axes": .ints([0])]).floats == [3, 0.25])
        #expect(try Self.run(.reduceMin, [f], attributes: ["keepdims": .int(0)]) == Self.floats([], [-2]))
        // An empty reduced set gives the identity.
        let empty = Self.floats([2, 0], [])
        let axis1 = ["axes": Attribute.ints([1])]
        #expect(try Self.run(.reduceSum, [empty], attributes: axis1, opset: 11).floats == [0, 0])
        #expect(try Self.run(.reduceProd, [empty], attributes: axis1).floats == [1, 1])
        #expect(try Self.run(.reduceMax, [empty], attributes: axis1).floats == [-.infinity, -.infinity])
        Self.expectError("undefined") { try Self.run(.reduceMean, [empty], attributes: axis1) }
        Self.expectError("repeated") { try Self.run(.reduceSum, [x], attributes: ["axes": .ints([1, -1])], opset: 11) }
        Self.expectError("out of range") { try Self.run(.reduceProd, [x], attributes: ["axes": .ints([2])]) }
    }

    @Test("Tile repeats each axis; a zero repeat empties it; repeats must be one non-negative integer per axis")
    func tile() throws {
        let x = Self.ints([2, 2], [1, 2, 3, 4])
        let tiled = try Self.run(.tile, [x, Self.ints([2], [2, 3])])
        #expect(tiled.shape == [4, 6])
        #expect(Array(tiled.ints.prefix(12)) == [1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4])
        #expect(tiled.ints[12...] == tiled.ints[..<12])
        #expect(try Self.run(.tile, [x, Self.ints([2], [0, 1])]).shape == [0, 2])
        #expect(try Self.run(.tile, [Self.bools([1], [true]), Self.ints([1], [3])]).bools == [true, true, true])
        Self.expectError("one integer per axis") { try Self.run(.tile, [x, Self.ints([1], [2])]) }
        Self.expectError("non-negative") { try Self.run(.tile, [x, Self.ints([2], [1, -1])]) }
    }

    @Test("Size counts elements; Shape takes start and end (opset 15), clamped and negative")
    func sizeAndShape() throws {
        let x = Self.floats([2, 3, 4], Array(repeating: 0, count: 24))
        #expect(try Self.run(.size, [x]) == Self.ints([], [24]))
        #expect(try Self.run(.size, [Self.floats([0, 5], [])]) == Self.ints([], [0]))
        let shape = { (attributes: [String: Attribute]) in try Self.run(.shape, [x], attributes: attributes, opset: 15)
        }
        #expect(try shape(["start": .int(1)]).ints == [3, 4])
        #expect(try shape(["end": .int(-1)]).ints == [2, 3])
        #expect(try shape(["start": .int(-10), "end": .int(10)]).ints == [2, 3, 4])
        #expect(try shape(["start": .int(2), "end": .int(1)]).ints == [])
    }

    @Test("NonZero lists the indices of non-zero elements in row-major order, one row per axis")
    func nonZero() throws {
        let x = Self.floats([2, 3], [0, 1, 0, -2, 0, .nan])
        #expect(try Self.run(.nonZero, [x]) == Self.ints([2, 3], [0, 1, 1, 1, 0, 2]))
        #expect(try Self.run(.nonZero, [Self.bools([3], [false, true, true])]) == Self.ints([1, 2], [1, 2]))
        #expect(try Self.run(.nonZero, [Self.ints([2, 2], [0, 0, 0, 0])]).shape == [2, 0])
    }

    @Test("NonZero of a value known only at run time cannot be shaped at compile time")
    func nonZeroNeedsConstant() throws {
        var graph = Graph(
            name: "g", opsetVersion: 13, inputs: ["x"], outputs: ["y"],
            nodes: [Node(name: "nz", kind: .nonZero, inputs: ["x"], outputs: ["y"])], initializers: [:],
            values: ["x": ValueInfo(TensorType(dtype: .float32, shape: [4]))])
        #expect(throws: DFCError.self) {
            try ShapeInference.run(
                &graph,
                evaluate: { node, inputs, opset in
                    try? Interpreter.evaluate(node, inputs: inputs, opset: opset)
                })
        }
        #expect(graph.shapeDefiningInputs == ["x"])
    }

    @Test("Cast between fp32, int64 and bool: truncation toward zero, wrapping, non-zero (NaN too) is true")
    func castBool() throws {
        let cast = { (x: Tensor, to: Int) in try Self.run(.cast, [x], attributes: ["to": .int(to)]) }
        let x = Self.floats([5], [-1.7, 0, 0.2, .nan, 300.9])
        #expect(try cast(x, 9) == Self.bools([5], [true, false, true, true, true]))
        #expect(try cast(Self.ints([3], [0, -3, 256]), 9) == Self.bools([3], [false, true, true]))
        let flags = Self.bools([2], [true, false])
        #expect(try cast(flags, 1) == Self.floats([2], [1, 0]))
        #expect(try cast(flags, 7) == Self.ints([2], [1, 0]))
        #expect(try cast(flags, 9) == flags)
        #expect(try cast(Self.floats([2], [200.5, -129.9]), 3) == Self.ints([2], [-56, 127]))
    }

    @Test("ConstantOfShape: fp32 zero by default, an int64 or bool value, an empty or rank-0 shape")
    func constantOfShape() throws {
        let make = { (shape: Tensor, value: Tensor?) in
            try Self.run(.constantOfShape, [shape], attributes: value.map { ["value": .tensor($0)] } ?? [:])
        }
        #expect(try make(Self.ints([2], [2, 1]), nil) == Self.floats([2, 1], [0, 0]))
        #expect(try make(Self.ints([1], [3]), Self.bools([1], [true])) == Self.bools([3], [true, true, true]))
        #expect(try make(Self.ints([2], [0, 3]), Self.ints([1], [7])) == Self.ints([0, 3], []))
        #expect(try make(Self.ints([0], []), Self.ints([1], [7])) == Self.ints([], [7]))
        Self.expectError("non-negative") { try make(Self.ints([1], [-1]), nil) }
    }

    @Test("Slice, Gather, Concat, Squeeze, Unsqueeze and Reshape move int64 and bool values as they move floats")
    func dataMovementOnIntegersAndBools() throws {
        let shape = Self.ints([4], [1, 8, 16, 16])
        #expect(try Self.run(.slice, [shape, Self.ints([1], [-2]), Self.ints([1], [.max])]).ints == [16, 16])
        #expect(try Self.run(.gather, [shape, Self.ints([], [-3])]) == Self.ints([], [8]))
        let flags = Self.bools([2], [true, false])
        #expect(
            try Self.run(.concat, [flags, Self.bools([1], [true])], attributes: ["axis": .int(0)]).bools == [
                true, false, true
            ])
        #expect(
            try Self.run(.concat, [shape, Self.ints([1], [-1])], attributes: ["axis": .int(-1)]).ints == [
                1, 8, 16, 16, -1
            ])
        #expect(try Self.run(.unsqueeze, [Self.ints([], [5]), Self.ints([1], [-1])]) == Self.ints([1], [5]))
        #expect(try Self.run(.squeeze, [Self.bools([1, 2], [true, false]), Self.ints([1], [0])]) == flags)
        #expect(try Self.run(.reshape, [flags, Self.ints([2], [2, 1])]) == Self.bools([2, 1], [true, false]))
        #expect(try Self.run(.gather, [flags, Self.ints([2], [1, 1])]).bools == [false, false])
    }

    @Test("Swish is x·sigmoid(alpha·x); alpha defaults to 1")
    func swish() throws {
        let x = Self.floats([3], [-2, 0, 3])
        let one = try Self.run(.swish, [x], opset: 24)
        let half = try Self.run(.swish, [x], attributes: ["alpha": .float(0.5)], opset: 24)
        for (i, v) in x.floats.enumerated() {
            #expect(Swift.abs(one.floats[i] - v / (1 + Foundation.exp(-v))) < 1e-6)
            #expect(Swift.abs(half.floats[i] - v / (1 + Foundation.exp(-0.5 * v))) < 1e-6)
        }
        #expect(one.floats[0] != half.floats[0])
    }
}
