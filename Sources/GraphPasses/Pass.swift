import GraphIR

/// Options every pass may read; the command line fills them.
public struct CompileOptions: Sendable {
    /// Shapes bound to graph inputs by `--input-shape NAME=1x3x224x224`.
    public var inputShapes: [String: [Int]] = [:]
    /// Receives one line per decision the user should know of (a batch
    /// defaulted to 1, a fixed dim overridden); `dfc compile` prints them on stderr.
    public var note: @Sendable (String) -> Void
    /// `--max-memory`: the most bytes the model's tensors may need in all
    /// (every value computed or held, without reuse); checked by infer-shapes.
    public var maxMemoryBytes: Int

    /// 16 GiB: far above what a CNN for this accelerator needs (a program's DRAM is at most 4 GiB).
    public static let defaultMaxMemoryBytes = 16 << 30

    public init(
        inputShapes: [String: [Int]] = [:], maxMemoryBytes: Int = defaultMaxMemoryBytes,
        note: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.inputShapes = inputShapes
        self.maxMemoryBytes = maxMemoryBytes
        self.note = note
    }
}

/// A named transformation of the graph. Passes only transform; printing and
/// verification belong to the `PassManager`.
public protocol Pass: Sendable {
    /// Kebab-case name, used by `--dump-ir=NAME`.
    var name: String { get }
    /// One line for `--help` and the IR dump header.
    var summary: String { get }
    func run(_ graph: inout Graph, options: CompileOptions) throws
}

/// Every pass dfc knows, in pipeline order; the command line and `--help`
/// are driven from this list.
public enum PassRegistry {
    /// The name under which the freshly imported graph is dumped.
    public static let importStage = "import"

    /// The default pipeline, top to bottom.
    public static let pipeline: [any Pass] = [
        // Every later pass needs concrete shapes; they also validate the model.
        InferShapes(),
        // Shape chains and Constant nodes become constants first, so every
        // later pass sees weights, pads and shapes as plain initializers.
        FoldConstants(),
        // Pass-through nodes would hide a producer from its real reader.
        RemoveIdentity(),
        // Exporters' spelled-out HardSwish, SiLU, GELU and Mish and Div by
        // constants, before the per-channel Mul folding and activation fusion see them.
        CanonicalizeArithmetic(),
        // One view op; also drops views that keep the shape.
        CanonicalizeViews(),
        // Pads join the Conv/pool windows before those windows are scheduled.
        FoldPad(),
        // With the pads final, taps that read only padding can go.
        TrimDeadTaps(),
        // Before fold-batchnorm, which folds into the canonical Gemm's weight.
        LowerFullyConnected(),
        // BatchNorm and per-channel Mul/Add leave Conv -> activation adjacent.
        FoldBatchNorm(),
        // Last rewrite: every producer has reached its final form.
        FuseActivations(),
        // Weights replaced and nodes bypassed above are dropped.
        EliminateDeadCode()
    ]

    /// The graph stages `--dump-ir` can print: the import, then every pass.
    /// (The command line appends the scheduling stages codegen runs.)
    public static var stageNames: [String] { [importStage] + pipeline.map(\.name) }
}
