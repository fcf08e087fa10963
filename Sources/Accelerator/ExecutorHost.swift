import Foundation

// Functional kernels of the host instructions, on dense fp32 DRAM tensors.
// Semantics follow the ONNX operators named in docs/isa.md.

extension Machine {
    func softmax(_ s: HostSoftmaxOp) {
        let src = s.src / 4, dst = s.dst / 4
        for o in 0..<s.outer {
            for i in 0..<s.inner {
                let base = o * s.axis * s.inner + i
                var maximum = -Float.infinity
                for a in 0..<s.axis { maximum = max(maximum, dram[src + base + a * s.inner]) }
                var sum: Float = 0
                for a in 0..<s.axis {
                    let e = Foundation.exp(dram[src + base + a * s.inner] - maximum)
                    dram[dst + base + a * s.inner] = e
                    sum += e
                }
                for a in 0..<s.axis { dram[dst + base + a * s.inner] /= sum }
            }
        }
    }

    /// ONNX LRN: y = x / (bias + alpha / size * sum of x^2 over channels
    /// [c - floor((size-1)/2), c + ceil((size-1)/2)]) ^ beta.
    func lrn(_ l: HostLRNOp) {
        let src = l.src / 4, dst = l.dst / 4
        for n in 0..<l.n {
            for c in 0..<l.c {
                let window = lrnWindow(c, channels: l.c, size: l.size)
                for s in 0..<l.spatial {
                    var sum: Float = 0
                    for k in window {
                        let v = dram[src + (n * l.c + k) * l.spatial + s]
                        sum += v * v
                    }
                    let i = (n * l.c + c) * l.spatial + s
                    dram[dst + i] = lrnNormalized(
                        dram[src + i], sumOfSquares: sum, size: l.size, alpha: l.alpha, beta: l.beta, bias: l.bias)
                }
            }
        }
    }

    func resize(_ r: HostResizeOp) {
        if r.mode == .linear { return linearResize(r) }
        let maps = (0..<4).map { d in
            (0..<r.outDims[d]).map {
                ResizeAxis.nearestIndex(
                    $0, scale: r.scales[d], inLength: r.inDims[d], outLength: r.outDims[d],
                    r.coordinateMode, r.nearestMode)
            }
        }
        let inStrides = rowMajorStrides(r.inDims)
        var out = r.dst / 4
        for i0 in maps[0] {
            for i1 in maps[1] {
                for i2 in maps[2] {
                    let row = r.src / 4 + i0 * inStrides[0] + i1 * inStrides[1] + i2 * inStrides[2]
                    for i3 in maps[3] {
                        dram[out] = dram[row + i3]
                        out += 1
                    }
                }
            }
        }
    }

    /// Linear resize, one axis at a time from the last: each output index
    /// blends the two input neighbours of its coordinate (clamped to the
    /// edges); axes kept at their size and scale 1 are not touched.
    func linearResize(_ r: HostResizeOp) {
        var dims = r.inDims
        var values = (0..<dims.reduce(1, *)).map { dram[r.src / 4 + $0] }
        for axis in (0..<4).reversed() where r.inDims[axis] != r.outDims[axis] || r.scales[axis] != 1 {
            let n = dims[axis], m = r.outDims[axis]
            let outer = dims[..<axis].reduce(1, *), inner = dims[(axis + 1)...].reduce(1, *)
            var next = [Float](repeating: 0, count: outer * m * inner)
            for j in 0..<m {
                let (i0, i1, weight) = ResizeAxis.linearTaps(
                    j, scale: r.scales[axis], inLength: n, outLength: m, r.coordinateMode)
                for o in 0..<outer {
                    let a = (o * n + i0) * inner, b = (o * n + i1) * inner, out = (o * m + j) * inner
                    for i in 0..<inner { next[out + i] = (1 - weight) * values[a + i] + weight * values[b + i] }
                }
            }
            values = next
            dims[axis] = m
        }
        for (i, v) in values.enumerated() { dram[r.dst / 4 + i] = v }
    }

    func transpose(_ t: HostTransposeOp) {
        let inStrides = rowMajorStrides(t.dims)
        let outDims = t.perm.map { t.dims[$0] }
        let strides = t.perm.map { inStrides[$0] }  // input stride of each output dim
        var index = [Int](repeating: 0, count: hostRank)
        let total = outDims.reduce(1, *)
        var src = t.src / 4
        for out in 0..<total {
            dram[t.dst / 4 + out] = dram[src]
            // Odometer increment over the output index, tracking the input offset.
            var d = hostRank - 1
            while d >= 0 {
                index[d] += 1
                src += strides[d]
                if index[d] < outDims[d] { break }
                src -= strides[d] * outDims[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    func reduceMean(_ m: HostReduceMeanOp) {
        let reduced = (0..<hostRank).map { m.axesMask & (1 << $0) != 0 }
        let outDims = (0..<hostRank).map { reduced[$0] ? 1 : m.dims[$0] }
        let outStrides = rowMajorStrides(outDims).enumerated().map { reduced[$0.offset] ? 0 : $0.element }
        var sums = [Double](repeating: 0, count: outDims.reduce(1, *))
        var index = [Int](repeating: 0, count: hostRank)
        var out = 0
        let total = m.dims.reduce(1, *)
        for i in 0..<total {
            sums[out] += Double(dram[m.src / 4 + i])
            var d = hostRank - 1
            while d >= 0 {
                index[d] += 1
                out += outStrides[d]
                if index[d] < m.dims[d] { break }
                out -= outStrides[d] * m.dims[d]
                index[d] = 0
                d -= 1
            }
        }
        let count = Double(total / sums.count)
        for (i, s) in sums.enumerated() { dram[m.dst / 4 + i] = Float(s / count) }
    }
}
