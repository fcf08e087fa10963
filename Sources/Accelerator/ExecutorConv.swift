// The CONV kernel (matrix and vector engines). The input is first gathered
// into a dense scratch copy with padding cells zeroed, so that every kernel tap
// is one constant offset into it; then for each block of 4 output channels and
// 8 consecutive outputs, all taps accumulate in SIMD registers. Outputs are
// indexed flat over rows of the input's width: the columns past the output
// width are computed and dropped, which keeps the reads contiguous.

extension Machine {
    func conv(_ c: ConvOp) {
        guard c.strideH == c.strideW else { return convRows(c) }
        let cinG = c.input.channels / c.groups, coutG = c.output.channels / c.groups
        let plane = c.input.height * c.input.width
        let x = gatherPaddedInput(c)
        let offsets = tapOffsets(c, channels: cinG)
        offsets.withUnsafeBufferPointer { offsets in
            for g in 0..<c.groups {
                for co0 in stride(from: g * coutG, to: (g + 1) * coutG, by: 4) {
                    let block = min(4, (g + 1) * coutG - co0)
                    convBlock(c, x: x, offsets: offsets, base: g * cinG * plane, firstChannel: co0, block: block)
                    if c.activation.kind != .none { activateChannels(c, co0..<co0 + block) }
                }
            }
        }
    }

    /// Output vectors are 8 lanes wide; the scratch copy carries this many
    /// zero words past its end so the last vector's strided reads stay inside.
    private static let convLanes = 8

    /// The input tile as a dense [channel][row][column] scratch copy, cells
    /// outside the tensor (`window`) zeroed, so that every tap is a constant
    /// offset into it.
    private func gatherPaddedInput(_ c: ConvOp) -> Words {
        let input = c.input, win = c.window
        let (hi, wi) = (input.height, input.width)
        let plane = hi * wi
        let pad = Self.convLanes * c.strideH + Self.convLanes
        let x = scratch.words(input.channels * plane + pad)
        for ch in 0..<input.channels {
            let xValid = max(0, -win.originX)..<max(max(0, -win.originX), min(wi, win.extentW - win.originX))
            for y in 0..<hi {
                let row = x.at(ch * plane + y * wi, wi)
                let ty = win.originY + y
                guard ty >= 0, ty < win.extentH, !xValid.isEmpty else { row.update(repeating: 0, count: wi); continue }
                let src = sram.at(input.addr / 4 + ch * input.channelStride + y * input.rowStride, wi)
                row.update(repeating: 0, count: wi)
                (row + xValid.lowerBound).update(from: src + xValid.lowerBound, count: xValid.count)
            }
        }
        x.at(input.channels * plane, pad).update(repeating: 0, count: pad)
        return x
    }

    /// Flat output index j = oh * wi + ow reads input word s * j + offset[t]
    /// for tap t = (ci, ky, kx) of a group's `channels` input channels.
    private func tapOffsets(_ c: ConvOp, channels cinG: Int) -> [Int] {
        let (kh, kw, dh, dw, wi) = (c.kernelH, c.kernelW, c.dilationH, c.dilationW, c.input.width)
        let plane = c.input.height * wi
        var offsets = [Int](repeating: 0, count: cinG * kh * kw)
        for ci in 0..<cinG {
            for ky in 0..<kh {
                for kx in 0..<kw { offsets[(ci * kh + ky) * kw + kx] = ci * plane + ky * dh * wi + kx * dw }
            }
        }
        return offsets
    }

    /// Up to 4 output channels from `firstChannel`, 8 consecutive flat
    /// outputs at a time, every tap accumulated in SIMD registers. `base` is
    /// the group's first input word in the scratch copy `x`.
    @inline(__always)
    private func convBlock(
        _ c: ConvOp, x: Words, offsets: UnsafeBufferPointer<Int>, base: Int, firstChannel co0: Int, block: Int
    ) {
        let s = c.strideH, lanes = Self.convLanes
        let taps = offsets.count
        let span = (c.output.height - 1) * c.input.width + c.output.width
        // Missing channels of a partial block repeat the first one's weights; never written.
        let w0 = c.weightAddr / 4 + co0 * taps
        let w1 = block > 1 ? w0 + taps : w0, w2 = block > 2 ? w0 + 2 * taps : w0, w3 = block > 3 ? w0 + 3 * taps : w0
        for j0 in stride(from: 0, to: span, by: lanes) {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            let first = base + s * j0
            for t in 0..<taps {
                let v: SIMD8<Float>
                if s == 1 {
                    v = x.load8(first + offsets[t])
                } else {
                    let i = first + offsets[t]
                    v = SIMD8(
                        x[i], x[i + s], x[i + 2 * s], x[i + 3 * s],
                        x[i + 4 * s], x[i + 5 * s], x[i + 6 * s], x[i + 7 * s])
                }
                a0 += sram[w0 + t] * v
                a1 += sram[w1 + t] * v
                a2 += sram[w2 + t] * v
                a3 += sram[w3 + t] * v
            }
            let count = min(lanes, span - j0)
            writeLanes(c, a0, channel: co0, from: j0, count: count)
            if block > 1 { writeLanes(c, a1, channel: co0 + 1, from: j0, count: count) }
            if block > 2 { writeLanes(c, a2, channel: co0 + 2, from: j0, count: count) }
            if block > 3 { writeLanes(c, a3, channel: co0 + 3, from: j0, count: count) }
        }
    }

    /// Writes `count` lanes of flat outputs from `j0` (rows of the input's
    /// width) to output channel `co`, plus bias or onto the accumulator;
    /// lanes past the output width are dropped.
    @inline(__always)
    private func writeLanes(_ c: ConvOp, _ sums: SIMD8<Float>, channel co: Int, from j0: Int, count: Int) {
        let output = c.output, wi = c.input.width
        let plane = output.addr / 4 + co * output.channelStride
        let bias: Float = c.hasBias ? sram[c.biasAddr / 4 + co] : 0
        var (oh, ow) = j0.quotientAndRemainder(dividingBy: wi)
        for lane in 0..<count {
            if ow < output.width {
                let o = plane + oh * output.rowStride + ow
                sram[o] = (c.accumulate ? sram[o] : 0) + sums[lane] + bias
            }
            ow += 1
            if ow == wi { (oh, ow) = (oh + 1, 0) }
        }
    }

    /// The fused activation over finished output channels.
    private func activateChannels(_ c: ConvOp, _ channels: Range<Int>) {
        let output = c.output
        for co in channels {
            for oh in 0..<output.height {
                activate(
                    sram.at(output.addr / 4 + co * output.channelStride + oh * output.rowStride, output.width),
                    output.width, c.activation)
            }
        }
    }
}
