import Testing

@testable import Compiler

/// `PlanningContext.firstFit` against placing each item by scanning the items live with it,
/// sorted by address, anew for every item (as it was first written).
@Suite("First-fit SRAM placement")
struct FirstFitTests {
    /// The plain placement: earliest-live and largest first, each item at the lowest address
    /// not taken by an item live at the same time.
    static func reference(_ items: [SRAMItem], from base: Int, capacity: Int) -> [String: Int]? {
        var placed: [(item: SRAMItem, address: Int)] = []
        for item in items.sorted(by: {
            ($0.live.lowerBound, -$0.bytes, $0.key) < ($1.live.lowerBound, -$1.bytes, $1.key)
        }) {
            var address = base
            for other in placed.filter({ $0.item.live.overlaps(item.live) }).sorted(by: { $0.address < $1.address }) {
                if address + item.bytes <= other.address { break }
                address = max(address, other.address + other.item.bytes)
            }
            guard address + item.bytes <= capacity else { return nil }
            placed.append((item, address))
        }
        var address: [String: Int] = [:]
        for (item, at) in placed { address[item.key] = at }
        return address
    }

    @Test("placements equal the plain placement's, and an item too large for the capacity fails both")
    func matchesReference() {
        var state: UInt64 = 12345
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var placedSome = 0, failedSome = 0
        for _ in 0..<400 {
            let count = 1 + next(12)
            let items = (0..<count).map { k -> SRAMItem in
                let start = next(6) - 1
                // Sizes from a few values, so that ties in start and size are common.
                return SRAMItem(key: "v\(k)", bytes: 64 * (1 + next(4)), live: start...(start + next(4)))
            }
            let base = 64 * next(3), capacity = 64 * (8 + next(24))
            let placed = PlanningContext.firstFit(items, from: base, capacity: capacity)
            #expect(placed == Self.reference(items, from: base, capacity: capacity), "\(items) in \(capacity) B")
            if placed == nil { failedSome += 1 } else { placedSome += 1 }
            if let placements = PlanningContext.firstFitPlacements(items, from: base, capacity: capacity) {
                #expect(placements.count == items.count && Set(placements.map(\.item)).count == items.count)
                for (item, address) in placements { #expect(placed?[items[item].key] == address) }
            }
        }
        #expect(placedSome > 50 && failedSome > 50, "the cases should both fit and overflow often")
    }
}
