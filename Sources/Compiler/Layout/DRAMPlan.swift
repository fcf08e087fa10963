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
        // 1. Aliases: value -> (value whose storage it shares, element offset).
        var alias: [String: (base: String, offset: Int)] = [:]
        let producers = graph.producers()
        let outputs = Set(graph.outputs)
        func type(_ v: String) -> TensorType { graph.type(of: v)! }
        func isFree(_ v: String) -> Bool {
            alias[v] == nil && producers[v] != nil && !outputs.contains(v) && graph.initializers[v] == nil
        }
        for node in graph.nodes {
            switch node.kind {
            case .reshape, .flatten, .squeeze, .unsqueeze, .identity, .dropout:
                guard let input = node.input(0), graph.initializers[input] == nil, isFree(node.outputs[0]) else {
                    break
                }
                alias[node.outputs[0]] = (input, 0)
            case .concat:
                let out = type(node.outputs[0])
                guard let axis = ShapeMath.normalize(axis: node.int("axis", default: 1), rank: out.rank),
                    out.shape[..<axis].reduce(1, *) == 1
                else { break }
                var offset = 0
                for input in node.inputs where !input.isEmpty {
                    // A value feeding the same concat twice can only be written once.
                    if isFree(input), node.inputs.filter({ $0 == input }).count == 1 {
                        alias[input] = (node.outputs[0], offset)
                    }
                    offset += type(input).count
                }
            case .split, .slice:
                guard let input = node.input(0), graph.initializers[input] == nil else { break }
                let x = type(input)
                let offsets = Self.sliceOffsets(node, graph: graph, input: x)
                for (output, offset) in zip(node.outputs, offsets) where !output.isEmpty && isFree(output) {
                    if let offset { alias[output] = (input, offset) }
                }
            default:
                break
            }
        }
        func root(_ v: String) -> (String, Int) {
            var name = v, offset = 0
            while let next = alias[name] {
                offset += next.offset
                name = next.base
            }
            return (name, offset)
        }

        // 2. Lifetimes of root buffers, in node indices.
        var first: [String: Int] = [:], last: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            let span = spans[index] ?? index..<(index + 1)
            for output in node.outputs where !output.isEmpty {
                let r = root(output).0
                first[r] = min(first[r] ?? span.lowerBound, span.lowerBound)
                last[r] = max(last[r] ?? span.upperBound - 1, span.upperBound - 1)
            }
            for input in node.inputs where !input.isEmpty && graph.initializers[input] == nil {
                let r = root(input).0
                last[r] = max(last[r] ?? span.upperBound - 1, span.upperBound - 1)
            }
        }

        // 3. Pinned buffers: inputs, then outputs, in declaration order.
        var rootAddress: [String: Int] = [:]
        var cursor = Self.align(base)
        for input in graph.inputs {
            rootAddress[input] = cursor
            cursor = Self.align(cursor + type(input).count * type(input).dtype.byteSize)
        }
        for output in graph.outputs {
            let r = root(output).0
            guard rootAddress[r] == nil, graph.initializers[r] == nil else { continue }
            rootAddress[r] = cursor
            cursor = Self.align(cursor + type(r).count * type(r).dtype.byteSize)
        }

        // 4. Intermediates: first fit over the arena, freeing after last use.
        let arenaBase = cursor
        var live: [(start: Int, end: Int, until: Int)] = []
        let roots = first.keys.filter { rootAddress[$0] == nil }.sorted { (first[$0]!, $0) < (first[$1]!, $1) }
        var arenaEnd = 0
        for r in roots {
            let size = Self.align(type(r).count * type(r).dtype.byteSize)
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

        // 5. Every runtime value's location.
        var values = Set(graph.inputs)
        for node in graph.nodes { values.formUnion(node.outputs.filter { !$0.isEmpty }) }
        for v in values {
            let (r, offset) = root(v)
            guard let address = rootAddress[r] else { continue }
            let t = type(v)
            locations[v] = Location(address: address + offset * t.dtype.byteSize, shape: t.shape, dtype: t.dtype)
        }
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
