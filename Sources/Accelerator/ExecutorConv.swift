// The CONV kernel (matrix and vector engines). A convolution with more than
// one input channel per group is a matrix product per group: weights
// [output channel][tap] times the input's taps [tap][output position], where
// a 1x1 stride-1 convolution over a fully valid dense tile reads the tile as
// that matrix directly and any other one gathers it first (im2col, padding
// cells zero). The product writes straight into a dense output tile (its
// channel stride as the leading dimension) or into scratch and is then
// copied out. Depthwise convolutions (one input channel per group) run row by
// row instead, channels spread over the cores.

import CKernels

extension Machine {
    func conv(_ c: ConvOp) {
        let cinG = c.input.channels / c.groups, coutG = c.output.channels / c.groups
        if cinG == 1 && c.groups > 1 {
            if convDepthwise(c) { return }
            return convRows(c)
        }
        if readsRowsInPlace(c) { return convInPlace(c) }
        if convRowProducts(c) { return }
        if GEMM.packsPanels && c.kernelH * c.kernelW > 1 { return convPanels(c) }
        let taps = cinG * c.kernelH * c.kernelW, n = c.output.height * c.output.width
        let (x, ldx, groupStride) = directInput(c) ?? gatherTaps(c)
        let output = c.output
        let ldc = output.channels == 1 ? n : output.channelStride
        let denseOutput = writesDense(c)
        for g in 0..<c.groups {
            let weights = sram.at(c.weightAddr / 4 + g * coutG * taps, coutG * taps)
            let b = x.at(g * groupStride, 1)
            let first = g * coutG
            if denseOutput && ldc >= n {
                // A pass of bias and activation over each finished part beats finishing each tile as it is
                // stored here (dfc_sgemm_finished): ResNet-50's 1x1 CONVs, one core, 45.8 against 48.7 ms.
                let out = sram.at(output.addr / 4 + first * output.channelStride, 1)
                GEMM.multiply(
                    m: coutG, n: n, k: taps, a: weights, lda: taps, b: b, ldb: ldx, c: out, ldc: ldc,
                    beta: c.accumulate ? 1 : 0
                ) { rows, columns in
                    for row in rows { finishChannel(c, first + row, columns) }
                }
            } else {
                // The product's columns placed into the output's rows as they are stored, onto the values
                // there when accumulating, plus the bias (0 without one, as scatterChannel): no sums in
                // scratch and no second pass (MobileNetV2's 1x1 CONVs, one core: 9.0 against 8.0 ms).
                let zeros = c.hasBias ? [] : [Float](repeating: 0, count: coutG)
                let finished = zeros.withUnsafeBufferPointer { zeros in
                    var e = epilogue(c, first: first)
                    if !c.hasBias { e.bias = zeros.baseAddress }
                    (e.onto, e.width, e.row_stride) = (c.accumulate ? 1 : 0, output.width, output.rowStride)
                    let out = sram.at(output.addr / 4 + first * output.channelStride, 1)
                    let activateRows = { (rows: Range<Int>, columns: Range<Int>) in
                        for row in rows {
                            for oh in columns.lowerBound / output.width..<columns.upperBound / output.width {
                                activateAfterEpilogue(c, first + row, 0..<output.width, row: oh)
                            }
                        }
                    }
                    if GEMM.multiplyFinished(
                        m: coutG, n: n, k: taps, a: weights, lda: taps, b: b, ldb: ldx, c: out,
                        ldc: output.channelStride, accumulate: false, epilogue: e, after: activateRows)
                    {
                        return true
                    }
                    guard GEMM.vectorized else { return false }
                    // Sums in scratch, each part finished by CKernels on the core that computed it while it is
                    // in that core's cache: the expressions of scatterChannel, vectorized (MobileNetV2's 1x1
                    // CONVs, one core, caller CPU time: 16.4 against 17.8 ms through scatterChannel).
                    let sums = scratch.words(coutG * n, slot: 1)
                    GEMM.multiply(
                        m: coutG, n: n, k: taps, a: weights, lda: taps, b: b, ldb: ldx, c: sums.base, ldc: n, beta: 0
                    ) { rows, columns in
                        var part = e
                        part.bias = e.bias.map { $0 + rows.lowerBound }
                        dfc_finish_product(
                            sums.base + rows.lowerBound * n + columns.lowerBound, n, rows.count, columns.lowerBound,
                            columns.count, out + rows.lowerBound * output.channelStride, output.channelStride, &part)
                        for row in rows {
                            for oh in columns.lowerBound / output.width..<(columns.upperBound - 1) / output.width + 1 {
                                let from = max(columns.lowerBound - oh * output.width, 0)
                                let to = min(columns.upperBound - oh * output.width, output.width)
                                activateAfterEpilogue(c, first + row, from..<to, row: oh)
                            }
                        }
                    }
                    return true
                }
                if finished { continue }
                let sums = scratch.words(coutG * n, slot: 1)
                GEMM.multiply(
                    m: coutG, n: n, k: taps, a: weights, lda: taps, b: b, ldb: ldx, c: sums.base, ldc: n, beta: 0)
                let parts = Parallel.chunks(coutG, parts: coutG * n >= 1 << 15 ? Parallel.width : 1)
                Parallel.run(parts.count) { part in
                    for co in parts[part] { scatterChannel(c, first + co, sums.at(co * n, n)) }
                }
            }
        }
    }

    /// CONV as CKernels' `dfc_conv_product_run` per group: each core gathers the panels of the tap matrix
    /// for its own part of the product (its output columns, or all of them for its output channels when
    /// there are more channels than columns) and multiplies each while it is in that core's cache, then
    /// finishes the results into the output tile. Only where `GEMM.packsPanels`, for kernels larger than
    /// 1x1: a 1x1 CONV's tap matrix is a plain copy of the input (or the input itself), and on `conv`'s
    /// product it ran as fast or faster (MobileNetV2's 1x1 CONVs, one core, caller CPU time: 12.8 ms
    /// against 13.2 from the input where it lies and 13.6 with its rows copied into the panels).
    func convPanels(_ c: ConvOp) {
        let input = c.input, output = c.output, win = c.window
        let cinG = input.channels / c.groups, coutG = output.channels / c.groups
        let taps = cinG * c.kernelH * c.kernelW, n = output.height * output.width
        guard n > 0, coutG > 0 else { return }  // nothing to write, as `GEMM.multiply`
        let columns = validColumns(c)
        let (lo, hi) = (columns.map(\.0), columns.map(\.1))
        // A dense output tile takes the chains from its values when accumulating, as `conv`'s product; one
        // with rows apart adds the finished sums onto them, as its scatter.
        let ldc = output.channels == 1 ? n : output.channelStride
        let placed = !writesDense(c)
        let byRows = coutG >= n
        let ways = coutG * n * taps >= 1 << 18 ? Parallel.width : 1
        let unit = byRows ? 1 : 16
        let parts = Parallel.chunks((byRows ? coutG : n + unit - 1) / unit, parts: ways).map {
            $0.lowerBound * unit..<min(byRows ? coutG : n, $0.upperBound * unit)
        }
        let workWords = dfc_conv_product_work(byRows ? parts.map(\.count).max() ?? 0 : coutG)
        let work = scratch.words(workWords * parts.count, slot: 1)
        let groupWords = dfc_conv_panels_words(n, taps)
        // Kept only for products of 32 or fewer rows, where gathering is much of the work, and tap matrices
        // of at most 1.25 MiB: ResNet-18's 28x28 maps (64 channels and 0.9 MiB, or 32 and 1.8 MiB) ran slower
        // from kept panels, its 14x14 and 7x7 ones (32 channels, up to 1.1 MiB) faster.
        let kept =
            coutG <= 32 && groupWords * c.groups <= 5 << 16
            ? tapPanels.panels(for: c, words: groupWords * c.groups) : nil
        lo.withUnsafeBufferPointer { lo in
            hi.withUnsafeBufferPointer { hi in
                for g in 0..<c.groups {
                    var t = dfc_taps(
                        input: UnsafePointer(sram.at(input.addr / 4 + g * cinG * input.channelStride, 1)),
                        channel_stride: input.channelStride, row_stride: input.rowStride, height: output.height,
                        width: output.width, kernel_h: c.kernelH, kernel_w: c.kernelW, stride_h: c.strideH,
                        stride_w: c.strideW, dilation_h: c.dilationH, dilation_w: c.dilationW,
                        origin_y: win.originY, extent_h: win.extentH, lo: lo.baseAddress, hi: hi.baseAddress)
                    let first = g * coutG
                    var e = epilogue(c, first: first)
                    if placed {
                        (e.onto, e.width, e.row_stride) = (c.accumulate ? 1 : 0, output.width, output.rowStride)
                    }
                    withUnsafePointer(to: &t) { t in
                        var p = dfc_conv_product(
                            m: coutG, n: n, k: taps,
                            weights: UnsafePointer(sram.at(c.weightAddr / 4 + first * taps, coutG * taps)),
                            lda: taps, taps: t,
                            c: sram.at(output.addr / 4 + first * output.channelStride, 1),
                            ldc: ldc, accumulate: c.accumulate && !placed ? 1 : 0, e: e)
                        withUnsafePointer(to: &p) { p in
                            let panels = kept.map { $0.base + g * groupWords }
                            if let panels, !kept!.gathered {
                                let strips = Parallel.chunks((n + 63) / 64, parts: ways)
                                Parallel.run(strips.count) { part in
                                    for strip in strips[part] { dfc_conv_gather_strip(p, strip, panels) }
                                }
                            }
                            Parallel.run(parts.count) { part in
                                let (rows, cols) = byRows ? (parts[part], 0..<n) : (0..<coutG, parts[part])
                                if let panels {
                                    _ = dfc_conv_product_run_gathered(
                                        p, rows.lowerBound, rows.upperBound, cols.lowerBound, cols.upperBound,
                                        panels, work.base + part * workWords)
                                } else {
                                    _ = dfc_conv_product_run(
                                        p, rows.lowerBound, rows.upperBound, cols.lowerBound, cols.upperBound,
                                        work.base + part * workWords)
                                }
                                for co in rows {
                                    for oh in cols.lowerBound / output.width..<(cols.upperBound - 1) / output.width + 1
                                    {
                                        let from = max(cols.lowerBound - oh * output.width, 0)
                                        let to = min(cols.upperBound - oh * output.width, output.width)
                                        activateAfterEpilogue(c, first + co, from..<to, row: oh)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A 1x1 stride-1 CONV over tiles whose rows hold every channel (channel stride within the row,
    /// MobileNetV2's layout) as one product per output row: that row's weights times the input row read
    /// where it lies (its channel stride as the leading dimension), written where the output row lies,
    /// then bias and ReLU or Clip over the row in place while it is in the core's cache (CKernels'
    /// `dfc_sgemm` and `dfc_finish_product`). No tap matrix is gathered and no sums pass through
    /// scratch. The cores split the output channels, as the depthwise CONV that reads them next does,
    /// so each finds its channels in its own cache. MobileNetV2's 1x1 CONVs (DFC_EXECUTOR_PROFILE,
    /// median of 15, two cores): 11.3 against 12.2 ms through the tap matrix and scratch (11.6 with
    /// the rows split instead, which slowed the depthwise CONVs after them); rows under 24 wide gain
    /// too (one core: 13.6 against 14.6 ms when they keep the tap matrix). False where it does not
    /// apply: AVX-512 (its finished products take these), groups, accumulation, rows under 7 wide, a
    /// cell outside the window, an output that overlaps the input, or tiles that are whole matrices
    /// already.
    func convRowProducts(_ c: ConvOp) -> Bool {
        let input = c.input, output = c.output, win = c.window
        let (ho, wo, cin, cout) = (output.height, output.width, input.channels, output.channels)
        guard GEMM.vectorized, !GEMM.wide, c.groups == 1, !c.accumulate, c.kernelH == 1, c.kernelW == 1,
            c.strideH == 1, c.strideW == 1, ho > 1, wo >= 7, input.height >= ho, input.width >= wo,
            win.originY >= 0, win.originX >= 0, win.originY + ho <= win.extentH, win.originX + wo <= win.extentW,
            cin == 1 || input.channelStride >= wo, cout == 1 || output.channelStride >= wo,
            !output.wordBounds.overlaps(input.wordBounds), !writesDense(c) || directInput(c) == nil
        else { return false }
        let ldb = cin == 1 ? wo : input.channelStride, ldc = cout == 1 ? wo : output.channelStride
        let weights = UnsafePointer(sram.at(c.weightAddr / 4, cout * cin))
        let x = UnsafePointer(sram.at(input.addr / 4, 1)), out = sram.at(output.addr / 4, 1)
        let e = epilogue(c, first: 0)
        let finishes = e.bias != nil || e.activation != 0
        let parts = Parallel.chunks(cout, parts: cout * cin * ho * wo >= 1 << 18 ? Parallel.width : 1)
        Parallel.run(parts.count) { part in
            let channels = parts[part], m = channels.count
            var finish = e
            finish.bias = e.bias.map { $0 + channels.lowerBound }
            for oh in 0..<ho {
                let row = out + oh * output.rowStride + channels.lowerBound * ldc
                dfc_sgemm(
                    m, wo, cin, weights + channels.lowerBound * cin, cin, x + oh * input.rowStride, ldb, row, ldc, 0)
                if finishes { dfc_finish_product(row, ldc, m, 0, wo, row, ldc, &finish) }
                for co in channels { activateAfterEpilogue(c, co, 0..<wo, row: oh) }
            }
        }
        return true
    }

    /// Whether the product of `c` can be written straight into its output tile: rows adjacent, channels
    /// at least a product row apart.
    func writesDense(_ c: ConvOp) -> Bool {
        let o = c.output, n = o.height * o.width
        return (o.rowStride == o.width || o.height == 1) && (o.channels == 1 ? n : o.channelStride) >= n
    }

    /// What CKernels' products do to each result of `c` as they store it (`dfc_epilogue`): its bias
    /// (from output channel `first`), then ReLU or Clip; other activations are left to
    /// `activateAfterEpilogue`.
    func epilogue(_ c: ConvOp, first: Int) -> dfc_epilogue {
        let a = c.activation
        return dfc_epilogue(
            bias: c.hasBias ? UnsafePointer(sram.at(c.biasAddr / 4 + first, 1)) : nil, onto: 0,
            activation: a.kind == .relu ? 1 : a.kind == .clip ? 2 : 0, alpha: a.alpha, beta: a.beta, width: 0,
            row_stride: 0)
    }

    /// The activation of output channel `co`'s `columns` (of output row `row`), where the epilogue
    /// did not apply it.
    func activateAfterEpilogue(_ c: ConvOp, _ co: Int, _ columns: Range<Int>, row: Int = 0) {
        let kind = c.activation.kind
        guard kind != .none, kind != .relu, kind != .clip else { return }
        let o = c.output
        activate(
            sram.at(o.addr / 4 + co * o.channelStride + row * o.rowStride + columns.lowerBound, columns.count),
            columns.count, c.activation)
    }

    /// Whether the CONV runs on `convInPlace`: AVX-512 or AVX2 present, column stride 1, a kernel larger
    /// than 1x1 that `dfc_conv_row` takes, rows at least 12 wide. Measured on one core (CONV CPU
    /// time, DFC_EXECUTOR_PROFILE): rows of 12 and more in place against the tap matrix, ResNet-50
    /// 103 against 108 ms, AlexNet 16.9 against 20.2; 1x1 kernels in place lose (MobileNetV2 19.8
    /// against 16.9 ms, Inception v1 42.9 against 39.0): their tap matrix is a plain copy, and a
    /// product over all of a band's columns fills the 16-lane vectors better than one row does. With AVX2
    /// only (an EPYC without AVX-512; 8-lane tiles of 16 columns), in place only for kernels 5 or more
    /// columns wide, whose tap matrix is 25 or more times the input: AlexNet's 5x5 CONVs 7.1 against
    /// 10.3 to 10.8 ms through a tap matrix gathered in C, where its 3x3 ones lose (13.1 against 10.6 to 10.8),
    /// as VGG-16's (453 and 464 against 398 to 433) and all but gain on ResNet-18 (66.0 and 67.4 against 69.4
    /// and 70.6).
    func readsRowsInPlace(_ c: ConvOp) -> Bool {
        GEMM.vectorized && c.strideW == 1 && c.output.width >= 12 && c.kernelH * c.kernelW > 1 && c.kernelH <= 64
            && c.kernelW <= 62 && (GEMM.wide || c.kernelW >= 5)
    }

    /// CONV with column stride 1 from the input rows where they lie, one output row and up to six
    /// output channels at a time (CKernels' `dfc_conv_row`): no tap matrix is gathered. The taps
    /// are added in the tap matrix's order, and a row outside the window adds nothing (the tap
    /// matrix adds its zeros), so the sums are those of the gathered product. Rows and blocks of
    /// channels are spread over the cores.
    func convInPlace(_ c: ConvOp) {
        let input = c.input, output = c.output, win = c.window
        let cinG = input.channels / c.groups, coutG = output.channels / c.groups
        let (kh, kw, sh, dh, dw) = (c.kernelH, c.kernelW, c.strideH, c.dilationH, c.dilationW)
        let taps = cinG * kh * kw, (ho, wo) = (output.height, output.width)
        let columns = validColumns(c)
        let (lo, hi) = (columns.map(\.0), columns.map(\.1))
        // Work items: (group, output row, block of six channels), in that order, split evenly over the cores.
        let blocks = (coutG + 5) / 6, items = c.groups * ho * blocks
        let parts = Parallel.chunks(items, parts: output.elements * taps >= 1 << 18 ? Parallel.width : 1)
        Parallel.run(parts.count) { part in
            var rows = [UnsafePointer<Float>?](repeating: nil, count: kh)
            var rowsOf = (-1, -1)  // the (group, output row) `rows` point into
            for item in parts[part] {
                let (g, oh, block) = (item / (ho * blocks), item / blocks % ho, item % blocks)
                let first = g * coutG + 6 * block, end = min(first + 6, (g + 1) * coutG)
                if rowsOf != (g, oh) {
                    rowsOf = (g, oh)
                    let plane = input.addr / 4 + g * cinG * input.channelStride
                    for ky in 0..<kh {
                        let ih = oh * sh + ky * dh, ty = win.originY + ih
                        rows[ky] =
                            ty >= 0 && ty < win.extentH ? UnsafePointer(sram.at(plane + ih * input.rowStride, 1)) : nil
                    }
                }
                let weights = sram.at(c.weightAddr / 4 + first * taps, (end - first) * taps)
                let out = sram.at(output.addr / 4 + first * output.channelStride + oh * output.rowStride, 1)
                dfc_conv_row(
                    end - first, wo, weights, taps, cinG, kh, kw, rows, input.channelStride, dw, lo, hi, out,
                    output.channelStride, c.accumulate ? 1 : 0)
                for co in first..<end {
                    let row = sram.at(output.addr / 4 + co * output.channelStride + oh * output.rowStride, wo)
                    if c.hasBias {
                        biasActivate(row, wo, bias: sram[c.biasAddr / 4 + co], c.activation)
                    } else {
                        activate(row, wo, c.activation)
                    }
                }
            }
        }
    }

    /// The input tile itself as the tap matrix, when it is one: 1x1 kernel,
    /// stride 1, every cell valid, rows dense. Returns the words, the leading
    /// dimension and the distance between groups.
    func directInput(_ c: ConvOp) -> (Words, Int, Int)? {
        let input = c.input, win = c.window, n = input.height * input.width
        let cinG = input.channels / c.groups
        guard c.kernelH == 1, c.kernelW == 1, c.strideH == 1, c.strideW == 1,
            win.originY >= 0, win.originX >= 0, win.originY + input.height <= win.extentH,
            win.originX + input.width <= win.extentW,
            input.rowStride == input.width || input.height == 1
        else { return nil }
        let ld = input.channels == 1 ? n : input.channelStride
        guard ld >= n else { return nil }
        return (Words(base: sram.at(input.addr / 4, 1), count: sram.count - input.addr / 4), ld, cinG * ld)
    }

    /// The tap matrix in scratch: row (ci, ky, kx) over all input channels,
    /// column (oh, ow); cells outside the window are zero.
    /// Kept from the last CONV when this one reads the same input the same
    /// way (the parts of a layer split by output channels do).
    private func gatherTaps(_ c: ConvOp) -> (Words, Int, Int) {
        let input = c.input, win = c.window, (ho, wo) = (c.output.height, c.output.width)
        let (kh, kw, sh, sw, dh, dw) = (c.kernelH, c.kernelW, c.strideH, c.strideW, c.dilationH, c.dilationW)
        let n = ho * wo, cinG = input.channels / c.groups
        let x = scratch.words(input.channels * kh * kw * n, slot: 0)
        let geometry = GatheredTaps.geometry(c)
        if gathered.geometry == geometry { return (x, n, cinG * kh * kw * n) }
        gathered.remember(geometry, reading: c.input.wordBounds)
        let columns = validColumns(c)
        let (lo, hi) = (columns.map(\.0), columns.map(\.1))
        let parts = Parallel.chunks(input.channels, parts: input.channels * kh * kw * n >= 1 << 16 ? Parallel.width : 1)
        lo.withUnsafeBufferPointer { lo in
            hi.withUnsafeBufferPointer { hi in
                var taps = dfc_taps(
                    input: UnsafePointer(sram.at(input.addr / 4, 1)), channel_stride: input.channelStride,
                    row_stride: input.rowStride, height: ho, width: wo, kernel_h: kh, kernel_w: kw, stride_h: sh,
                    stride_w: sw, dilation_h: dh, dilation_w: dw, origin_y: win.originY, extent_h: win.extentH,
                    lo: lo.baseAddress, hi: hi.baseAddress)
                withUnsafePointer(to: &taps) { taps in
                    Parallel.run(parts.count) { part in
                        dfc_gather_taps(x.base, taps, parts[part].lowerBound, parts[part].upperBound)
                    }
                }
            }
        }
        return (x, n, cinG * kh * kw * n)
    }

    /// Per kernel column, the output columns whose input column lies inside the window.
    private func validColumns(_ c: ConvOp) -> [(Int, Int)] {
        let wo = c.output.width, win = c.window
        return (0..<c.kernelW).map { kx in
            let offset = win.originX + kx * c.dilationW
            let lo = min(wo, max(0, ceilDivSigned(-offset, c.strideW)))
            return (lo, min(wo, max(lo, ceilDivSigned(win.extentW - offset, c.strideW))))
        }
    }

    /// Bias and activation over `columns` of an output channel the product wrote in place.
    private func finishChannel(_ c: ConvOp, _ co: Int, _ columns: Range<Int>) {
        let n = columns.count
        let out = sram.at(c.output.addr / 4 + co * c.output.channelStride + columns.lowerBound, n)
        if c.hasBias {
            biasActivate(out, n, bias: sram[c.biasAddr / 4 + co], c.activation)
        } else {
            activate(out, n, c.activation)
        }
    }

    /// Copies one channel's sums into the output tile, onto its values if
    /// accumulating, plus bias, then the activation.
    private func scatterChannel(_ c: ConvOp, _ co: Int, _ sums: UnsafeMutablePointer<Float>) {
        let output = c.output, wo = output.width
        let bias: Float = c.hasBias ? sram[c.biasAddr / 4 + co] : 0
        for oh in 0..<output.height {
            let row = sram.at(output.addr / 4 + co * output.channelStride + oh * output.rowStride, wo)
            let s = sums + oh * wo
            if c.accumulate {
                for i in 0..<wo { row[i] += s[i] + bias }
            } else {
                for i in 0..<wo { row[i] = s[i] + bias }
            }
            activate(row, wo, c.activation)
        }
    }

    /// A depthwise CONV in one C call per core (CKernels' `dfc_depthwise_conv`: AVX-512, or AVX2 and FMA
    /// for column strides 1 and 2, the window's edges as lane masks, bias, ReLU and Clip in registers),
    /// output channels split over the cores; the same operations in the same order as `convRows`, so the
    /// same bits. Other activations run on each row afterwards. False (nothing written) where the kernel
    /// does not run: neither instruction set, a stride it does not take, or a row or kernel wider than it
    /// takes.
    func convDepthwise(_ c: ConvOp) -> Bool {
        let input = c.input, output = c.output, win = c.window, a = c.activation
        let activation: Int32 = a.kind == .relu ? 1 : a.kind == .clip ? 2 : 0
        let inputWords = sram.at(input.addr / 4, 1), outputWords = sram.at(output.addr / 4, 1)
        var d = dfc_depthwise(
            input: inputWords, input_channel_stride: input.channelStride, input_row_stride: input.rowStride,
            output: outputWords, output_channel_stride: output.channelStride, output_row_stride: output.rowStride,
            height: output.height, width: output.width, kernel_h: c.kernelH, kernel_w: c.kernelW,
            stride_h: c.strideH, stride_w: c.strideW, dilation_h: c.dilationH, dilation_w: c.dilationW,
            origin_y: win.originY, origin_x: win.originX, extent_h: win.extentH, extent_w: win.extentW,
            multiplier: output.channels / c.groups, weights: sram.at(c.weightAddr / 4, 1),
            bias: c.hasBias ? UnsafePointer(sram.at(c.biasAddr / 4, 1)) : nil, accumulate: c.accumulate ? 1 : 0,
            activation: activation, alpha: a.alpha, beta: a.beta)
        guard dfc_depthwise_conv(&d, 0, 0) != 0 else { return false }
        let after = activation == 0 && a.kind != .none
        let parts = Parallel.chunks(
            output.channels, parts: output.elements * c.kernelH * c.kernelW >= 1 << 14 ? Parallel.width : 1)
        withUnsafePointer(to: &d) { d in
            Parallel.run(parts.count) { part in
                dfc_depthwise_conv(d, parts[part].lowerBound, parts[part].upperBound)
                guard after else { return }
                for co in parts[part] {
                    for oh in 0..<output.height {
                        activate(
                            sram.at(output.addr / 4 + co * output.channelStride + oh * output.rowStride, output.width),
                            output.width, a)
                    }
                }
            }
        }
        return true
    }

    /// CONV one output row at a time (any strides), output channels spread
    /// over the cores: the depthwise path. The row's taps (input row, weight,
    /// valid columns) are listed, then one C call adds them all, in the same
    /// order for each output as a per-output loop.
    func convRows(_ c: ConvOp) {
        let input = c.input, output = c.output, win = c.window
        let cinG = input.channels / c.groups, coutG = output.channels / c.groups
        let (ho, wo) = (output.height, output.width)
        let (kh, kw, sh, sw, dh, dw) = (c.kernelH, c.kernelW, c.strideH, c.strideW, c.dilationH, c.dilationW)
        let columns = validColumns(c)
        let wBase = c.weightAddr / 4, taps = cinG * kh * kw
        let parts = Parallel.chunks(output.channels, parts: output.elements * kh * kw >= 1 << 15 ? Parallel.width : 1)
        Parallel.run(parts.count) { part in
            // One output row's taps: where each reads, its weight and its columns.
            let row = DepthwiseRow(capacity: taps)
            for co in parts[part] {
                let g = co / coutG
                let oPlane = output.addr / 4 + co * output.channelStride
                let bias: Float = c.hasBias ? sram[c.biasAddr / 4 + co] : 0
                for oh in 0..<ho {
                    row.removeAll()
                    for cig in 0..<cinG {
                        let iPlane = input.addr / 4 + (g * cinG + cig) * input.channelStride
                        for ky in 0..<kh {
                            let ih = oh * sh + ky * dh
                            let ty = win.originY + ih
                            if ty < 0 || ty >= win.extentH { continue }
                            for kx in 0..<kw {
                                let (lo, hi) = columns[kx]
                                let n = hi - lo
                                if n <= 0 { continue }
                                row.append(
                                    sram.at(iPlane + ih * input.rowStride + lo * sw + kx * dw, (n - 1) * sw + 1),
                                    weight: sram[wBase + ((co * cinG + cig) * kh + ky) * kw + kx], columns: lo..<hi)
                            }
                        }
                    }
                    let out = sram.at(oPlane + oh * output.rowStride, wo)
                    row.run(into: out, wo, accumulate: c.accumulate, stride: sw)
                    if c.hasBias {
                        biasActivate(out, wo, bias: bias, c.activation)
                    } else {
                        activate(out, wo, c.activation)
                    }
                }
            }
        }
    }
}

/// The taps of one output row of a depthwise CONV or a POOL, for CKernels' `dfc_depthwise_row` and
/// `dfc_pool_row`.
final class DepthwiseRow {
    private let rows: UnsafeMutablePointer<UnsafePointer<Float>?>
    private let weights: UnsafeMutablePointer<Float>
    private let lo: UnsafeMutablePointer<Int>, hi: UnsafeMutablePointer<Int>
    private let capacity: Int
    private var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        rows = .allocate(capacity: max(1, capacity))
        weights = .allocate(capacity: max(1, capacity))
        (lo, hi) = (.allocate(capacity: max(1, capacity)), .allocate(capacity: max(1, capacity)))
    }

    deinit {
        rows.deallocate()
        weights.deallocate()
        lo.deallocate()
        hi.deallocate()
    }

    func removeAll() { count = 0 }

    /// A tap adding `weight` times the input from `x` (the word of output column `columns.lowerBound`).
    func append(_ x: UnsafePointer<Float>, weight: Float, columns: Range<Int>) {
        precondition(count < capacity)
        (rows[count], weights[count], lo[count], hi[count]) = (x, weight, columns.lowerBound, columns.upperBound)
        count += 1
    }

    /// The output row `o` of `n` words of a max or average pooling: -inf or 0, then the maximum with or
    /// the sum of every tap, in order (the weights are not read).
    func pool(into o: UnsafeMutablePointer<Float>, _ n: Int, max: Bool, stride: Int) {
        dfc_pool_row(o, n, max ? 1 : 0, rows, lo, hi, count, stride)
    }

    /// The output row `o` of `n` words: its values (or zeros unless `accumulate`) plus every tap, in order.
    func run(into o: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool, stride: Int) {
        dfc_depthwise_row(o, n, accumulate ? 1 : 0, rows, weights, lo, hi, count, stride)
    }
}

/// The tap matrices `Machine.convPanels` keeps, in CKernels' strips (`dfc_conv_gather_strip`), for the CONVs
/// after one that read the same input the same way: the planner splits a layer's output channels over
/// several CONVs (16 or 32 channels each, a whole tap matrix gathered for each), and alternates them over the
/// parts of a split input (ResNet-50's third stage: four inputs of 64 channels in turn). A CONV's taps are
/// kept from the second time they are seen on (the first time, gathered while multiplying as before), at
/// most `entries` matrices; the executor forgets those whose input an instruction writes
/// (`Op.sramWriteBounds`).
final class TapPanels {
    struct Kept {
        let base: UnsafeMutablePointer<Float>
        /// False when the caller must gather every strip first.
        let gathered: Bool
    }

    private struct Entry {
        let geometry: ConvOp
        let input: Range<Int>
        var memory: Memory?
    }

    private static let entries = 4, seenEntries = 8
    /// Kept matrices, most recent first (each with its memory), and geometries seen once (without).
    private var kept: [Entry] = [], seen: [Entry] = []

    /// The kept panels of `c`'s taps (`words` of them), or nil where they are not kept (seen now for the
    /// first time, or memory refused).
    func panels(for c: ConvOp, words: Int) -> Kept? {
        var geometry = GatheredTaps.geometry(c)
        geometry.output.channels = 0  // the taps do not depend on how many channels the product writes
        if let i = kept.firstIndex(where: { $0.geometry == geometry }) {
            let entry = kept.remove(at: i)
            kept.insert(entry, at: 0)
            return entry.memory.map { Kept(base: $0.view.base, gathered: true) }
        }
        guard let i = seen.firstIndex(where: { $0.geometry == geometry }) else {
            seen.insert(Entry(geometry: geometry, input: c.input.wordBounds, memory: nil), at: 0)
            if seen.count > Self.seenEntries { seen.removeLast() }
            return nil
        }
        var entry = seen.remove(at: i)
        // The memory of the least recent matrix, when it is large enough.
        if kept.count >= Self.entries, let last = kept.popLast(), let memory = last.memory, memory.words >= words {
            entry.memory = memory
        } else {
            entry.memory = Memory(bytes: 4 * words)
        }
        guard let memory = entry.memory else { return nil }
        kept.insert(entry, at: 0)
        return Kept(base: memory.view.base, gathered: false)
    }

    /// Forgets the matrices (and the geometries seen) read from any of `words`.
    func forget(overlapping words: Range<Int>) {
        kept.removeAll { $0.input.overlaps(words) }
        seen.removeAll { $0.input.overlaps(words) }
    }
}

/// Which CONV's tap matrix scratch slot 0 holds, and the SRAM words it was
/// gathered from: the executor forgets it after an instruction that writes
/// any of them (`Op.sramWriteBounds`).
final class GatheredTaps {
    private(set) var geometry: ConvOp?
    private(set) var inputWords: Range<Int>?

    /// The fields the taps depend on; weights, bias, output and activation cleared.
    static func geometry(_ c: ConvOp) -> ConvOp {
        var g = ConvOp()
        (g.input, g.window, g.groups) = (c.input, c.window, c.groups)
        (g.kernelH, g.kernelW, g.strideH, g.strideW, g.dilationH, g.dilationW) =
            (c.kernelH, c.kernelW, c.strideH, c.strideW, c.dilationH, c.dilationW)
        // The output's shape sets the columns gathered; its place does not.
        (g.output.channels, g.output.height, g.output.width) = (c.output.channels, c.output.height, c.output.width)
        return g
    }

    func remember(_ geometry: ConvOp, reading words: Range<Int>) {
        (self.geometry, inputWords) = (geometry, words)
    }

    func forget() { (geometry, inputWords) = (nil, nil) }
}

extension SRAMTile {
    /// The words from the tile's first to its last (every cell lies inside).
    var wordBounds: Range<Int> {
        guard channels > 0, height > 0, width > 0 else { return addr / 4..<addr / 4 }
        return addr / 4..<addr / 4 + (channels - 1) * channelStride + (height - 1) * rowStride + width
    }
}

extension Op {
    /// Bounds of the DRAM words the operation writes, one range an operand
    /// (empty for the instructions that write none). Only for valid operations.
    var dramWriteBounds: [Range<Int>] {
        switch self {
        case .store, .hostCopy, .hostSoftmax, .hostLRN, .hostResize, .hostTranspose, .hostReduceMean:
            return footprints().filter { $0.isWrite && $0.space == .dram && !$0.isEmpty }.map { $0.lower..<$0.upper }
        case .load, .conv, .pool, .eltwise, .act, .lrn, .resize, .matmul, .copy, .sync: return []
        }
    }

    /// Bounds of the SRAM words the operation writes (a superset of them);
    /// nil when it writes none.
    var sramWriteBounds: Range<Int>? {
        func box(_ first: Int, _ counts: [Int], _ strides: [Int]) -> Range<Int> {
            guard !counts.contains(0) else { return first..<first }
            return first..<first + zip(counts, strides).reduce(0) { $0 + ($1.0 - 1) * $1.1 } + 1
        }
        switch self {
        case .load(let t): return box(t.sramAddr / 4, t.counts, t.sramStrides)
        case .conv(let c): return c.output.wordBounds
        case .pool(let p): return p.output.wordBounds
        case .eltwise(let e): return e.output.wordBounds
        case .act(let a): return a.output.wordBounds
        case .lrn(let l): return l.output.wordBounds
        case .resize(let r): return r.output.wordBounds
        case .matmul(let m): return box(m.outAddr / 4, [m.m, m.n], [m.outRowStride, 1])
        case .copy(let c): return box(c.dstAddr / 4, c.counts, c.dstStrides)
        case .store, .sync, .hostCopy, .hostSoftmax, .hostLRN, .hostResize, .hostTranspose, .hostReduceMean: return nil
        }
    }
}
