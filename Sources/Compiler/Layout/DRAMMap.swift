import Accelerator
import GraphIR

/// The DRAM map a program carries for its disassembly: every constant and
/// runtime value as a named region, and for each DRAM address field of each
/// instruction the region it points into.
enum DRAMMap {
    /// Regions sorted by address then name. A constant's region runs to the
    /// next constant (alignment padding included). Several values may share
    /// an address (the arena reuses DRAM once a value is dead, a concatenation
    /// holds its parts): an address is given to the one the instruction's
    /// layer reads or writes, else to the smallest region holding it.
    static func build(_ graph: Graph, layout: ProgramLayout, instructions: [Instruction], layers: [[String]])
        -> (regions: [DRAMRegion], references: [[Int]])
    {
        var regions: [DRAMRegion] = []
        let constants = layout.constants.addresses.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
        for (k, (name, address)) in constants.enumerated() {
            let end = k + 1 < constants.count ? constants[k + 1].value : layout.constants.byteCount
            regions.append(DRAMRegion(name: name, address: address, bytes: max(0, end - address)))
        }
        for (name, location) in layout.memory.locations {
            regions.append(DRAMRegion(name: name, address: location.address, bytes: location.bytes))
        }
        regions.sort { ($0.address, $0.name) < ($1.address, $1.name) }
        let starts = regions.map(\.address)
        let nodes = Dictionary(graph.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var references: [[Int]] = []
        references.reserveCapacity(instructions.count)
        // A layer's instructions follow each other: the values its layers touch are found once per run.
        var touched: Set<String> = [], touchedBy: [String]?
        for (i, instruction) in instructions.enumerated() {
            let layer = i < layers.count ? layers[i] : []
            if layer != touchedBy {
                touched = Set(layer.flatMap { nodes[$0].map { $0.inputs + $0.outputs } ?? [] })
                touchedBy = layer
            }
            references.append(
                instruction.dramAddresses.compactMap { address in
                    // Transfers mostly start at their value's first byte: the regions starting
                    // there decide when one is the layer's; else every region holding the address.
                    let end = upperBound(starts, address)
                    var first = end
                    while first > 0 && starts[first - 1] == address { first -= 1 }
                    if let k = (first..<end).first(where: { touched.contains(regions[$0].name) }) { return k }
                    let holding = (0..<end).filter { address < regions[$0].address + max(1, regions[$0].bytes) }
                    return holding.first { touched.contains(regions[$0].name) }
                        ?? holding.min { (regions[$0].bytes, $0) < (regions[$1].bytes, $1) }
                })
        }
        return (regions, references)
    }

    /// The first index whose element is greater than `value` (`sorted` ascending).
    private static func upperBound(_ sorted: [Int], _ value: Int) -> Int {
        var (low, high) = (0, sorted.count)
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] <= value { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
