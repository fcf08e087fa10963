import Accelerator
import Foundation
import GraphIR
import Tensors

/// Finished sweep points on disk, one JSON file per point named by a SHA-256
/// of the model (its file and every weight, external data included), the
/// point's setting and dfc's version: a changed model, config or dfc misses.
public struct ExploreCache: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `$XDG_CACHE_HOME/dfc/explore`, or `~/.cache/dfc/explore`.
    public static var defaultDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/dfc/explore" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/dfc/explore"
    }

    /// The model file's bytes, then each weight's name, dtype, shape and bytes
    /// in name order (weights in external data files are not in the model file).
    static func modelDigest(path: String, graph: Graph) throws -> String {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw DFCError("cannot read the file", file: path, kind: .io)
        }
        var hash = SHA256()
        hash.update(bytes)
        for name in graph.initializers.keys.sorted() {
            let tensor = graph.initializers[name]!
            hash.update("\u{0}\(name)\u{0}\(tensor.dtype)\u{0}\(tensor.shape)\u{0}")
            hash.update(tensor.littleEndianBytes)
        }
        return hash.hexDigest()
    }

    static func key(modelDigest: String, setting: ExplorePoint.Setting) throws -> String {
        var hash = SHA256()
        hash.update("dfc \(DFCVersion.string)\u{0}model \(modelDigest)\u{0}")
        // The model's path is where it came from, not what it is: two copies share their points.
        var anonymous = setting
        anonymous.model = ""
        hash.update(try Self.encoder.encode(anonymous))
        return hash.hexDigest()
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }

    func path(_ key: String) -> String { "\(directory)/\(key).json" }

    /// The cached point, or nil when there is none or it cannot be read.
    func lookup(_ key: String) -> ExplorePoint? {
        guard let data = FileManager.default.contents(atPath: path(key)) else { return nil }
        return try? JSONDecoder().decode(ExplorePoint.self, from: data)
    }

    /// Writes the point atomically (readers see the old file or the whole new one).
    func store(_ point: ExplorePoint, key: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var stored = point
        stored.index = 0
        try OutputFile(path(key)).write([[UInt8](try Self.encoder.encode(stored))])
    }
}
