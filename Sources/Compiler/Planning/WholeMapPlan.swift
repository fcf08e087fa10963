import GraphIR

/// Whole-map groups: one band that covers the whole output, for layers whose
/// maps are small but whose channels and weights are many (the late stages
/// of a ResNet). Intermediates are held whole in SRAM. A group input that
/// does not fit is streamed in blocks of channels: into the convolutions
/// that read it (accumulating over input-channel blocks) and into the tail.
/// Weights are resident or stream once in [output block, input block]
/// tiles. The tail (the last convolution, when it reads a held value, and
/// the element-wise chain after it) runs one block of output channels at a
/// time, and each block is stored as soon as it is done. A depthwise
/// convolution right after the last convolution joins the tail: each
/// channel's map needs only that channel, so a block of the last
/// convolution's output goes through a padded scratch into the depthwise
/// one (a squeeze-excitation block's expand, depthwise and pool, whose
/// wide map is never whole in SRAM). A MaxPool or AveragePool closing the
/// group pools each block from such a scratch in the same way (GoogLeNet's
/// branches before a stride-2 pool store only the pooled map). SRAM is shared
/// over time: a buffer or slot occupies its bytes only while it is live.
struct WholeMapPlan {
    /// Indices into the graph's nodes, consecutive.
    var nodes: Range<Int>
    /// The one value that leaves the group, and the activations it reads from DRAM (first use first).
    var output: String
    var inputs: [String]
    /// Output channels per block (the tail, weight tiles).
    var block: Int
    /// Input channels per block (streamed inputs, weight tiles).
    var inBlock: Int
    /// Group inputs streamed in channel blocks, and the layout of one block
    /// in an input slot (rows and column margins the convolutions read).
    var streamedInputs: Set<String>
    var streamedLayout: [String: SRAMBuffer]
    /// A streamed input whose first channels are held instead (loaded once,
    /// read by every reader from SRAM): the input and its buffer of those channels.
    var partial: (input: String, buffer: SRAMBuffer)?
    /// Whole buffers: intermediates and held inputs.
    var buffers: [String: SRAMBuffer]
    var heldInputs: [String]
    /// Convolutions whose weights are loaded whole at the start.
    var residentWeights: Set<String>
    /// The weight tiles (output, input channels) of each convolution whose weights stream. A tile's
    /// output channels are the block where the layer heads the tail and its input channels the input
    /// block where it reads a streamed input; the other sides are as wide as the weight slot allows, so
    /// a 1x1 layer beside a 3x3 one loads fewer, larger tiles (each costs a DMA setup). A
    /// convolution not listed uses `block` x `inBlock`.
    var weightTiles: [String: (outputs: Int, inputs: Int)] = [:]
    /// The slot size the tiles were fitted to (`AllocationRequest.weightBudget`).
    var weightBudget: Int?
    /// Index (into the graph's nodes) of the first per-block layer; nil when
    /// the output is held whole and stored at the end.
    var tailStart: Int?
    /// SRAM: end of the resident constants; two slots each for weight tiles,
    /// input blocks and output blocks.
    var constantsEnd: Int
    var weightSlot: Int, weightBase: Int
    var inputSlot: Int, inputBase: Int
    /// Blocks of streamed inputs the tail reads have their own two slots.
    var tailInputSlot: Int, tailInputBase: Int
    var outputSlot: Int, outputBase: Int
    /// A depthwise convolution or a pool in the tail reads each block of the last
    /// convolution's output from two scratch slots, laid out with the rows
    /// and margins its window reads (`scratchLayout`, at slot 0).
    var scratchSlot = 0, scratchBase = 0
    var scratchLayout: SRAMBuffer?
    /// The address of the output held whole in SRAM for a later group (see
    /// `SqueezeHold`): each block is written there in the band layout
    /// (rows outermost) and never stored.
    var heldOutput: Int?
    var sramBytes = 0
    var dramBytes = 0
    var estimatedCycles = 0
    /// A GlobalAveragePool of the output (see `FusionRules.poolingTail`):
    /// each block of output channels is averaged into `result` as it is
    /// done; `storesMap` false when nothing else reads the map.
    var pooled: (node: String, result: Int, storesMap: Bool)?

    /// The weight tile of `node` (see `weightTiles`).
    func weightTile(_ node: Node) -> (outputs: Int, inputs: Int) { weightTiles[node.name] ?? (block, inBlock) }

    /// The layers computed on maps: all but a pooling tail.
    var mapNodes: Range<Int> { pooled == nil ? nodes : nodes.lowerBound..<(nodes.upperBound - 1) }

    func tileDescription(graph: Graph) -> String {
        let held = partial.map { " (its first \($0.buffer.channels) channels held)" } ?? ""
        let inputs =
            streamedInputs.isEmpty
            ? "inputs held"
            : "streaming \(streamedInputs.sorted().joined(separator: ",")) in blocks of \(inBlock) channels\(held)"
        let streamed = nodes.map { graph.nodes[$0] }.filter { $0.kind == .conv && !residentWeights.contains($0.name) }
        let shapes = streamed.map { weightTile($0) }
        let weights: String
        if streamed.isEmpty {
            weights = ""
        } else if shapes.allSatisfy({ $0 == shapes[0] }) {
            weights =
                ", weights of \(streamed.map(\.name).joined(separator: ",")) in \(shapes[0].0)x\(shapes[0].1) tiles"
        } else {
            weights =
                ", weights of " + zip(streamed, shapes).map { "\($0.name) in \($1.0)x\($1.1)" }.joined(separator: ", ")
                + " tiles"
        }
        let tail = tailStart.map { ", output in blocks of \(block) channels from \(graph.nodes[$0].name)" } ?? ""
        let depthwise = scratchLayout == nil ? "" : " through \(graph.nodes[tailStart! + 1].name)"
        let pooling = pooled.map { ", averaged into \($0.node)" } ?? ""
        let holding = heldOutput == nil ? "" : ", holding \(output) whole in SRAM"
        return "whole map, \(inputs)\(weights)\(tail)\(depthwise)\(pooling)\(holding), SRAM \(sramBytes) B"
    }
}
