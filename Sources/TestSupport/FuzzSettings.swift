import Foundation

/// How long and from where the fuzz tests run. `make test` runs them bounded
/// and from fixed seeds; `make fuzz FUZZ_SEED=N FUZZ_SECONDS=S` sets these
/// environment variables for a longer campaign.
package enum FuzzSettings {
    /// `FUZZ_SEED`, else `fallback`: the same seed always gives the same cases.
    package static func seed(default fallback: UInt64) -> UInt64 {
        ProcessInfo.processInfo.environment["FUZZ_SEED"].flatMap { UInt64($0) } ?? fallback
    }

    /// `FUZZ_SECONDS`: set only by `make fuzz`; the campaign test runs when it is.
    package static var campaignSeconds: Double? {
        ProcessInfo.processInfo.environment["FUZZ_SECONDS"].flatMap { Double($0) }.flatMap { $0 > 0 ? $0 : nil }
    }
}
