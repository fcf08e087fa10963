import Accelerator
import Tensors

extension AcceleratorConfig {
    /// The smallest SRAM, in whole KiB, at which `fits` holds for this config with only its SRAM size
    /// changed: what a "does not fit" error tells the user to ask for. `fits` is the planner's own check
    /// and must only get easier with more SRAM. Searched by doubling from the current size, then by
    /// bisection; nil when even 1 TiB does not do.
    func smallestSRAM(where fits: (AcceleratorConfig) -> Bool) -> Int? {
        let kib = 1 << 10
        func fitsKiB(_ count: Int) -> Bool {
            var config = self
            config.sramBytes = count * kib
            return fits(config)
        }
        var low = sramBytes / kib  // largest size known not to fit (0 KiB never fits)
        var high = Swift.max(1, low * 2)
        while !fitsKiB(high) {
            low = high
            high *= 2
            if high > 1 << 30 { return nil }
        }
        while high - low > 1 {
            let middle = (low + high) / 2
            if fitsKiB(middle) { high = middle } else { low = middle }
        }
        return high * kib
    }

    /// The error for a layer that no tiling fits: names the node, what it is, and the smallest SRAM it
    /// would need (`needed`, from `smallestSRAM`).
    static func doesNotFit(_ node: String, _ what: String, sramBytes: Int, needed: Int?, why: String = "") -> DFCError {
        let need =
            needed.map { "; it needs at least \($0 >> 10) KiB (--sram \($0 >> 10)KiB)" }
            ?? "; not even 1 TiB would do"
        return DFCError(
            "node '\(node)': no tiling of this \(what) fits \(sramBytes) bytes of SRAM\(why)\(need)", kind: .doesNotFit)
    }
}
