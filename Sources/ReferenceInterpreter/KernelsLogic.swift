import Foundation
import GraphIR
import Tensors

// Kernels of the shape-arithmetic ops exporters wrap around a CNN: math of
// one tensor, Min and Max, comparisons, logic and Where. They run on fp32
// and int64 as ONNX defines them (integers exactly, wrapping on overflow
// like the other int64 kernels) and produce or consume bool masks.

extension Kernels {
    // MARK: Math of one tensor

    /// Neg and Abs on fp32 or int64; Floor, Ceil and Sqrt on fp32 only (as ONNX types them).
    static func unaryMath(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let kind = args.node.kind
        if case .int64(let values) = x.storage {
            switch kind {
            case .neg: return [Tensor(shape: x.shape, ints: values.map { 0 &- $0 })]
            case .abs: return [Tensor(shape: x.shape, ints: values.map { $0 < 0 ? 0 &- $0 : $0 })]
            default: throw DFCError("input must be floating point, got \(x.type)")
            }
        }
        let values = try args.floats(0)
        let result: [Float]
        switch kind {
        case .neg: result = values.map { -$0 }
        case .abs: result = values.map { Swift.abs($0) }
        case .floor: result = values.map { $0.rounded(.down) }
        case .ceil: result = values.map { $0.rounded(.up) }
        case .sqrt: result = values.map { $0.squareRoot() }
        default: throw DFCError("not a math op of one tensor")
        }
        return [Tensor(shape: x.shape, floats: result)]
    }

    // MARK: Min and Max

    /// Min and Max of one or more operands with NumPy broadcasting; NaN
    /// wins (as NumPy's minimum and maximum, and onnxruntime, have it).
    static func minMax(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let isMax = args.node.kind == .max
        var accumulated = try args.input(0)
        for i in 1..<args.inputs.count {
            let operand = try args.input(i)
            guard let shape = ShapeMath.broadcast(accumulated.shape, operand.shape) else {
                throw DFCError("shapes \(accumulated.shape) and \(operand.shape) do not broadcast")
            }
            switch (accumulated.storage, operand.storage) {
            case (.float(let a), .float(let b)):
                accumulated = Tensor(
                    shape: shape,
                    floats: Indexing.binary(a, accumulated.shape, b, operand.shape, to: shape) { x, y in
                        if x.isNaN || y.isNaN { return .nan }
                        return isMax ? Swift.max(x, y) : Swift.min(x, y)
                    })
            case (.int64(let a), .int64(let b)):
                accumulated = Tensor(
                    shape: shape,
                    ints: Indexing.binary(a, accumulated.shape, b, operand.shape, to: shape) {
                        isMax ? Swift.max($0, $1) : Swift.min($0, $1)
                    })
            default:
                throw DFCError("operands must be numbers of one element type")
            }
        }
        return [accumulated]
    }

    // MARK: Comparisons and logic

    /// Equal, Less, Greater, LessOrEqual and GreaterOrEqual: a bool mask,
    /// operands broadcast. fp32 compares as IEEE does (NaN equals nothing).
    static func compare(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let a = try args.input(0), b = try args.input(1)
        let shape = types[0].shape
        func apply<T: Comparable>(_ x: [T], _ y: [T]) throws -> [Bool] {
            switch args.node.kind {
            case .equal: return Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 == $1 }
            case .less: return Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 < $1 }
            case .greater: return Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 > $1 }
            case .lessOrEqual: return Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 <= $1 }
            case .greaterOrEqual: return Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 >= $1 }
            default: throw DFCError("not a comparison")
            }
        }
        switch (a.storage, b.storage) {
        case (.float(let x), .float(let y)): return [Tensor(shape: shape, bools: try apply(x, y))]
        case (.int64(let x), .int64(let y)): return [Tensor(shape: shape, bools: try apply(x, y))]
        case (.bool(let x), .bool(let y)) where args.node.kind == .equal:
            return [Tensor(shape: shape, bools: Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 == $1 })]
        default: throw DFCError("operands must have one element type, got \(a.type) and \(b.type)")
        }
    }

    /// Not, And, Or and Xor on bool tensors, operands broadcast.
    static func logical(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let a = try args.input(0)
        guard case .bool(let x) = a.storage else { throw DFCError("input 0 must be bool, got \(a.type)") }
        let shape = types[0].shape
        if args.node.kind == .not { return [Tensor(shape: shape, bools: x.map { !$0 })] }
        let b = try args.input(1)
        guard case .bool(let y) = b.storage else { throw DFCError("input 1 must be bool, got \(b.type)") }
        let result: [Bool]
        switch args.node.kind {
        case .and: result = Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 && $1 }
        case .or: result = Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 || $1 }
        case .xor: result = Indexing.binary(x, a.shape, y, b.shape, to: shape) { $0 != $1 }
        default: throw DFCError("not a logical op")
        }
        return [Tensor(shape: shape, bools: result)]
    }

    /// Where(condition, x, y): x's element where the condition holds, else
    /// y's, all three broadcast to the output shape.
    static func select(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let condition = try args.input(0), x = try args.input(1), y = try args.input(2)
        let shape = types[0].shape
        let mask = Indexing.expand(condition.bools, shape: condition.shape, to: shape)
        func pick<T>(_ a: [T], _ b: [T]) -> [T] {
            let ea = Indexing.expand(a, shape: x.shape, to: shape), eb = Indexing.expand(b, shape: y.shape, to: shape)
            return mask.indices.map { mask[$0] ? ea[$0] : eb[$0] }
        }
        switch (x.storage, y.storage) {
        case (.float(let a), .float(let b)): return [Tensor(shape: shape, floats: pick(a, b))]
        case (.int64(let a), .int64(let b)): return [Tensor(shape: shape, ints: pick(a, b))]
        case (.bool(let a), .bool(let b)): return [Tensor(shape: shape, bools: pick(a, b))]
        default: throw DFCError("x and y must have one element type, got \(x.type) and \(y.type)")
        }
    }
}
