import Tensors

/// Assembles a `Program`: constants first, then DRAM buffers and named
/// tensors, then instructions. Used by the compiler's codegen and by tests.
///
/// DRAM layout: the constants segment [0, constantsEnd) holds every constant,
/// each 64-byte aligned; buffers follow it. The first `allocate` seals the
/// constants segment, so add every constant before allocating anything.
public struct ProgramBuilder {
    public static let alignment = 64

    public var config: AcceleratorConfig
    public private(set) var constants: [UInt8] = []
    public private(set) var tensors: [TensorInfo] = []
    public private(set) var instructions: [Instruction] = []
    public private(set) var debugNames: [[String]] = []
    private var dramEnd: Int? = nil

    public init(config: AcceleratorConfig = .df1) { self.config = config }

    private static func align(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Appends raw bytes to the constants segment; returns their DRAM address.
    public mutating func addConstant(bytes: [UInt8]) -> Int {
        precondition(dramEnd == nil, "add every constant before the first allocate()")
        constants += [UInt8](repeating: 0, count: Self.align(constants.count) - constants.count)
        let address = constants.count
        constants += bytes
        return address
    }

    /// Appends fp32 values (weights, biases) to the constants segment; returns their DRAM address.
    public mutating func addConstant(_ values: [Float]) -> Int {
        addConstant(bytes: values.withUnsafeBytes { Array($0) })
    }

    /// Reserves `bytes` of zeroed DRAM after the constants; returns the address.
    public mutating func allocate(bytes: Int) -> Int {
        let start = Self.align(dramEnd ?? constants.count)
        dramEnd = start + bytes
        return start
    }

    /// Declares a program input in a fresh DRAM buffer; returns its address.
    public mutating func addInput(_ name: String, shape: [Int], dtype: DType = .float32) -> Int {
        let address = allocate(bytes: shape.reduce(1, *) * dtype.byteSize)
        tensors.append(TensorInfo(name: name, shape: shape, dtype: dtype, address: address, role: .input))
        return address
    }

    /// Declares a program output in a fresh DRAM buffer; returns its address.
    public mutating func addOutput(_ name: String, shape: [Int], dtype: DType = .float32) -> Int {
        let address = allocate(bytes: shape.reduce(1, *) * dtype.byteSize)
        addOutput(name, shape: shape, dtype: dtype, at: address)
        return address
    }

    /// Declares a program output at an existing address (e.g. an input buffer or a constant).
    public mutating func addOutput(_ name: String, shape: [Int], dtype: DType = .float32, at address: Int) {
        tensors.append(TensorInfo(name: name, shape: shape, dtype: dtype, address: address, role: .output))
    }

    /// Appends an instruction; returns its index.
    @discardableResult
    public mutating func emit(
        _ operation: Op, wait: EngineSet = [], signal: EngineSet = [],
        nodes: [String] = []
    ) -> Int {
        instructions.append(Instruction(operation, wait: wait, signal: signal))
        debugNames.append(nodes)
        return instructions.count - 1
    }

    /// The program (not validated; `Program.validate()` or the executor does that).
    public func build() -> Program {
        let end = Self.align(dramEnd ?? constants.count)
        return Program(
            config: config, dramBytes: end, constants: ConstantBytes(constants), tensors: tensors,
            instructions: instructions, debugNames: debugNames)
    }
}
