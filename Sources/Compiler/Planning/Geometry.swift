import Accelerator
import GraphIR

/// A convolution's geometry in the 4-d form codegen works in (1-d
/// convolutions get height 1).
struct ConvGeometry {
    var n, cin, h, w, cout, ho, wo: Int
    var kh, kw, sh, sw, dh, dw, padTop, padLeft: Int
    var groups: Int

    var cinPerGroup: Int { cin / groups }
    var coutPerGroup: Int { cout / groups }
    var depthwise: Bool { groups > 1 && groups == cin && cout == cin }
    /// Input rows a band of `rows` output rows reads (halo included).
    func inputRows(_ rows: Int) -> Int { (rows - 1) * sh + (kh - 1) * dh + 1 }
    /// Input columns one output row reads, padding included.
    var inputCols: Int { (wo - 1) * sw + (kw - 1) * dw + 1 }
    /// Columns of that window inside the tensor.
    var validCols: Int { min(w, inputCols - padLeft) - max(0, -padLeft) }

    /// Input rows inside the tensor for the band starting at output row `y0`.
    func validRows(band y0: Int, rows: Int) -> Int {
        let top = y0 * sh - padTop
        return max(0, min(h, top + inputRows(rows)) - max(0, top))
    }
}

/// Row and column reach of a conv or pool node: output rows [lo, hi)
/// read input rows [lo*s - pad, (hi-1)*s - pad + (k-1)*d + 1).
struct Reach {
    var kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, padTop = 0, padLeft = 0
    func rows(_ out: Range<Int>) -> Range<Int> {
        guard !out.isEmpty else { return 0..<0 }
        return (out.lowerBound * sh - padTop)..<((out.upperBound - 1) * sh - padTop + (kh - 1) * dh + 1)
    }
    func cols(outputWidth: Int) -> Int { (outputWidth - 1) * sw + (kw - 1) * dw + 1 }
}

/// Geometry the planners and emitters share, read from a node and its types.
extension Graph {
    func reach(_ node: Node) throws -> Reach {
        switch node.kind {
        case .conv:
            let g = try convGeometry(node)
            return Reach(
                kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, dh: g.dh, dw: g.dw, padTop: g.padTop, padLeft: g.padLeft)
        case .maxPool, .averagePool:
            let x = self.type(of: node.inputs[0])!
            let w = try WindowGeometry(node: node, spatial: Array(x.shape[2...]))
            return Reach(
                kh: w.kernel[0], kw: w.kernel[1], sh: w.strides[0], sw: w.strides[1], dh: w.dilations[0],
                dw: w.dilations[1],
                padTop: w.padsBegin[0], padLeft: w.padsBegin[1])
        default:
            return Reach()
        }
    }

    /// The 4-d geometry of a Conv node (rank-3 inputs become height 1).
    func convGeometry(_ node: Node) throws -> ConvGeometry {
        let x = self.type(of: node.inputs[0])!, wt = self.type(of: node.inputs[1])!, y = self.type(of: node.outputs[0])!
        let spatial = Array(x.shape[2...])
        let window = try WindowGeometry(node: node, spatial: spatial, kernel: Array(wt.shape[2...]))
        let two = spatial.count == 2
        return ConvGeometry(
            n: x.shape[0], cin: x.shape[1], h: two ? x.shape[2] : 1, w: x.shape.last!,
            cout: y.shape[1], ho: two ? y.shape[2] : 1, wo: y.shape.last!,
            kh: two ? window.kernel[0] : 1, kw: window.kernel.last!,
            sh: two ? window.strides[0] : 1, sw: window.strides.last!,
            dh: two ? window.dilations[0] : 1, dw: window.dilations.last!,
            padTop: two ? window.padsBegin[0] : 0, padLeft: window.padsBegin.last!,
            groups: node.int("group", default: 1))
    }

    /// ConvTranspose as a stride-1 convolution of the zero-inserted input
    /// with the flipped, transposed weights. The zero-inserted input never
    /// exists in DRAM: each input tile is zeroed in SRAM by an out-of-range
    /// LOAD (no DRAM traffic) and the real rows are scattered into it by a
    /// LOAD with strided SRAM placement.
    func convTransposeGeometry(_ node: Node) throws -> (ConvGeometry, ZeroInsertion) {
        let x = self.type(of: node.inputs[0])!, wt = self.type(of: node.inputs[1])!, y = self.type(of: node.outputs[0])!
        let two = x.rank == 4
        let t = try ConvTransposeGeometry(node: node, spatial: Array(x.shape[2...]), kernel: Array(wt.shape[2...]))
        let kh = two ? t.kernel[0] : 1, kw = t.kernel.last!
        let dh = two ? t.dilations[0] : 1, dw = t.dilations.last!
        let ho = two ? y.shape[2] : 1, wo = y.shape.last!
        let g = ConvGeometry(
            n: x.shape[0], cin: x.shape[1], h: ho + dh * (kh - 1), w: wo + dw * (kw - 1),
            cout: y.shape[1], ho: ho, wo: wo, kh: kh, kw: kw, sh: 1, sw: 1, dh: dh, dw: dw,
            padTop: 0, padLeft: 0, groups: node.int("group", default: 1))
        let insertion = ZeroInsertion(
            height: two ? x.shape[2] : 1, width: x.shape.last!,
            strideH: two ? t.strides[0] : 1, strideW: t.strides.last!,
            offsetTop: dh * (kh - 1) - (two ? t.padsBegin[0] : 0), offsetLeft: dw * (kw - 1) - t.padsBegin.last!)
        return (g, insertion)
    }
}

/// Where input row/column i of a ConvTranspose lands in the virtual input.
struct ZeroInsertion {
    var height, width, strideH, strideW, offsetTop, offsetLeft: Int

    static func ceilDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
    static func floorDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
}
