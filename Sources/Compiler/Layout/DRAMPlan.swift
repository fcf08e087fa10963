import Accelerator
import GraphIR
import Tensors

/// DRAM addresses for every runtime value of a graph.
///
/// Layout: the constants segment (weights) first, then graph inputs, graph
/// outputs, and one arena for intermediates in which a value's space is
/// reused once its last reader has run. Values that are pure reinterpretations
/// share storage instead of being copied: views (Reshape, Flatten, ...) share
/// their input's bytes, a Concat along its outermost non-unit axis has its
/// producers write straight into their slice of the result, and a Split or
/// Slice of such an axis reads its slice of the input in place.
struct DRAMPlan {
    struct Location: Equatable {
        /// Byte address of element 0.
        var address: Int
        var shape: [Int]
        var dtype: DType

        var bytes: Int { shape.reduce(1, *) * dtype.byteSize }
        var range: MemoryRange { .dram(address, bytes: bytes) }
    }

    /// Where each runtime value lives (initializers are in `constants`).
    private(set) var locations: [String: Location] = [:]
    /// First byte past everything the program uses.
    private(set) var end: Int = 0
    /// Bytes the intermediates arena needs, and what it would need without reuse.
    private(set) var arenaBytes = 0
    private(set) var arenaBytesWithoutReuse = 0

    static let alignment = 64

    static func align(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// `spans` maps a node index to the range of nodes executing with it (a
    /// fusion group runs its layers interleaved, so their values share one lifetime).
    init(graph: Graph, base: Int, spans: [Int: Range<Int>] = [:]) throws {
        let aliases = Aliases(graph: graph)
        let (first, last) = Self.lifetimes(graph, aliases: aliases, spans: spans)
        let pinned = Self.pinned(graph, aliases: aliases, base: base)
        var rootAddress = pinned.addresses
        let arenaBase = pinned.end
        // Intermediates: first fit over the arena, freeing after last use.
        var live: [(start: Int, end: Int, until: Int)] = []
        let roots = first.keys.filter { rootAddress[$0] == nil }.sorted { (first[$0]!, $0) < (first[$1]!, $1) }
        var arenaEnd = 0
        for r in roots {
            let type = graph.type(of: r)!
            let size = Self.align(type.count * type.dtype.byteSize)
            arenaBytesWithoutReuse += size
            live.removeAll { $0.until < first[r]! }
            live.sort { $0.start < $1.start }
            var start = 0
            for block in live {
                if block.start - start >= size { break }
                start = max(start, block.end)
            }
            live.append((start, start + size, last[r]!))
            rootAddress[r] = arenaBase + start
            arenaEnd = max(arenaEnd, start + size)
        }
        arenaBytes = arenaEnd
        end = Self.align(arenaBase + arenaEnd)
        // Every runtime value's location: its root's address plus its offset.
        var values = Set(graph.inputs)
        for node in graph.nodes { values.formUnion(node.outputs.filter { !$0.isEmpty }) }
        for v in values {
            let (r, offset) = aliases.root(v)
            guard let address = rootAddress[r] else { continue }
            let t = graph.type(of: v)!
            locations[v] = Location(address: address + offset * t.dtype.byteSize, shape: t.shape, dtype: t.dtype)
        }
    }

    /// Values that share another value's storage: views share their input's,
    /// Concat parts (along an outermost non-unit axis) are written into their
    /// slice of the result, a Concat whose parts extend an earlier one's is
    /// that one's storage too, contiguous Split/Slice outputs read their slice in place.
    struct Aliases {
        /// value -> (value whose storage it shares, element offset in it).
        private var alias: [String: (base: String, offset: Int)] = [:]

        init(graph: Graph) {
            let producers = graph.producers()
            let outputs = Set(graph.outputs)
            func isFree(_ v: String, _ alias: [String: (base: String, offset: Int)]) -> Bool {
                alias[v] == nil && producers[v] != nil && !outputs.contains(v) && graph.initializers[v] == nil
            }
            var concats: [(output: String, axis: Int, parts: [String])] = []
            for node in graph.nodes {
                switch node.kind {
                case .reshape, .flatten, .squeeze, .unsqueeze, .identity, .dropout:
                    guard let input = node.input(0), graph.initializers[input] == nil, isFree(node.outputs[0], alias)
                    else {
                        break
                    }
                    alias[node.outputs[0]] = (input, 0)
                case .concat:
                    let out = graph.type(of: node.outputs[0])!
                    guard let axis = ShapeMath.normalize(axis: node.int("axis", default: 1), rank: out.rank),
                        out.shape[..<axis].reduce(1, *) == 1
                    else { break }
                    var parts = node.inputs.filter { !$0.isEmpty }
                    var offset = 0
                    // A concat whose parts begin with all of an earlier one's, in
                    // order and on the same axis (a DenseNet block's growing
                    // features), holds that concat as its prefix: the earlier one
                    // becomes a view and its parts are not copied again.
                    if let prefix = concats.last(where: { earlier in
                        earlier.axis == axis && earlier.parts.count < parts.count
                            && Array(parts.prefix(earlier.parts.count)) == earlier.parts
                            && isFree(earlier.output, alias)
                    }) {
                        alias[prefix.output] = (node.outputs[0], 0)
                        offset = graph.type(of: prefix.output)!.count
                        parts.removeFirst(prefix.parts.count)
                    }
                    concats.append((node.outputs[0], axis, node.inputs.filter { !$0.isEmpty }))
                    for input in parts {
                        // A value feeding the same concat twice can only be written once.
                        if isFree(input, alias), node.inputs.filter({ $0 == input }).count == 1 {
                            alias[input] = (node.outputs[0], offset)
                        }
                        offset += graph.type(of: input)!.count
                    }
                case .split, .slice:
                    guard let input = node.input(0), graph.initializers[input] == nil else { break }
                    let offsets = DRAMPlan.sliceOffsets(node, graph: graph, input: graph.type(of: input)!)
                    for (output, offset) in zip(node.outputs, offsets) where !output.isEmpty && isFree(output, alias) {
                        if let offset { alias[output] = (input, offset) }
                    }
                default:
                    break
                }
            }
        }

        /// The value that owns `v`'s storage, and `v`'s element offset in it.
        func root(_ v: String) -> (String, Int) {
            var name = v, offset = 0
            while let next = alias[name] {
                offset += next.offset
                name = next.base
            }
            return (name, offset)
        }
    }

    /// First and last node index during which each root buffer is live.
    private static func lifetimes(_ graph: Graph, aliases: Aliases, spans: [Int: Range<Int>])
        -> (first: [String: Int], last: [String: Int])
    {
        var first: [String: Int] = [:], last: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            let span = spans[index] ?? index..<(index + 1)
            for output in node.outputs where !output.isEmpty {
                let r = aliases.root(output).0
                first[r] = min(first[r] ?? span.lowerBound, span.lowerBound)
                last[r] = max(last[r] ?? span.upperBound - 1, span.upperBound - 1)
            }
            for input in node.inputs where !input.isEmpty && graph.initializers[input] == nil {
                let r = aliases.root(input).0
                last[r] = max(last[r] ?? span.upperBound - 1, span.upperBound - 1)
            }
        }
        return (first, last)
    }

    /// Pinned buffers: graph inputs, then graph outputs, in declaration order
    /// from `base`; returns their addresses and where the arena begins.
    private static func pinned(_ graph: Graph, aliases: Aliases, base: Int) -> (addresses: [String: Int], end: Int) {
        var rootAddress: [String: Int] = [:]
        var cursor = align(base)
        func place(_ value: String) {
            let type = graph.type(of: value)!
            rootAddress[value] = cursor
            cursor = align(cursor + type.count * type.dtype.byteSize)
        }
        for input in graph.inputs { place(input) }
        for output in graph.outputs {
            let r = aliases.root(output).0
            guard rootAddress[r] == nil, graph.initializers[r] == nil else { continue }
            place(r)
        }
        return (rootAddress, cursor)
    }

    /// Element offsets of a Split's or Slice's outputs inside their input when
    /// they are contiguous slices of it (outer dimensions all 1, step 1,
    /// only one axis cut); nil for an output that is not.
    static func sliceOffsets(_ node: Node, graph: Graph, input x: TensorType) -> [Int?] {
        let strides = ShapeMath.strides(x.shape)
        if node.kind == .split {
            guard let axis = ShapeMath.normalize(axis: node.int("axis", default: 0), rank: x.rank),
                x.shape[..<axis].reduce(1, *) == 1
            else { return node.outputs.map { _ in nil } }
            var offset = 0
            return node.outputs.map { output in
                let here = offset
                offset += (graph.type(of: output)?.shape[axis] ?? 0) * strides[axis]
                return here
            }
        }
        let context = ShapeRules.Context(
            node: node, inputs: node.inputs.map { graph.type(of: $0) }, opset: graph.opsetVersion,
            constant: { graph.initializers[$0] })
        guard let ranges = try? ShapeRules.sliceRanges(context, shape: x.shape) else { return [nil] }
        let cut = ranges.indices.filter { ranges[$0].count != x.shape[$0] || ranges[$0].start != 0 }
        guard cut.count <= 1 else { return [nil] }
        guard let axis = cut.first else { return [0] }
        guard ranges[axis].step == 1, x.shape[..<axis].reduce(1, *) == 1 else { return [nil] }
        return [ranges[axis].start * strides[axis]]
    }
}
