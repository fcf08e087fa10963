import GraphIR

/// Index arithmetic shared by the data-movement and element-wise kernels.
///
/// Most data movement is one operation: each output axis picks, through a
/// table, which index of some source axis it reads. Transpose, Slice,
/// broadcasting, Pad, nearest Resize and Gather differ only in their tables.
enum Indexing {
    /// Marks an output position that reads no source element (padding).
    static let outside = -1

    /// `out[i0, i1, ...] = source[sum over d of tables[d][id] * strides[d]]`,
    /// or `fill` when any table entry is `outside`. The output's shape is
    /// the tables' lengths, row-major.
    static func gather<T>(_ source: [T], tables: [[Int]], strides: [Int], fill: T) -> [T] {
        precondition(tables.count == strides.count)
        let shape = tables.map(\.count)
        let total = shape.reduce(1, *)
        guard total > 0 else { return [] }
        guard let innerTable = tables.last else { return [source[0]] }
        let rank = shape.count
        // Each axis's table times its stride, with `outside` kept as nil.
        let parts: [[Int?]] = (0..<rank).map { d in tables[d].map { $0 == outside ? nil : $0 * strides[d] } }
        let inner = parts[rank - 1]
        let innerCount = innerTable.count
        var index = [Int](repeating: 0, count: rank - 1)
        let rows = total / innerCount
        return [T](unsafeUninitializedCapacity: total) { buffer, initialized in
            source.withUnsafeBufferPointer { src in
                var o = 0
                for _ in 0..<rows {
                    var base: Int? = 0
                    for d in 0..<(rank - 1) {
                        guard let b = base, let p = parts[d][index[d]] else { base = nil; break }
                        base = b + p
                    }
                    if let base {
                        for j in 0..<innerCount {
                            buffer.initializeElement(at: o, to: inner[j].map { src[base + $0] } ?? fill)
                            o += 1
                        }
                    } else {
                        for _ in 0..<innerCount {
                            buffer.initializeElement(at: o, to: fill)
                            o += 1
                        }
                    }
                    var d = rank - 2
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < shape[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
                initialized = total
            }
        }
    }

    /// The strides with which a tensor of `shape` is read when broadcast to
    /// `target` (NumPy rules, aligned at the trailing axis): 0 on the axes
    /// it is repeated along.
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = ShapeMath.strides(shape)
        let offset = target.count - shape.count
        return target.indices.map { i in
            let j = i - offset
            return j < 0 || shape[j] == 1 ? 0 : own[j]
        }
    }

    /// `values` of `shape` repeated to `target`.
    static func expand<T>(_ values: [T], shape: [Int], to target: [Int]) -> [T] {
        if shape == target { return values }
        guard let first = values.first else { return [] }
        let strides = broadcastStrides(shape, to: target)
        return gather(values, tables: target.map { Array(0..<$0) }, strides: strides, fill: first)
    }

    /// `f(a, b)` element by element, with `a` and `b` broadcast to `shape`.
    @inline(__always)
    static func binary<T, U>(
        _ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int], to shape: [Int],
        _ f: (T, T) -> U
    ) -> [U] {
        let total = shape.reduce(1, *)
        if aShape == shape && bShape == shape {
            return [U](unsafeUninitializedCapacity: total) { out, initialized in
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        for i in 0..<total { out.initializeElement(at: i, to: f(a[i], b[i])) }
                    }
                }
                initialized = total
            }
        }
        guard total > 0 else { return [] }
        // Merge neighbouring axes both operands walk contiguously, so the
        // inner loop runs as long as possible.
        var dims: [Int] = [], sa: [Int] = [], sb: [Int] = []
        let fullA = broadcastStrides(aShape, to: shape), fullB = broadcastStrides(bShape, to: shape)
        for i in shape.indices where shape[i] != 1 {
            if let last = dims.indices.last, sa[last] == fullA[i] * shape[i], sb[last] == fullB[i] * shape[i] {
                dims[last] *= shape[i]
                sa[last] = fullA[i]
                sb[last] = fullB[i]
            } else {
                dims.append(shape[i])
                sa.append(fullA[i])
                sb.append(fullB[i])
            }
        }
        if dims.isEmpty { dims = [1]; sa = [0]; sb = [0] }
        let rank = dims.count
        let inner = dims[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1]
        return [U](unsafeUninitializedCapacity: total) { out, initialized in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    var index = [Int](repeating: 0, count: rank)
                    var offA = 0, offB = 0, o = 0
                    while o < total {
                        for j in 0..<inner {
                            out.initializeElement(at: o + j, to: f(a[offA + j * ia], b[offB + j * ib]))
                        }
                        o += inner
                        var d = rank - 2
                        while d >= 0 {
                            index[d] += 1
                            offA += sa[d]
                            offB += sb[d]
                            if index[d] < dims[d] { break }
                            offA -= sa[d] * dims[d]
                            offB -= sb[d] * dims[d]
                            index[d] = 0
                            d -= 1
                        }
                    }
                }
            }
            initialized = total
        }
    }
}
