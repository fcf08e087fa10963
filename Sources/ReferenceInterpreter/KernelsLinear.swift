import GraphIR
import Tensors

/// A sliding window over one to three spatial axes, as three axes: missing
/// leading axes have extent 1, so one loop nest serves 1-D, 2-D and 3-D.
struct Window3 {
    var input: [Int]
    var output: [Int]
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padsBegin: [Int]

    init(input: [Int], output: [Int], kernel: [Int], strides: [Int], dilations: [Int], padsBegin: [Int]) throws {
        guard (1...3).contains(input.count) else {
            throw DFCError("windows over \(input.count) spatial axes are not supported (1 to 3)")
        }
        func widen(_ values: [Int], _ fill: Int) -> [Int] { Array(repeating: fill, count: 3 - values.count) + values }
        self.input = widen(input, 1)
        self.output = widen(output, 1)
        self.kernel = widen(kernel, 1)
        self.strides = widen(strides, 1)
        self.dilations = widen(dilations, 1)
        self.padsBegin = widen(padsBegin, 0)
    }

    init(_ geometry: WindowGeometry, input: [Int], output: [Int]) throws {
        try self.init(
            input: input, output: output, kernel: geometry.kernel, strides: geometry.strides,
            dilations: geometry.dilations, padsBegin: geometry.padsBegin)
    }

    var inputCount: Int { input.reduce(1, *) }
    var outputCount: Int { output.reduce(1, *) }
    /// Taps per window; saturates rather than overflowing for hostile kernels.
    var kernelCount: Int {
        kernel.reduce(1) { count, k in
            let (product, overflow) = count.multipliedReportingOverflow(by: k)
            return overflow ? Int.max : product
        }
    }

    /// A 1x1 window with stride 1 and no padding reads its input as is.
    var isPointwise: Bool {
        kernel == [1, 1, 1] && strides == [1, 1, 1] && padsBegin == [0, 0, 0] && input == output
    }
}

extension Kernels {
    // MARK: Conv

    /// Convolution as a matrix product per group: weights (maps x channels·kernel)
    /// times the im2col matrix (channels·kernel x output positions), computed
    /// over column chunks so the im2col buffer stays small.
    static func conv(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0), w = try args.input(1)
        let xs = try args.floats(0), ws = try args.floats(1)
        let bias = args.optional(2) == nil ? nil : try args.floats(2)
        let group = args.node.int("group", default: 1)
        let outShape = types[0].shape
        let spatial = Array(x.shape[2...])
        let geometry = try WindowGeometry(node: args.node, spatial: spatial, kernel: Array(w.shape[2...]))
        let window = try Window3(geometry, input: spatial, output: Array(outShape[2...]))

        let batch = x.shape[0], channels = x.shape[1], maps = w.shape[0]
        let channelsPerGroup = channels / group, mapsPerGroup = maps / group
        let k = channelsPerGroup * window.kernelCount
        let positions = window.outputCount, inputSize = window.inputCount
        let pointwise = window.isPointwise

        var out = [Float](repeating: 0, count: batch * maps * positions)
        if let bias {
            for n in 0..<batch {
                for m in 0..<maps {
                    let base = (n * maps + m) * positions
                    for p in 0..<positions { out[base + p] = bias[m] }
                }
            }
        }
        guard positions > 0, k > 0 else { return [Tensor(shape: outShape, floats: out)] }

        // Tasks: image x group x column chunk x row part. Row parts share
        // one column chunk's work when there is a single group.
        let chunk = max(64, min(positions, (1 << 20) / k))
        let chunks = (positions + chunk - 1) / chunk
        let rowParts =
            group == 1 ? Parallel.chunks(mapsPerGroup, parts: max(1, Parallel.width * 2 / chunks)) : [0..<mapsPerGroup]
        let tasks = batch * group * chunks * rowParts.count
        xs.withUnsafeBufferPointer { px in
            ws.withUnsafeBufferPointer { pw in
                Parallel.forEach(tasks, writing: &out) { task, shared in
                    var rest = task
                    let part = rest % rowParts.count; rest /= rowParts.count
                    let c = rest % chunks; rest /= chunks
                    let g = rest % group
                    let n = rest / group
                    let p0 = c * chunk, count = min(chunk, positions - p0)
                    let image = px.baseAddress! + (n * channels + g * channelsPerGroup) * inputSize
                    let weights = pw.baseAddress! + g * mapsPerGroup * k
                    let target =
                        shared.pointer(
                            at: (n * maps + g * mapsPerGroup) * positions,
                            length: mapsPerGroup * positions) + p0
                    if pointwise {
                        MatrixMultiply.accumulate(
                            rows: rowParts[part], n: count, k: k, a: weights, lda: k,
                            b: image + p0, ldb: positions, c: target, ldc: positions)
                    } else {
                        var columns = [Float](repeating: 0, count: k * count)
                        columns.withUnsafeMutableBufferPointer { col in
                            im2col(
                                image, channels: channelsPerGroup, window: window, first: p0, count: count,
                                into: col.baseAddress!)
                            MatrixMultiply.accumulate(
                                rows: rowParts[part], n: count, k: k, a: weights, lda: k,
                                b: col.baseAddress!, ldb: count, c: target, ldc: positions)
                        }
                    }
                }
            }
        }
        return [Tensor(shape: outShape, floats: out)]
    }

    /// Writes the im2col rows (channel, kd, kh, kw) for output positions
    /// `first..<first + count` (flattened od, oh, ow); padding reads as 0.
    static func im2col(
        _ image: UnsafePointer<Float>, channels: Int, window: Window3, first: Int, count: Int,
        into columns: UnsafeMutablePointer<Float>
    ) {
        let (inD, inH, inW) = (window.input[0], window.input[1], window.input[2])
        let (outH, outW) = (window.output[1], window.output[2])
        let (kD, kH, kW) = (window.kernel[0], window.kernel[1], window.kernel[2])
        let (sD, sH, sW) = (window.strides[0], window.strides[1], window.strides[2])
        let (dD, dH, dW) = (window.dilations[0], window.dilations[1], window.dilations[2])
        let (pD, pH, pW) = (window.padsBegin[0], window.padsBegin[1], window.padsBegin[2])
        var row = 0
        for c in 0..<channels {
            let plane = image + c * inD * inH * inW
            for kd in 0..<kD {
                for kh in 0..<kH {
                    for kw in 0..<kW {
                        let dst = columns + row * count
                        var ow = first % outW, oh = (first / outW) % outH, od = first / (outW * outH)
                        for q in 0..<count {
                            let id = od * sD - pD + kd * dD, ih = oh * sH - pH + kh * dH, iw = ow * sW - pW + kw * dW
                            if id >= 0 && id < inD && ih >= 0 && ih < inH && iw >= 0 && iw < inW {
                                dst[q] = plane[(id * inH + ih) * inW + iw]
                            } else {
                                dst[q] = 0
                            }
                            ow += 1
                            if ow == outW {
                                ow = 0
                                oh += 1
                                if oh == outH { oh = 0; od += 1 }
                            }
                        }
                        row += 1
                    }
                }
            }
        }
    }

    // MARK: ConvTranspose

    /// Transposed convolution by scattering: every input element adds its
    /// weighted kernel into the output. One task per (image, output map).
    static func convTranspose(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0), w = try args.input(1)
        let xs = try args.floats(0), ws = try args.floats(1)
        let bias = args.optional(2) == nil ? nil : try args.floats(2)
        let group = args.node.int("group", default: 1)
        let outShape = types[0].shape
        let spatial = Array(x.shape[2...])
        let geometry = try ConvTransposeGeometry(node: args.node, spatial: spatial, kernel: Array(w.shape[2...]))
        let window = try Window3(
            input: Array(outShape[2...]), output: spatial, kernel: geometry.kernel,
            strides: geometry.strides, dilations: geometry.dilations, padsBegin: geometry.padsBegin)
        let batch = x.shape[0], channels = x.shape[1], maps = outShape[1]
        let channelsPerGroup = channels / group, mapsPerGroup = maps / group
        if let bias, bias.count != maps { throw DFCError("bias has \(bias.count) values, expected \(maps)") }
        // Roles swap: the window's "input" is this op's output and vice versa.
        let outSize = window.inputCount, inSize = window.outputCount, kernelSize = window.kernelCount
        let (oD, oH, oW) = (window.input[0], window.input[1], window.input[2])
        let (iH, iW) = (window.output[1], window.output[2])
        let (kD, kH, kW) = (window.kernel[0], window.kernel[1], window.kernel[2])
        let (sD, sH, sW) = (window.strides[0], window.strides[1], window.strides[2])
        let (dD, dH, dW) = (window.dilations[0], window.dilations[1], window.dilations[2])
        let (pD, pH, pW) = (window.padsBegin[0], window.padsBegin[1], window.padsBegin[2])

        var out = [Float](repeating: 0, count: batch * maps * outSize)
        Parallel.forEach(batch * maps, writing: &out) { task, shared in
            let n = task / maps, m = task % maps
            let g = m / mapsPerGroup, mg = m % mapsPerGroup
            let plane = shared.pointer(at: task * outSize, length: outSize)
            let start = bias?[m] ?? 0
            for i in 0..<outSize { plane[i] = start }
            for cg in 0..<channelsPerGroup {
                let c = g * channelsPerGroup + cg
                let input = (n * channels + c) * inSize
                let kernel = (c * mapsPerGroup + mg) * kernelSize
                for i in 0..<inSize {
                    let v = xs[input + i]
                    let iw = i % iW, ih = (i / iW) % iH, id = i / (iW * iH)
                    var kIndex = kernel
                    for kd in 0..<kD {
                        let od = id * sD - pD + kd * dD
                        for kh in 0..<kH {
                            let oh = ih * sH - pH + kh * dH
                            for kw in 0..<kW {
                                let ow = iw * sW - pW + kw * dW
                                if od >= 0 && od < oD && oh >= 0 && oh < oH && ow >= 0 && ow < oW {
                                    plane[(od * oH + oh) * oW + ow] += v * ws[kIndex]
                                }
                                kIndex += 1
                            }
                        }
                    }
                }
            }
        }
        return [Tensor(shape: outShape, floats: out)]
    }

    // MARK: Gemm and MatMul

    /// `alpha * A' * B' + beta * C` with A' and B' optionally transposed and
    /// C broadcast to the result.
    static func gemm(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let a = try args.input(0)
        var aValues = try args.floats(0)
        let bValues = try args.floats(1)
        let transA = args.node.int("transA", default: 0) != 0, transB = args.node.int("transB", default: 0) != 0
        let alpha = args.node.float("alpha", default: 1), beta = args.node.float("beta", default: 1)
        let shape = types[0].shape
        let (m, n) = (shape[0], shape[1])
        let k = transA ? a.shape[0] : a.shape[1]
        if transA { aValues = transpose2D(aValues, rows: a.shape[0], columns: a.shape[1]) }
        if alpha != 1 { aValues = aValues.map { $0 * alpha } }
        var out: [Float]
        if let c = args.optional(2) {
            let cValues = try args.floats(2)
            out = Indexing.expand(cValues, shape: c.shape, to: shape)
            if beta != 1 { out = out.map { $0 * beta } }
        } else {
            out = [Float](repeating: 0, count: m * n)
        }
        MatrixMultiply.multiply(m: m, n: n, k: k, a: aValues, b: bValues, transposedB: transB, into: &out)
        return [Tensor(shape: shape, floats: out)]
    }

    /// NumPy matmul: 1-D operands are promoted to matrices and the extra
    /// axis dropped again; leading axes broadcast.
    static func matMul(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let a = try args.input(0), b = try args.input(1)
        let aValues = try args.floats(0), bValues = try args.floats(1)
        let aShape = a.shape.count == 1 ? [1] + a.shape : a.shape
        let bShape = b.shape.count == 1 ? b.shape + [1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1], n = bShape[bShape.count - 1]
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        guard let batch = ShapeMath.broadcast(aBatch, bBatch) else {
            throw DFCError("batch dimensions of \(a.shape) and \(b.shape) do not broadcast")
        }
        let batchCount = batch.reduce(1, *)
        let tables = batch.map { Array(0..<$0) }
        let aIndex = Indexing.gather(
            Array(0..<aBatch.reduce(1, *)), tables: tables,
            strides: Indexing.broadcastStrides(aBatch, to: batch), fill: 0)
        let bIndex = Indexing.gather(
            Array(0..<bBatch.reduce(1, *)), tables: tables,
            strides: Indexing.broadcastStrides(bBatch, to: batch), fill: 0)
        var out = [Float](repeating: 0, count: batchCount * m * n)
        for i in 0..<batchCount {
            var product = [Float](repeating: 0, count: m * n)
            let aSlice = Array(aValues[(aIndex[i] * m * k)..<((aIndex[i] + 1) * m * k)])
            let bSlice = Array(bValues[(bIndex[i] * k * n)..<((bIndex[i] + 1) * k * n)])
            MatrixMultiply.multiply(m: m, n: n, k: k, a: aSlice, b: bSlice, transposedB: false, into: &product)
            out.replaceSubrange((i * m * n)..<((i + 1) * m * n), with: product)
        }
        return [Tensor(shape: types[0].shape, floats: out)]
    }

    package static func transpose2D<T>(_ values: [T], rows: Int, columns: Int) -> [T] {
        guard let first = values.first else { return values }
        return Indexing.gather(
            values, tables: [Array(0..<columns), Array(0..<rows)], strides: [1, columns], fill: first)
    }
}
