import Foundation
@testable import Accelerator
import Tensors

/// Fills every field with a random value of its width (finite floats).
struct RandomFields: FieldCoder {
    var rng: SeededRandom

    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws {
        value = Int.random(in: width == .u64 ? 0...Int(UInt32.max) * 4 : width.range, using: &rng)
    }
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws {
        values = []
        for _ in 0..<count {
            var v = 0
            try int(name, &v, width)
            values.append(v)
        }
    }
    mutating func float(_ name: String, _ value: inout Float) throws {
        value = Float.random(in: -1000...1000, using: &rng)
    }
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws {
        values = (0..<count).map { _ in Float.random(in: -1000...1000, using: &rng) }
    }
    mutating func bool(_ name: String, _ value: inout Bool) throws { value = Bool.random(using: &rng) }
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws {
        value = E.allCases.randomElement(using: &rng)!
    }
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws { try value.fields(&self) }
}

/// The repository root (for docs/isa.md).
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func floats(_ range: ClosedRange<Int>) -> [Float] { range.map(Float.init) }

/// Runs a program fully and timing-only; returns the outputs and both stats.
func runProgram(_ program: Program, _ inputs: [String: Tensor]) throws
    -> (outputs: [String: [Float]], stats: ExecutionStats, timingOnly: ExecutionStats, schedule: [InstructionTiming])
{
    let full = try Executor.run(program, inputs: inputs)
    let timing = try Executor.run(program, inputs: inputs, options: ExecutionOptions(timingOnly: true))
    return (full.outputs.mapValues(\.floats), full.stats, timing.stats, full.schedule)
}

/// A small valid program that uses every opcode (the fuzz test's seed).
func everyOpcodeProgram() -> Program {
    var b = ProgramBuilder()
    let convW = b.addConstant((0..<36).map { Float($0 % 5) - 2 })
    let convB = b.addConstant([0.5, -0.5])
    let fcW = b.addConstant((0..<24).map { Float($0 % 3) })
    let fcB = b.addConstant([1, 2, 3])
    let x = b.addInput("x", shape: [1, 2, 4, 4])
    let fc = b.allocate(bytes: 12)
    let prob = b.addOutput("prob", shape: [1, 3])
    let xcopy = b.addOutput("xcopy", shape: [2, 4, 4])
    let lrn = b.addOutput("lrn", shape: [1, 2, 4, 4])
    let lrnTile = b.addOutput("lrn_tile", shape: [1, 2, 4, 4])
    let up = b.addOutput("up", shape: [1, 2, 8, 8])
    let upTile = b.addOutput("up_tile", shape: [1, 2, 8, 8])
    let xt = b.addOutput("xt", shape: [1, 4, 4, 2])
    let mean = b.addOutput("mean", shape: [1, 2, 1, 1])
    let (sW, sB, sMW, sMB, sX, sY, sP, sE, sC, sD, sM) = (0, 256, 320, 448, 512, 1024, 1280, 1344, 1408, 1472, 1536)
    let (sL, sR) = (1600, 1728)

    b.emit(.load(TransferOp(tensorAt: convW, shape: [36], origin: [0], counts: [36], sramAddr: sW)), nodes: ["conv"])
    b.emit(.load(TransferOp(tensorAt: convB, shape: [2], origin: [0], counts: [2], sramAddr: sB)), nodes: ["conv"])
    b.emit(.load(TransferOp(tensorAt: fcW, shape: [24], origin: [0], counts: [24], sramAddr: sMW)), nodes: ["fc"])
    b.emit(.load(TransferOp(tensorAt: fcB, shape: [3], origin: [0], counts: [3], sramAddr: sMB)), nodes: ["fc"])
    b.emit(
        .load(TransferOp(tensorAt: x, shape: [1, 2, 4, 4], origin: [0, 0, -1, -1], counts: [1, 2, 6, 6], sramAddr: sX)),
        signal: [.matrix, .vector], nodes: ["conv"])
    let y = SRAMTile(addr: sY, channels: 2, height: 4, width: 4)
    b.emit(
        .conv(
            ConvOp(
                input: SRAMTile(addr: sX, channels: 2, height: 6, width: 6), output: y, weightAddr: sW,
                biasAddr: sB, kernel: (3, 3), activation: FusedActivation(.leakyRelu, alpha: 0.1))),
        wait: .load, signal: .vector, nodes: ["conv", "leaky"])
    let p = SRAMTile(addr: sP, channels: 2, height: 2, width: 2)
    b.emit(
        .pool(PoolOp(.max, input: y, output: p, kernel: (2, 2), stride: (2, 2))), wait: [.load, .matrix],
        nodes: ["pool"])
    // LRN on the interior of the padded input tile (strided), as HOST.LRN does on x below.
    let interior = SRAMTile(addr: sX + 4 * 7, channels: 2, height: 4, width: 4, channelStride: 36, rowStride: 6)
    b.emit(
        .lrn(
            LRNOp(
                input: interior, output: SRAMTile(addr: sL, channels: 2, height: 4, width: 4), size: 3, alpha: 1e-4,
                beta: 0.75, bias: 1)), signal: .store, nodes: ["lrn_tile"])
    b.emit(
        .store(
            TransferOp(tensorAt: lrnTile, shape: [1, 2, 4, 4], origin: [0, 0, 0, 0], counts: [1, 2, 4, 4], sramAddr: sL)
        ),
        wait: .vector, nodes: ["lrn_tile"])
    // The LRN tile resized bilinearly on the vector unit, as HOST.RESIZE does with x below (nearest).
    let resized = SRAMTile(addr: sR, channels: 2, height: 8, width: 8)
    b.emit(
        .resize(
            ResizeOp(
                input: SRAMTile(addr: sL, channels: 2, height: 4, width: 4), output: resized, inRow: 0, outRow: 0,
                inHeight: 4, outHeight: 8, scales: (2, 2), coordinateMode: .halfPixel, nearestMode: .roundPreferFloor,
                mode: .linear)), signal: .store, nodes: ["resize_tile"])
    b.emit(
        .store(
            TransferOp(tensorAt: upTile, shape: [1, 2, 8, 8], origin: [0, 0, 0, 0], counts: [1, 2, 8, 8], sramAddr: sR)
        ),
        wait: .vector, nodes: ["resize_tile"])
    let e = SRAMTile(addr: sE, channels: 2, height: 2, width: 2)
    b.emit(
        .eltwise(
            EltwiseOp(
                .add, a: p, b: SRAMTile(addr: sB, channels: 2, height: 1, width: 1), output: e,
                broadcast: .channel, activation: .relu)), nodes: ["add"])
    b.emit(.act(ActOp(input: e, output: e, activation: FusedActivation(.sigmoid))), nodes: ["sigmoid"])
    let c = SRAMTile(addr: sC, channels: 2, height: 2, width: 2)
    b.emit(
        .copy(
            CopyOp(counts: [1, 2, 2, 2], srcAddr: sE, srcStrides: [0, 4, 2, 1], dstAddr: sC, dstStrides: [0, 4, 2, 1])),
        nodes: ["concat"])
    b.emit(
        .conv(
            ConvOp(
                input: c, output: SRAMTile(addr: sD, channels: 2, height: 2, width: 2), weightAddr: sW,
                kernel: (1, 1), groups: 2)), signal: .matrix, nodes: ["dwconv"])
    b.emit(
        .matmul(MatMulOp(m: 1, n: 3, k: 8, aAddr: sD, weightAddr: sMW, biasAddr: sMB, outAddr: sM)),
        wait: .vector, signal: .store, nodes: ["fc"])
    b.emit(
        .store(TransferOp(tensorAt: fc, shape: [3], origin: [0], counts: [3], sramAddr: sM)),
        wait: .matrix, signal: .host, nodes: ["fc"])
    b.emit(
        .hostSoftmax(HostSoftmaxOp(src: fc, dst: prob, outer: 1, axis: 3, inner: 1)), wait: .store, nodes: ["softmax"])
    b.emit(
        .hostCopy(
            CopyOp(
                counts: [1, 1, 1, 32], srcAddr: x, srcStrides: [0, 0, 0, 1], dstAddr: xcopy,
                dstStrides: [0, 0, 0, 1])), nodes: ["identity"])
    b.emit(
        .hostLRN(HostLRNOp(src: x, dst: lrn, n: 1, c: 2, spatial: 16, size: 3, alpha: 1e-4, beta: 0.75, bias: 1)),
        nodes: ["lrn"])
    b.emit(
        .hostResize(
            HostResizeOp(
                src: x, dst: up, inDims: [1, 2, 4, 4], outDims: [1, 2, 8, 8], scales: [1, 1, 2, 2],
                coordinateMode: .asymmetric, nearestMode: .floor)), nodes: ["resize"])
    b.emit(
        .hostTranspose(HostTransposeOp(src: x, dst: xt, dims: [1, 1, 1, 2, 4, 4], perm: [0, 1, 2, 4, 5, 3])),
        nodes: ["transpose"])
    b.emit(
        .hostReduceMean(
            HostReduceMeanOp(
                src: x, dst: mean, dims: [1, 1, 1, 2, 4, 4], axesMask: 0b110000,
                keepDims: true)), nodes: ["mean"])
    b.emit(.sync(SyncOp(on: .load)))
    return b.build()
}

/// Changes only the `target`-th leaf field (counting array fields once).
struct FieldPoker: FieldCoder {
    let target: Int
    var index = 0

    private mutating func hit() -> Bool {
        defer { index += 1 }
        return index == target
    }
    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws { if hit() { value += 1 } }
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws {
        if hit() { values[count - 1] += 1 }
    }
    mutating func float(_ name: String, _ value: inout Float) throws { if hit() { value += 1.5 } }
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws { if hit() { values[0] = 2 } }
    mutating func bool(_ name: String, _ value: inout Bool) throws { if hit() { value.toggle() } }
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws {
        if hit() { value = E.allCases.first { $0 != value }! }
    }
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws { try value.fields(&self) }
}
