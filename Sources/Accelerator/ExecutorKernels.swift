import Foundation
import Tensors

// Functional kernels for the DMA, matrix and vector engines. Each follows the
// loops in docs/isa.md; innermost loops run over contiguous rows. Bounds were
// proven by the validator; `Words` re-checks them in debug builds.

/// ceil(a / b) for b > 0 and any a.
@inline(__always) func ceilDivSigned(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }

/// Applies a fused activation to `n` values in place.
func activate(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ a: FusedActivation) {
    let alpha = a.alpha, beta = a.beta
    switch a.kind {
    case .none: return
    case .relu: for i in 0..<n where p[i] < 0 { p[i] = 0 }
    case .leakyRelu: for i in 0..<n where p[i] < 0 { p[i] *= alpha }
    case .clip: for i in 0..<n { p[i] = min(max(p[i], alpha), beta) }
    case .sigmoid: for i in 0..<n { p[i] = 1 / (1 + Foundation.exp(-p[i])) }
    case .hardSigmoid: for i in 0..<n { p[i] = max(0, min(1, alpha * p[i] + beta)) }
    case .hardSwish: for i in 0..<n { p[i] *= max(0, min(1, p[i] / 6 + 0.5)) }
    case .tanh: for i in 0..<n { p[i] = Foundation.tanh(p[i]) }
    case .silu: for i in 0..<n { p[i] = ActivationMath.silu(p[i]) }
    case .gelu: for i in 0..<n { p[i] = ActivationMath.gelu(p[i]) }
    case .geluTanh: for i in 0..<n { p[i] = ActivationMath.geluTanh(p[i]) }
    case .mish: for i in 0..<n { p[i] = ActivationMath.mish(p[i]) }
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
                        sram.at(sRow + lo3, n).update(from: dram.at(dRow + o[3] + lo3, n), count: n)
                    } else {
                        for i3 in lo3..<hi3 { sram[sRow + i3 * ss[3]] = dram[dRow + (o[3] + i3) * ds[3]] }
                    }
                    zero(sRow, hi3, c[3])
                }
            }
        }
    }

    func store(_ t: TransferOp) {
        let c = t.counts, o = t.origin, ds = t.dramStrides, ss = t.sramStrides
        let dBase = t.dramAddr / 4, sBase = t.sramAddr / 4
        for i0 in 0..<c[0] {
            for i1 in 0..<c[1] {
                for i2 in 0..<c[2] {
                    let sRow = sBase + i0 * ss[0] + i1 * ss[1] + i2 * ss[2]
                    let dRow = dBase + (o[0] + i0) * ds[0] + (o[1] + i1) * ds[1] + (o[2] + i2) * ds[2] + o[3] * ds[3]
                    if ss[3] == 1 && ds[3] == 1 {
                        dram.at(dRow, c[3]).update(from: sram.at(sRow, c[3]), count: c[3])
                    } else {
                        for i3 in 0..<c[3] { dram[dRow + i3 * ds[3]] = sram[sRow + i3 * ss[3]] }
                    }
                }
            }
        }
    }

    /// COPY and HOST.COPY: a strided 4-d box between two disjoint ranges.
    func copyBox(_ c: CopyOp, from src: Words, to dst: Words) {
        let n = c.counts, ss = c.srcStrides, ds = c.dstStrides
        for i0 in 0..<n[0] {
            for i1 in 0..<n[1] {
                for i2 in 0..<n[2] {
                    let s = c.srcAddr / 4 + i0 * ss[0] + i1 * ss[1] + i2 * ss[2]
                    let d = c.dstAddr / 4 + i0 * ds[0] + i1 * ds[1] + i2 * ds[2]
                    if ss[3] == 1 && ds[3] == 1 {
                        dst.at(d, n[3]).update(from: src.at(s, n[3]), count: n[3])
                    } else {
                        for i3 in 0..<n[3] { dst[d + i3 * ds[3]] = src[s + i3 * ss[3]] }
                    }
                }
            }
        }
    }

    /// CONV one output row segment at a time (any strides); used when the
    /// vertical and horizontal strides differ.
    func convRows(_ c: ConvOp) {
        let input = c.input, output = c.output, win = c.window
        let cinG = input.channels / c.groups, coutG = output.channels / c.groups
        let (ho, wo) = (output.height, output.width)
        let (kh, kw, sh, sw, dh, dw) = (c.kernelH, c.kernelW, c.strideH, c.strideW, c.dilationH, c.dilationW)
        // Output columns whose input column is valid, per kernel column.
        var colLo = [Int](repeating: 0, count: kw), colHi = colLo
        for kx in 0..<kw {
            let offset = win.originX + kx * dw
            colLo[kx] = min(wo, max(0, ceilDivSigned(-offset, sw)))
            colHi[kx] = min(wo, max(colLo[kx], ceilDivSigned(win.extentW - offset, sw)))
        }
        let wBase = c.weightAddr / 4
        for co in 0..<output.channels {
            let g = co / coutG
            let oPlane = output.addr / 4 + co * output.channelStride
            if !c.accumulate {
                for oh in 0..<ho { sram.at(oPlane + oh * output.rowStride, wo).update(repeating: 0, count: wo) }
            }
            for cig in 0..<cinG {
                let iPlane = input.addr / 4 + (g * cinG + cig) * input.channelStride
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let weight = sram[wBase + ((co * cinG + cig) * kh + ky) * kw + kx]
                        let lo = colLo[kx], n = colHi[kx] - colLo[kx]
                        if n <= 0 { continue }
                        for oh in 0..<ho {
                            let ih = oh * sh + ky * dh
                            let ty = win.originY + ih
                            if ty < 0 || ty >= win.extentH { continue }
                            let o = sram.at(oPlane + oh * output.rowStride + lo, n)
                            let x = iPlane + ih * input.rowStride + lo * sw + kx * dw
                            if sw == 1 {
                                let xp = sram.at(x, n)
                                for j in 0..<n { o[j] += weight * xp[j] }
                            } else {
                                let xp = sram.at(x, (n - 1) * sw + 1)
                                for j in 0..<n { o[j] += weight * xp[j * sw] }
                            }
                        }
                    }
                }
            }
            let bias: Float = c.hasBias ? sram[c.biasAddr / 4 + co] : 0
            for oh in 0..<ho {
                let row = sram.at(oPlane + oh * output.rowStride, wo)
                if c.hasBias { for j in 0..<wo { row[j] += bias } }
                activate(row, wo, c.activation)
            }
        }
    }

    func pool(_ p: PoolOp) {
        let input = p.input, output = p.output, win = p.window
        let (kh, kw, sh, sw, dh, dw) = (p.kernelH, p.kernelW, p.strideH, p.strideW, p.dilationH, p.dilationW)
        let countTop = -p.padTop, countBottom = win.extentH + p.padBottom
        let countLeft = -p.padLeft, countRight = win.extentW + p.padRight
        for ch in 0..<output.channels {
            let iPlane = input.addr / 4 + ch * input.channelStride
            for oh in 0..<output.height {
                let oRow = output.addr / 4 + ch * output.channelStride + oh * output.rowStride
                for ow in 0..<output.width {
                    var maximum = -Float.infinity, sum: Float = 0, valid = 0, counted = 0
                    for ky in 0..<kh {
                        let ih = oh * sh + ky * dh
                        let ty = win.originY + ih
                        let rowValid = ty >= 0 && ty < win.extentH
                        let rowCounted = ty >= countTop && ty < countBottom
                        for kx in 0..<kw {
                            let iw = ow * sw + kx * dw
                            let tx = win.originX + iw
                            if rowCounted && tx >= countLeft && tx < countRight { counted += 1 }
                            if rowValid && tx >= 0 && tx < win.extentW {
                                let v = sram[iPlane + ih * input.rowStride + iw]
                                maximum = max(maximum, v)
                                sum += v
                                valid += 1
                            }
                        }
                    }
                    switch p.kind {
                    case .max: sram[oRow + ow] = valid > 0 ? maximum : 0
                    case .avg: sram[oRow + ow] = counted > 0 ? sum / Float(counted) : 0
                    }
                }
            }
        }
    }

    func eltwise(_ e: EltwiseOp) {
        let w = e.output.width
        for ch in 0..<e.output.channels {
            let bChannel: Float = e.broadcast == .channel ? sram[e.b.addr / 4 + ch * e.b.channelStride] : 0
            for y in 0..<e.output.height {
                let a = sram.at(e.a.addr / 4 + ch * e.a.channelStride + y * e.a.rowStride, w)
                let o = sram.at(e.output.addr / 4 + ch * e.output.channelStride + y * e.output.rowStride, w)
                if e.broadcast == .channel {
                    switch e.kind {
                    case .add: for x in 0..<w { o[x] = a[x] + bChannel }
                    case .sub: for x in 0..<w { o[x] = a[x] - bChannel }
                    case .mul: for x in 0..<w { o[x] = a[x] * bChannel }
                    case .max: for x in 0..<w { o[x] = max(a[x], bChannel) }
                    }
                } else {
                    let b = sram.at(e.b.addr / 4 + ch * e.b.channelStride + y * e.b.rowStride, w)
                    switch e.kind {
                    case .add: for x in 0..<w { o[x] = a[x] + b[x] }
                    case .sub: for x in 0..<w { o[x] = a[x] - b[x] }
                    case .mul: for x in 0..<w { o[x] = a[x] * b[x] }
                    case .max: for x in 0..<w { o[x] = max(a[x], b[x]) }
                    }
                }
                activate(o, w, e.activation)
            }
        }
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
        let (channels, w) = (l.input.channels, l.input.width)
        let rows = scratch.words(channels * w + w)
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

    func matmul(_ m: MatMulOp) {
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
