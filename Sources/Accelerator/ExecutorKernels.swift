import CKernels
import Foundation
import Tensors

// Functional kernels for the DMA, matrix and vector engines. Each follows the
// loops in docs/isa.md; innermost loops run over contiguous rows. Bounds were
// proven by the validator; `Words` re-checks them in debug builds.

/// ceil(a / b) for b > 0 and any a.
@inline(__always) func ceilDivSigned(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }

/// ELTWISE max and min: NaN wins, as the interpreter's Max and Min.
@inline(__always) func nanMax(_ a: Float, _ b: Float) -> Float { a.isNaN || b.isNaN ? .nan : max(a, b) }
@inline(__always) func nanMin(_ a: Float, _ b: Float) -> Float { a.isNaN || b.isNaN ? .nan : min(a, b) }

/// Applies a fused activation to `n` values in place. The piecewise-linear
/// kinds are written as selects, not conditional stores, so that they
/// vectorize and do not branch on the sign of each value.
func activate(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ a: FusedActivation) {
    let alpha = a.alpha, beta = a.beta
    switch a.kind {
    case .none: return
    case .relu: for i in 0..<n { p[i] = p[i] < 0 ? 0 : p[i] }
    case .leakyRelu: for i in 0..<n { p[i] = p[i] < 0 ? p[i] * alpha : p[i] }
    case .clip: for i in 0..<n { p[i] = min(max(p[i], alpha), beta) }
    case .sigmoid: for i in 0..<n { p[i] = 1 / (1 + Foundation.exp(-p[i])) }
    case .hardSigmoid: for i in 0..<n { p[i] = max(0, min(1, alpha * p[i] + beta)) }
    case .hardSwish: for i in 0..<n { p[i] *= max(0, min(1, p[i] / 6 + 0.5)) }
    case .tanh: for i in 0..<n { p[i] = Foundation.tanh(p[i]) }
    case .silu: for i in 0..<n { p[i] = ActivationMath.silu(p[i]) }
    case .gelu: for i in 0..<n { p[i] = ActivationMath.gelu(p[i]) }
    case .geluTanh: for i in 0..<n { p[i] = ActivationMath.geluTanh(p[i]) }
    case .mish: for i in 0..<n { p[i] = ActivationMath.mish(p[i]) }
    case .neg: for i in 0..<n { p[i] = -p[i] }
    case .abs: for i in 0..<n { p[i] = Swift.abs(p[i]) }
    case .floor: for i in 0..<n { p[i] = p[i].rounded(.down) }
    case .ceil: for i in 0..<n { p[i] = p[i].rounded(.up) }
    case .sqrt: for i in 0..<n { p[i] = p[i].squareRoot() }
    }
}

/// Adds `bias` to `n` values, then applies a fused activation; one pass for
/// none and ReLU, the kinds nearly every convolution ends in.
func biasActivate(_ p: UnsafeMutablePointer<Float>, _ n: Int, bias: Float, _ a: FusedActivation) {
    switch a.kind {
    case .none: for i in 0..<n { p[i] += bias }
    case .relu:
        for i in 0..<n {
            let v = p[i] + bias
            p[i] = v < 0 ? 0 : v
        }
    default:
        for i in 0..<n { p[i] += bias }
        activate(p, n, a)
    }
}

/// The channels LRN sums over for channel `c` of `channels`: the window
/// [c - floor((size-1)/2), c + ceil((size-1)/2)], clipped to the tensor.
@inline(__always) func lrnWindow(_ c: Int, channels: Int, size: Int) -> ClosedRange<Int> {
    let before = (size - 1) / 2
    return max(0, c - before)...min(channels - 1, c + size - 1 - before)
}

/// ONNX LRN of `x` given the sum of squares over its window. HOST.LRN and
/// LRN both end in this expression, summing the squares in channel order as
/// the reference interpreter does, so the three agree bit for bit.
@inline(__always) func lrnNormalized(_ x: Float, sumOfSquares: Float, size: Int, alpha: Float, beta: Float, bias: Float)
    -> Float
{
    x / Foundation.pow(bias + alpha / Float(size) * sumOfSquares, beta)
}

extension Machine {
    func load(_ t: TransferOp) {
        let c = t.counts, o = t.origin, e = t.extent, ds = t.dramStrides, ss = t.sramStrides
        let dBase = t.dramAddr / 4, sBase = t.sramAddr / 4
        // The DRAM words the in-bounds cells span (every stride is >= 0).
        var last = dBase, any = true
        for d in 0..<boxRank {
            let lo = max(0, o[d]), hi = min(e[d], o[d] + c[d])
            if lo >= hi { any = false }
            last += max(0, hi - 1) * ds[d]
        }
        let dram = any ? dramSource(dBase..<last + 1) : self.dram.raw
        if (0..<boxRank).allSatisfy({ o[$0] >= 0 && o[$0] + c[$0] <= e[$0] }) {
            let first = dBase + (0..<boxRank).reduce(0) { $0 + o[$1] * ds[$1] }
            return copyCells(c, from: dram, first, ds, to: sram, sBase, ss)
        }
        let lo3 = max(0, min(c[3], -o[3])), hi3 = max(lo3, min(c[3], e[3] - o[3]))
        func zero(_ row: Int, _ from: Int, _ to: Int) { for i3 in from..<max(from, to) { sram[row + i3 * ss[3]] = 0 } }
        for i0 in 0..<c[0] {
            let t0 = o[0] + i0
            for i1 in 0..<c[1] {
                let t1 = o[1] + i1
                for i2 in 0..<c[2] {
                    let t2 = o[2] + i2
                    let sRow = sBase + i0 * ss[0] + i1 * ss[1] + i2 * ss[2]
                    let inside = t0 >= 0 && t0 < e[0] && t1 >= 0 && t1 < e[1] && t2 >= 0 && t2 < e[2]
                    guard inside && lo3 < hi3 else { zero(sRow, 0, c[3]); continue }
                    let dRow = dBase + t0 * ds[0] + t1 * ds[1] + t2 * ds[2]
                    zero(sRow, 0, lo3)
                    let n = hi3 - lo3
                    if ss[3] == 1 && ds[3] == 1 {
                        UnsafeMutableRawPointer(sram.at(sRow + lo3, n))
                            .copyMemory(from: dram.at(dRow + o[3] + lo3, n), byteCount: 4 * n)
                    } else {
                        for i3 in lo3..<hi3 { sram[sRow + i3 * ss[3]] = dram[dRow + (o[3] + i3) * ds[3]] }
                    }
                    zero(sRow, hi3, c[3])
                }
            }
        }
    }

    /// STORE: the box is inside the tensor (the validator checks it).
    func store(_ t: TransferOp) {
        let o = t.origin, ds = t.dramStrides
        let first = t.dramAddr / 4 + (0..<boxRank).reduce(0) { $0 + o[$1] * ds[$1] }
        copyCells(t.counts, from: sram.raw, t.sramAddr / 4, t.sramStrides, to: dram, first, ds)
    }

    /// COPY and HOST.COPY: a strided 4-d box between two disjoint ranges.
    func copyBox(_ c: CopyOp, from src: Words, to dst: Words) {
        copyCells(c.counts, from: src.raw, c.srcAddr / 4, c.srcStrides, to: dst, c.dstAddr / 4, c.dstStrides)
    }

    /// Copies a 4-d box of words, every cell present. Dimensions that are
    /// contiguous on both sides merge, so that a dense box is one copy.
    func copyCells(
        _ counts: [Int], from src: RawWords, _ srcFirst: Int, _ srcStrides: [Int],
        to dst: Words, _ dstFirst: Int, _ dstStrides: [Int]
    ) {
        // (count, source stride, destination stride), innermost first, dimensions of one cell dropped.
        var dims: [(n: Int, s: Int, d: Int)] = []
        for k in (0..<boxRank).reversed() where counts[k] != 1 {
            if let inner = dims.last, srcStrides[k] == inner.n * inner.s, dstStrides[k] == inner.n * inner.d {
                dims[dims.count - 1].n *= counts[k]
            } else {
                dims.append((counts[k], srcStrides[k], dstStrides[k]))
            }
        }
        while dims.count < boxRank { dims.append((1, 0, 0)) }
        let (a, b, c, d) = (dims[3], dims[2], dims[1], dims[0])
        let rows = a.n * b.n * c.n
        // A box of 64 KiB or more whose destination rows nest without overlap is split over the cores
        // (a LOAD of weights is bound by the memory's bandwidth, more of which two cores draw than one).
        let spanC = (c.n - 1) * c.d + d.n, spanB = (b.n - 1) * b.d + spanC
        let nested = d.d == 1 && (c.n == 1 || c.d >= d.n) && (b.n == 1 || b.d >= spanC) && (a.n == 1 || a.d >= spanB)
        if rows * d.n >= 1 << 14, nested {
            let byRows = rows >= Parallel.width
            let parts = Parallel.chunks(byRows ? rows : d.n, parts: Parallel.width)
            Parallel.run(parts.count) { part in
                let (rowRange, columns) = byRows ? (parts[part], 0..<d.n) : (0..<rows, parts[part])
                let n = columns.count
                for r in rowRange {
                    let (i0, i1, i2) = (r / (b.n * c.n), r / c.n % b.n, r % c.n)
                    let s = srcFirst + i0 * a.s + i1 * b.s + i2 * c.s + columns.lowerBound * d.s
                    let t = dstFirst + i0 * a.d + i1 * b.d + i2 * c.d + columns.lowerBound
                    dfc_copy_strided(dst.at(t, n), src.at(s, (n - 1) * d.s + 1), d.s, n)
                }
            }
            return
        }
        for i0 in 0..<a.n {
            for i1 in 0..<b.n {
                for i2 in 0..<c.n {
                    let s = srcFirst + i0 * a.s + i1 * b.s + i2 * c.s
                    let t = dstFirst + i0 * a.d + i1 * b.d + i2 * c.d
                    if d.d == 1 {
                        dfc_copy_strided(dst.at(t, d.n), src.at(s, (d.n - 1) * d.s + 1), d.s, d.n)
                    } else {
                        for i3 in 0..<d.n { dst[t + i3 * d.d] = src[s + i3 * d.s] }
                    }
                }
            }
        }
    }

    /// POOL in one C call per core (CKernels' `dfc_pool_run`: AVX-512, eight channels at a time, or AVX2
    /// for column strides 1 and 2, four; the window's edges as lane masks), channels split over the
    /// cores; the same operations in the same order as `poolRows` (which runs where the kernel does
    /// not), so the same bits.
    func pool(_ p: PoolOp) {
        let input = p.input, output = p.output, win = p.window
        var d = dfc_pool(
            input: sram.at(input.addr / 4, 1), input_channel_stride: input.channelStride,
            input_row_stride: input.rowStride, output: sram.at(output.addr / 4, 1),
            output_channel_stride: output.channelStride, output_row_stride: output.rowStride, height: output.height,
            width: output.width, kernel_h: p.kernelH, kernel_w: p.kernelW, stride_h: p.strideH, stride_w: p.strideW,
            dilation_h: p.dilationH, dilation_w: p.dilationW, origin_y: win.originY, origin_x: win.originX,
            extent_h: win.extentH, extent_w: win.extentW, pad_top: p.padTop, pad_left: p.padLeft,
            pad_bottom: p.padBottom, pad_right: p.padRight, max: p.kind == .max ? 1 : 0)
        guard dfc_pool_run(&d, 0, 0) != 0 else { return poolRows(p) }
        let parts = Parallel.chunks(
            output.channels, parts: output.elements * p.kernelH * p.kernelW >= 1 << 15 ? Parallel.width : 1)
        withUnsafePointer(to: &d) { d in
            Parallel.run(parts.count) { part in _ = dfc_pool_run(d, parts[part].lowerBound, parts[part].upperBound) }
        }
    }

    /// POOL one output row at a time: every kernel tap updates the row's
    /// running maxima or sums over the output columns whose input lies inside
    /// the window (the same taps in the same order for each output as a
    /// per-output loop). Which taps are valid or counted (average pooling's
    /// padding rule) splits into a row and a column factor. Channels are
    /// spread over the cores. The row path of `pool` where CKernels' whole-instruction kernel does not run.
    func poolRows(_ p: PoolOp) {
        let input = p.input, output = p.output, win = p.window
        let (kh, kw, sh, sw, dh, dw) = (p.kernelH, p.kernelW, p.strideH, p.strideW, p.dilationH, p.dilationW)
        let (ho, wo) = (output.height, output.width)
        // Per kernel column, the output columns whose input is valid, and per
        // output column how many kernel columns are valid and counted.
        var columns = [(Int, Int)](), validColumns = [Int](repeating: 0, count: wo), countedColumns = validColumns
        for kx in 0..<kw {
            let offset = win.originX + kx * dw
            let lo = min(wo, max(0, ceilDivSigned(-offset, sw)))
            columns.append((lo, min(wo, max(lo, ceilDivSigned(win.extentW - offset, sw)))))
            for ow in 0..<wo {
                let tx = offset + ow * sw
                if tx >= -p.padLeft && tx < win.extentW + p.padRight { countedColumns[ow] += 1 }
            }
            for ow in columns[kx].0..<columns[kx].1 { validColumns[ow] += 1 }
        }
        // A max with no valid tap is 0: the columns where that is so whatever the row.
        let emptyColumns = (0..<wo).filter { validColumns[$0] == 0 }
        let parts = Parallel.chunks(output.channels, parts: output.elements * kh * kw >= 1 << 15 ? Parallel.width : 1)
        countedColumns.withUnsafeBufferPointer { counts in
            Parallel.run(parts.count) { part in
                // One output row's taps: where each reads and its columns (weights unused).
                let row = DepthwiseRow(capacity: kh * kw)
                for ch in parts[part] {
                    let iPlane = input.addr / 4 + ch * input.channelStride
                    for oh in 0..<ho {
                        let o = sram.at(output.addr / 4 + ch * output.channelStride + oh * output.rowStride, wo)
                        var validRows = 0, countedRows = 0
                        row.removeAll()
                        for ky in 0..<kh {
                            let ih = oh * sh + ky * dh
                            let ty = win.originY + ih
                            if ty >= -p.padTop && ty < win.extentH + p.padBottom { countedRows += 1 }
                            guard ty >= 0 && ty < win.extentH else { continue }
                            validRows += 1
                            for kx in 0..<kw {
                                let (lo, hi) = columns[kx]
                                guard lo < hi else { continue }
                                let x = sram.at(iPlane + ih * input.rowStride + kx * dw, (hi - 1) * sw + 1)
                                row.append(x + lo * sw, weight: 0, columns: lo..<hi)
                            }
                        }
                        row.pool(into: o, wo, max: p.kind == .max, stride: sw)
                        switch p.kind {
                        case .max:
                            if validRows == 0 {
                                o.update(repeating: 0, count: wo)
                            } else {
                                for ow in emptyColumns { o[ow] = 0 }
                            }
                        case .avg:
                            for ow in 0..<wo {
                                let counted = countedRows * counts[ow]
                                o[ow] = counted > 0 ? o[ow] / Float(counted) : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// ELTWISE, channels spread over the cores. Where every operand's rows and channels follow one
    /// another without gaps (ResNet-50's residual adds: 256 channels of one 56-word row), the tile is
    /// one run of words, split over the cores by words, with a broadcast channel one run per channel:
    /// the same operations on the same words in the same order as row by row, in far fewer calls
    /// (ResNet-50's 612 ELTWISEs, one run each instead of up to 2,048 rows of 7).
    func eltwise(_ e: EltwiseOp) {
        let o = e.output
        func dense(_ t: SRAMTile, planes: Bool) -> Bool {
            (t.height == 1 || t.rowStride == t.width)
                && (planes || t.channels == 1 || t.channelStride == t.height * t.width)
        }
        let planes = e.broadcast == .channel
        if dense(o, planes: planes), dense(e.a, planes: planes), planes || dense(e.b, planes: false) {
            let plane = o.height * o.width
            if planes {
                let parts = Parallel.chunks(o.channels, parts: o.elements >= 1 << 15 ? Parallel.width : 1)
                Parallel.run(parts.count) { part in
                    for ch in parts[part] {
                        let bChannel = sram[e.b.addr / 4 + ch * e.b.channelStride]
                        eltwiseRun(
                            e, a: e.a.addr / 4 + ch * e.a.channelStride, b: nil, bChannel,
                            output: o.addr / 4 + ch * o.channelStride, plane)
                    }
                }
                return
            }
            // Parts of whole 16-word vectors, so that each core's run starts on the same lane as a single run.
            let words = o.channels * plane, vectors = (words + 15) / 16
            let parts = Parallel.chunks(vectors, parts: words >= 1 << 15 ? Parallel.width : 1)
            Parallel.run(parts.count) { part in
                let from = 16 * parts[part].lowerBound, to = min(words, 16 * parts[part].upperBound)
                eltwiseRun(
                    e, a: e.a.addr / 4 + from, b: e.b.addr / 4 + from, 0, output: o.addr / 4 + from, to - from)
            }
            return
        }
        let parts = Parallel.chunks(o.channels, parts: o.elements >= 1 << 16 ? Parallel.width : 1)
        Parallel.run(parts.count) { part in eltwise(e, channels: parts[part]) }
    }

    private func eltwise(_ e: EltwiseOp, channels: Range<Int>) {
        let w = e.output.width
        for ch in channels {
            let bChannel: Float = e.broadcast == .channel ? sram[e.b.addr / 4 + ch * e.b.channelStride] : 0
            for y in 0..<e.output.height {
                eltwiseRun(
                    e, a: e.a.addr / 4 + ch * e.a.channelStride + y * e.a.rowStride,
                    b: e.broadcast == .channel ? nil : e.b.addr / 4 + ch * e.b.channelStride + y * e.b.rowStride,
                    bChannel, output: e.output.addr / 4 + ch * e.output.channelStride + y * e.output.rowStride, w)
            }
        }
    }

    /// `w` words of ELTWISE from SRAM words `a` and `b` (or the value `bChannel` where `b` is nil) into
    /// words from `output`, then its activation over them.
    private func eltwiseRun(_ e: EltwiseOp, a: Int, b: Int?, _ bChannel: Float, output: Int, _ w: Int) {
        let a = sram.at(a, w), o = sram.at(output, w)
        if let b {
            let b = sram.at(b, w)
            switch e.kind {
            case .add: for x in 0..<w { o[x] = a[x] + b[x] }
            case .sub: for x in 0..<w { o[x] = a[x] - b[x] }
            case .mul: for x in 0..<w { o[x] = a[x] * b[x] }
            case .max: for x in 0..<w { o[x] = nanMax(a[x], b[x]) }
            case .min: for x in 0..<w { o[x] = nanMin(a[x], b[x]) }
            }
        } else {
            switch e.kind {
            case .add: for x in 0..<w { o[x] = a[x] + bChannel }
            case .sub: for x in 0..<w { o[x] = a[x] - bChannel }
            case .mul: for x in 0..<w { o[x] = a[x] * bChannel }
            case .max: for x in 0..<w { o[x] = nanMax(a[x], bChannel) }
            case .min: for x in 0..<w { o[x] = nanMin(a[x], bChannel) }
            }
        }
        activate(o, w, e.activation)
    }

    func act(_ a: ActOp) {
        let w = a.output.width
        for ch in 0..<a.output.channels {
            for y in 0..<a.output.height {
                let i = sram.at(a.input.addr / 4 + ch * a.input.channelStride + y * a.input.rowStride, w)
                let o = sram.at(a.output.addr / 4 + ch * a.output.channelStride + y * a.output.rowStride, w)
                if o != i { o.update(from: i, count: w) }
                activate(o, w, a.activation)
            }
        }
    }

    /// One row at a time: the row of every channel is copied to scratch
    /// first, so the output may overwrite the input.
    /// RESIZE on tiles: the rows and columns each output reads come from
    /// `ResizeAxis` in tensor coordinates, shifted to the input tile's.
    func resize(_ r: ResizeOp) {
        let (input, output) = (r.input, r.output)
        let (width, outWidth) = (input.width, output.width)
        let mode = (r.coordinateMode, r.nearestMode)
        for y in 0..<output.height {
            let row = r.outRow + y
            switch r.mode {
            case .nearest:
                let iy =
                    ResizeAxis.nearestIndex(
                        row, scale: r.scaleH, inLength: r.inHeight, outLength: r.outHeight, mode.0, mode.1) - r.inRow
                let columns = (0..<outWidth).map {
                    ResizeAxis.nearestIndex($0, scale: r.scaleW, inLength: width, outLength: outWidth, mode.0, mode.1)
                }
                for ch in 0..<output.channels {
                    let source = input.addr / 4 + ch * input.channelStride + iy * input.rowStride
                    let target = output.addr / 4 + ch * output.channelStride + y * output.rowStride
                    for (x, ix) in columns.enumerated() { sram[target + x] = sram[source + ix] }
                }
            case .linear:
                let (y0, y1, wy) = ResizeAxis.linearTaps(
                    row, scale: r.scaleH, inLength: r.inHeight, outLength: r.outHeight, mode.0)
                let taps = (0..<outWidth).map {
                    ResizeAxis.linearTaps($0, scale: r.scaleW, inLength: width, outLength: outWidth, mode.0)
                }
                for ch in 0..<output.channels {
                    let plane = input.addr / 4 + ch * input.channelStride
                    let top = plane + (y0 - r.inRow) * input.rowStride,
                        bottom = plane + (y1 - r.inRow) * input.rowStride
                    let target = output.addr / 4 + ch * output.channelStride + y * output.rowStride
                    for (x, (x0, x1, wx)) in taps.enumerated() {
                        let a = (1 - wx) * sram[top + x0] + wx * sram[top + x1]
                        let b = (1 - wx) * sram[bottom + x0] + wx * sram[bottom + x1]
                        sram[target + x] = (1 - wy) * a + wy * b
                    }
                }
            }
        }
    }

    func lrn(_ l: LRNOp) {
        // Output apart from the input: rows split over the cores, each read where it lies (the values and
        // the order of every sum are those of the copy below, so are the bits).
        if !l.output.wordBounds.overlaps(l.input.wordBounds) {
            let (channels, w) = (l.input.channels, l.input.width)
            let parts = Parallel.chunks(
                l.output.height, parts: l.output.elements * l.size >= 1 << 13 ? Parallel.width : 1)
            return Parallel.run(parts.count) { part in
                let sums = UnsafeMutablePointer<Float>.allocate(capacity: w)
                defer { sums.deallocate() }
                for y in parts[part] {
                    for ch in 0..<channels {
                        sums.update(repeating: 0, count: w)
                        for k in lrnWindow(ch, channels: channels, size: l.size) {
                            let v = sram.at(l.input.addr / 4 + k * l.input.channelStride + y * l.input.rowStride, w)
                            for x in 0..<w { sums[x] += v[x] * v[x] }
                        }
                        let v = sram.at(l.input.addr / 4 + ch * l.input.channelStride + y * l.input.rowStride, w)
                        let o = sram.at(l.output.addr / 4 + ch * l.output.channelStride + y * l.output.rowStride, w)
                        for x in 0..<w {
                            o[x] = lrnNormalized(
                                v[x], sumOfSquares: sums[x], size: l.size, alpha: l.alpha, beta: l.beta, bias: l.bias)
                        }
                    }
                }
            }
        }
        let (channels, w) = (l.input.channels, l.input.width)
        let rows = scratch.words(channels * w + w, slot: 2)
        let sums = rows.at(channels * w, w)
        for y in 0..<l.output.height {
            for ch in 0..<channels {
                let source = sram.at(l.input.addr / 4 + ch * l.input.channelStride + y * l.input.rowStride, w)
                rows.at(ch * w, w).update(from: source, count: w)
            }
            for ch in 0..<channels {
                sums.update(repeating: 0, count: w)
                for k in lrnWindow(ch, channels: channels, size: l.size) {
                    let v = rows.at(k * w, w)
                    for x in 0..<w { sums[x] += v[x] * v[x] }
                }
                let v = rows.at(ch * w, w)
                let o = sram.at(l.output.addr / 4 + ch * l.output.channelStride + y * l.output.rowStride, w)
                for x in 0..<w {
                    o[x] = lrnNormalized(
                        v[x], sumOfSquares: sums[x], size: l.size, alpha: l.alpha, beta: l.beta, bias: l.bias)
                }
            }
        }
    }

    /// MATMUL as one sgemm against the transposed weights ([n][k] rows),
    /// then bias and activation row by row.
    func matmul(_ m: MatMulOp) {
        let lda = m.m == 1 ? m.k : m.aRowStride, ldc = m.m == 1 ? m.n : m.outRowStride
        guard lda >= m.k, ldc >= m.n else { return matmulRows(m) }
        GEMM.multiply(
            m: m.m, n: m.n, k: m.k, a: sram.at(m.aAddr / 4, 1), lda: lda, b: sram.at(m.weightAddr / 4, 1), ldb: m.k,
            transposedB: true, c: sram.at(m.outAddr / 4, 1), ldc: ldc, beta: m.accumulate ? 1 : 0
        ) { rows, columns in
            for i in rows {
                let o = sram.at(m.outAddr / 4 + i * m.outRowStride + columns.lowerBound, columns.count)
                if m.hasBias {
                    let bias = sram.at(m.biasAddr / 4 + columns.lowerBound, columns.count)
                    for j in 0..<columns.count { o[j] += bias[j] }
                }
                activate(o, columns.count, m.activation)
            }
        }
    }

    /// MATMUL as dot products, for operands whose rows overlap (strides
    /// below the row length), which sgemm does not take.
    private func matmulRows(_ m: MatMulOp) {
        let vectorized = m.k / 8 * 8
        for i in 0..<m.m {
            let aRow = m.aAddr / 4 + i * m.aRowStride
            let a = sram.at(aRow, m.k)
            let o = sram.at(m.outAddr / 4 + i * m.outRowStride, m.n)
            for j in 0..<m.n {
                let wRow = m.weightAddr / 4 + j * m.k
                let w = sram.at(wRow, m.k)
                var partial = SIMD8<Float>()
                for k in stride(from: 0, to: vectorized, by: 8) {
                    partial += sram.load8(aRow + k) * sram.load8(wRow + k)
                }
                var dot = partial.sum()
                for k in vectorized..<m.k { dot += a[k] * w[k] }
                var acc: Float = m.accumulate ? o[j] : 0
                if m.hasBias { acc += sram[m.biasAddr / 4 + j] }
                o[j] = acc + dot
            }
            activate(o, m.n, m.activation)
        }
    }
}
