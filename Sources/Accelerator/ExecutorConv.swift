// The CONV kernel (matrix and vector engines). The input is first gathered
// into a dense scratch copy with padding cells zeroed, so that every kernel tap
// is one constant offset into it; then for each block of 4 output channels and
// 8 consecutive outputs, all taps accumulate in SIMD registers. Outputs are
// indexed flat over rows of the input's width: the columns past the output
// width are computed and dropped, which keeps the reads contiguous.

extension Machine {
    func conv(_ c: ConvOp) {
        guard c.strideH == c.strideW else { return convRows(c) }
        let input = c.input, output = c.output, win = c.window
        let cinG = input.channels / c.groups, coutG = output.channels / c.groups
        let (hi, wi, ho, wo) = (input.height, input.width, output.height, output.width)
        let (kh, kw, s, dh, dw) = (c.kernelH, c.kernelW, c.strideH, c.dilationH, c.dilationW)
        let plane = hi * wi
        let taps = cinG * kh * kw
        // Flat output index j = oh * wi + ow reads input word s * j + offset[t].
        let span = (ho - 1) * wi + wo
        let lanes = 8, pad = lanes * s + lanes

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

        var offsets = [Int](repeating: 0, count: taps)
        for ci in 0..<cinG {
            for ky in 0..<kh {
                for kx in 0..<kw { offsets[(ci * kh + ky) * kw + kx] = ci * plane + ky * dh * wi + kx * dw }
            }
        }
        let wBase = c.weightAddr / 4
        offsets.withUnsafeBufferPointer { offsets in
            for g in 0..<c.groups {
                let base = g * cinG * plane
                for co0 in stride(from: g * coutG, to: (g + 1) * coutG, by: 4) {
                    let block = min(4, (g + 1) * coutG - co0)
                    // Missing channels of a partial block repeat the first one's weights; never written.
                    let w0 = wBase + co0 * taps
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
                                v = SIMD8(x[i], x[i + s], x[i + 2 * s], x[i + 3 * s],
                                          x[i + 4 * s], x[i + 5 * s], x[i + 6 * s], x[i + 7 * s])
                            }
                            a0 += sram[w0 + t] * v
                            a1 += sram[w1 + t] * v
                            a2 += sram[w2 + t] * v
                            a3 += sram[w3 + t] * v
                        }
                        let count = min(lanes, span - j0)
                        let (oh0, ow0) = j0.quotientAndRemainder(dividingBy: wi)
                        func write(_ sums: SIMD8<Float>, _ b: Int) {
                            let co = co0 + b
                            let plane = output.addr / 4 + co * output.channelStride
                            let bias: Float = c.hasBias ? sram[c.biasAddr / 4 + co] : 0
                            var (oh, ow) = (oh0, ow0)
                            for lane in 0..<count {
                                if ow < wo {
                                    let o = plane + oh * output.rowStride + ow
                                    sram[o] = (c.accumulate ? sram[o] : 0) + sums[lane] + bias
                                }
                                ow += 1
                                if ow == wi { (oh, ow) = (oh + 1, 0) }
                            }
                        }
                        write(a0, 0)
                        if block > 1 { write(a1, 1) }
                        if block > 2 { write(a2, 2) }
                        if block > 3 { write(a3, 3) }
                    }
                    if c.activation.kind != .none {
                        for co in co0..<co0 + block {
                            for oh in 0..<ho {
                                activate(sram.at(output.addr / 4 + co * output.channelStride + oh * output.rowStride, wo),
                                         wo, c.activation)
                            }
                        }
                    }
                }
            }
        }
    }
}
