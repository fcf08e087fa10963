/// Element types: everything floating point is fp32, integer tensors
/// (shapes, indices, axes) are int64, and comparisons and masks are bool.
/// The raw value is the dtype byte of a `.dfx` tensor record, so it must not
/// change.
public enum DType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case int64 = 2
    case bool = 3

    /// The name IR dumps and the disassembler print.
    public var description: String {
        switch self {
        case .float32: "f32"
        case .int64: "i64"
        case .bool: "bool"
        }
    }

    public var byteSize: Int {
        switch self {
        case .float32: 4
        case .int64: 8
        case .bool: 1
        }
    }
}

/// A dense, row-major tensor value: a weight or constant of the IR, a value
/// in the reference interpreter, a program input or output, a `.npy` file.
public struct Tensor: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case float([Float])
        case int64([Int64])
        case bool([Bool])
    }

    /// The values in memory, or where to get them (`DeferredValues`: a weight left in its model file).
    enum Backing: Sendable {
        case values(Storage)
        case deferred(DeferredValues)
    }

    public var shape: [Int]
    var backing: Backing

    /// The values. A deferred tensor's are read (and computed) anew at each call: take them once.
    public var storage: Storage {
        get {
            switch backing {
            case .values(let storage): storage
            case .deferred(let deferred): deferred.load()
            }
        }
        set { backing = .values(newValue) }
    }

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not hold \(floats.count) values")
        self.shape = shape
        self.backing = .values(.float(floats))
    }

    public init(shape: [Int], ints: [Int64]) {
        precondition(shape.reduce(1, *) == ints.count, "shape \(shape) does not hold \(ints.count) values")
        self.shape = shape
        self.backing = .values(.int64(ints))
    }

    public init(shape: [Int], bools: [Bool]) {
        precondition(shape.reduce(1, *) == bools.count, "shape \(shape) does not hold \(bools.count) values")
        self.shape = shape
        self.backing = .values(.bool(bools))
    }

    init(shape: [Int], deferred: DeferredValues) {
        precondition(shape.reduce(1, *) == deferred.count, "shape \(shape) does not hold \(deferred.count) values")
        self.shape = shape
        self.backing = .deferred(deferred)
    }

    public static func == (a: Tensor, b: Tensor) -> Bool {
        if case .deferred(let x) = a.backing, case .deferred(let y) = b.backing, x === y { return a.shape == b.shape }
        return a.shape == b.shape && a.storage == b.storage
    }

    /// Decodes `shape.reduce(1, *)` little-endian values of `dtype`.
    public init(shape: [Int], dtype: DType, littleEndianBytes bytes: ArraySlice<UInt8>) {
        let count = shape.reduce(1, *)
        precondition(
            bytes.count == count * dtype.byteSize, "shape \(shape) does not hold \(bytes.count) bytes of \(dtype)")
        self.shape = shape
        let storage: Storage = bytes.withUnsafeBytes { raw in
            switch dtype {
            case .float32:
                .float(
                    (0..<count).map {
                        Float(
                            bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))
                        )
                    })
            case .int64:
                .int64(
                    (0..<count).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) })
            case .bool:
                .bool((0..<count).map { raw[$0] != 0 })
            }
        }
        backing = .values(storage)
    }

    public var dtype: DType {
        switch backing {
        case .values(.float): .float32
        case .values(.int64): .int64
        case .values(.bool): .bool
        case .deferred(let deferred): deferred.dtype
        }
    }

    public var count: Int { shape.reduce(1, *) }

    /// The values as fp32 (int64 values converted, booleans 0 or 1).
    public var floats: [Float] {
        switch storage {
        case .float(let values): return values
        case .int64(let values): return values.map { Float($0) }
        case .bool(let values): return values.map { $0 ? 1 : 0 }
        }
    }

    /// The values as int64 (fp32 values truncated toward zero, as ONNX Cast
    /// does; booleans 0 or 1).
    public var ints: [Int64] {
        switch storage {
        case .int64(let values): return values
        case .bool(let values): return values.map { $0 ? 1 : 0 }
        case .float(let values):
            return values.map { $0.isFinite ? Int64(clamping: Int64(exactly: $0.rounded(.towardZero)) ?? 0) : 0 }
        }
    }

    /// The values as booleans: non-zero is true (NaN too, as ONNX Cast to bool has it).
    public var bools: [Bool] {
        switch storage {
        case .bool(let values): return values
        case .int64(let values): return values.map { $0 != 0 }
        case .float(let values): return values.map { $0 != 0 }
        }
    }

    /// The values as little-endian bytes (the layout of `.npy` data, DRAM and TensorProto raw data).
    public var littleEndianBytes: [UInt8] {
        switch storage {
        case .float(let values): values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) }
        case .int64(let values): values.map { $0.littleEndian }.withUnsafeBytes { Array($0) }
        case .bool(let values): values.map { $0 ? 1 : 0 }
        }
    }
}
