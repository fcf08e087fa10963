// The instruction set, defined once.
//
// Every payload struct (ISAPayloads.swift) lists its fields exactly once, in
// `fields(_:)`, through a `FieldCoder`. The binary encoder and decoder, the
// range checker, the disassembler, the documentation tables and the tests'
// random generator are all `FieldCoder`s, so they cannot drift from each other.
// `Op` below is the one mapping from opcodes to payloads. Semantics of each
// instruction, as loops, are in docs/isa.md.

// MARK: - Engines and dependency tokens

/// The units that run instructions. Each runs its own instructions in program
/// order; order across engines comes only from dependency tokens.
public enum Engine: UInt8, CaseIterable, Sendable, Codable, FieldEnum {
    case load = 0, matrix = 1, vector = 2, store = 3, host = 4

    public var name: String { String(describing: self) }
}

/// A set of engines, encoded as one byte (bit `engine.rawValue`).
public struct EngineSet: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ engines: [Engine]) { self.rawValue = engines.reduce(0) { $0 | 1 << $1.rawValue } }

    public static let load = EngineSet([.load])
    public static let matrix = EngineSet([.matrix])
    public static let vector = EngineSet([.vector])
    public static let store = EngineSet([.store])
    public static let host = EngineSet([.host])

    public func contains(_ engine: Engine) -> Bool { rawValue & (1 << engine.rawValue) != 0 }
    public var engines: [Engine] { Engine.allCases.filter { contains($0) } }
    /// Bits that name no engine make an instruction invalid.
    public var hasUnknownBits: Bool { rawValue >> Engine.allCases.count != 0 }
}

// MARK: - The field description protocol

/// How a field is stored in the binary encoding; also its legal range.
public enum FieldWidth: Sendable {
    case u8, u16, u32, u64, i32, f32

    public var bytes: Int {
        switch self {
        case .u8: 1
        case .u16: 2
        case .u32, .i32, .f32: 4
        case .u64: 8
        }
    }

    /// Legal values of an integer field of this width (u64 is capped at Int.max).
    public var range: ClosedRange<Int> {
        switch self {
        case .u8: 0...Int(UInt8.max)
        case .u16: 0...Int(UInt16.max)
        case .u32: 0...Int(UInt32.max)
        case .u64: 0...Int.max
        case .i32: Int(Int32.min)...Int(Int32.max)
        case .f32: 0...0
        }
    }

    public var name: String { String(describing: self) }
}

/// A small closed enumeration stored in one byte.
public protocol FieldEnum: RawRepresentable, CaseIterable, Sendable where RawValue == UInt8 {}

/// Visits every field of a payload, in encoding order. Implementations read the
/// fields (encoder, printer), overwrite them (decoder, random generator) or
/// check them (range checker).
public protocol FieldCoder {
    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws
    mutating func float(_ name: String, _ value: inout Float) throws
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws
    mutating func bool(_ name: String, _ value: inout Bool) throws
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws
}

/// A value whose fields are described once, for every `FieldCoder`.
public protocol FieldGroup: Equatable, Sendable {
    /// The all-zero value; decoders start from it.
    init()
    mutating func fields<C: FieldCoder>(_ c: inout C) throws
}

/// Number of dimensions of a LOAD/STORE/COPY box.
public let boxRank = 4

// MARK: - Opcodes and instructions

/// The opcode byte of each instruction.
public enum Opcode: UInt8, CaseIterable, Sendable, FieldEnum {
    // DMA between DRAM and SRAM.
    case load = 1, store
    // Compute on SRAM tiles (matrix and vector units).
    case conv, pool, eltwise, act, matmul, copy
    // Token plumbing.
    case sync
    // Host ops on DRAM tensors.
    case hostCopy, hostSoftmax, hostLRN, hostResize, hostTranspose, hostReduceMean
    // Compute added later, numbered after the rest (opcodes are never renumbered).
    case lrn = 16, resize

    public var mnemonic: String {
        switch self {
        case .load: "load"
        case .store: "store"
        case .conv: "conv"
        case .pool: "pool"
        case .eltwise: "eltwise"
        case .act: "act"
        case .matmul: "matmul"
        case .copy: "copy"
        case .sync: "sync"
        case .hostCopy: "host.copy"
        case .hostSoftmax: "host.softmax"
        case .hostLRN: "host.lrn"
        case .hostResize: "host.resize"
        case .hostTranspose: "host.transpose"
        case .hostReduceMean: "host.reduce_mean"
        case .lrn: "lrn"
        case .resize: "resize"
        }
    }
}

/// What an instruction does: one case per opcode.
public enum Op: Equatable, Sendable {
    case load(TransferOp), store(TransferOp)
    case conv(ConvOp), pool(PoolOp), eltwise(EltwiseOp), act(ActOp), matmul(MatMulOp), copy(CopyOp)
    case sync(SyncOp)
    case hostCopy(CopyOp), hostSoftmax(HostSoftmaxOp), hostLRN(HostLRNOp), hostResize(HostResizeOp)
    case hostTranspose(HostTransposeOp), hostReduceMean(HostReduceMeanOp)
    case lrn(LRNOp), resize(ResizeOp)

    public var opcode: Opcode {
        switch self {
        case .load: .load
        case .store: .store
        case .conv: .conv
        case .pool: .pool
        case .eltwise: .eltwise
        case .act: .act
        case .matmul: .matmul
        case .copy: .copy
        case .sync: .sync
        case .hostCopy: .hostCopy
        case .hostSoftmax: .hostSoftmax
        case .hostLRN: .hostLRN
        case .hostResize: .hostResize
        case .hostTranspose: .hostTranspose
        case .hostReduceMean: .hostReduceMean
        case .lrn: .lrn
        case .resize: .resize
        }
    }

    /// The operation of `opcode` with an all-zero payload (what decoders fill in).
    public static func empty(_ opcode: Opcode) -> Op {
        switch opcode {
        case .load: .load(TransferOp())
        case .store: .store(TransferOp())
        case .conv: .conv(ConvOp())
        case .pool: .pool(PoolOp())
        case .eltwise: .eltwise(EltwiseOp())
        case .act: .act(ActOp())
        case .matmul: .matmul(MatMulOp())
        case .copy: .copy(CopyOp())
        case .sync: .sync(SyncOp())
        case .hostCopy: .hostCopy(CopyOp())
        case .hostSoftmax: .hostSoftmax(HostSoftmaxOp())
        case .hostLRN: .hostLRN(HostLRNOp())
        case .hostResize: .hostResize(HostResizeOp())
        case .hostTranspose: .hostTranspose(HostTransposeOp())
        case .hostReduceMean: .hostReduceMean(HostReduceMeanOp())
        case .lrn: .lrn(LRNOp())
        case .resize: .resize(ResizeOp())
        }
    }

    /// Runs `c` over the payload's fields (the single opcode -> payload mapping).
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        func visit<P: FieldGroup>(_ p: P, _ wrap: (P) -> Op) throws -> Op {
            var p = p
            try p.fields(&c)
            return wrap(p)
        }
        switch self {
        case .load(let p): self = try visit(p, Op.load)
        case .store(let p): self = try visit(p, Op.store)
        case .conv(let p): self = try visit(p, Op.conv)
        case .pool(let p): self = try visit(p, Op.pool)
        case .eltwise(let p): self = try visit(p, Op.eltwise)
        case .act(let p): self = try visit(p, Op.act)
        case .matmul(let p): self = try visit(p, Op.matmul)
        case .copy(let p): self = try visit(p, Op.copy)
        case .sync(let p): self = try visit(p, Op.sync)
        case .hostCopy(let p): self = try visit(p, Op.hostCopy)
        case .hostSoftmax(let p): self = try visit(p, Op.hostSoftmax)
        case .hostLRN(let p): self = try visit(p, Op.hostLRN)
        case .hostResize(let p): self = try visit(p, Op.hostResize)
        case .hostTranspose(let p): self = try visit(p, Op.hostTranspose)
        case .hostReduceMean(let p): self = try visit(p, Op.hostReduceMean)
        case .lrn(let p): self = try visit(p, Op.lrn)
        case .resize(let p): self = try visit(p, Op.resize)
        }
    }

    /// The engine that runs this operation.
    public var engine: Engine {
        switch self {
        case .load: .load
        case .store: .store
        case .conv(let p): p.isDepthwise ? .vector : .matrix
        case .matmul: .matrix
        case .pool, .eltwise, .act, .copy, .lrn, .resize: .vector
        case .sync(let p): p.engine
        case .hostCopy, .hostSoftmax, .hostLRN, .hostResize, .hostTranspose, .hostReduceMean: .host
        }
    }
}

/// One instruction: an operation plus its dependency tokens. Before starting,
/// it pops one token from each queue (w -> engine) for w in `wait`; when done,
/// it pushes one token to each queue (engine -> s) for s in `signal`.
public struct Instruction: Equatable, Sendable {
    public var operation: Op
    public var wait: EngineSet
    public var signal: EngineSet

    public init(_ operation: Op, wait: EngineSet = [], signal: EngineSet = []) {
        (self.operation, self.wait, self.signal) = (operation, wait, signal)
    }
    public var engine: Engine { operation.engine }
    public var opcode: Opcode { operation.opcode }
}
