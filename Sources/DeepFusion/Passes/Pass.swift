/// Options every pass may read; the command line fills them.
public struct CompileOptions: Sendable {
    /// Shapes bound to graph inputs by `--input-shape NAME=1x3x224x224`.
    public var inputShapes: [String: [Int]] = [:]

    public init(inputShapes: [String: [Int]] = [:]) {
        self.inputShapes = inputShapes
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
    ]

    /// Names `--dump-ir` accepts.
    public static var stageNames: [String] { [importStage] + pipeline.map(\.name) }
}
