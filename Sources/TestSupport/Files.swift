import Foundation

/// Reads a FIFO on a thread of its own, as the program at the other end of a
/// pipe would: opens it (waiting for a writer), reads up to `limit` bytes or
/// to the end, and closes it.
package final class FIFOReader: @unchecked Sendable {
    private let path: String
    private let finished = DispatchSemaphore(value: 0)
    // Written by the reading thread only, read only after `finished` is signalled.
    private var bytes: [UInt8] = []

    package init(_ path: String, limit: Int = .max) {
        self.path = path
        let thread = Thread { [self] in
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            if descriptor >= 0 {
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                while bytes.count < limit {
                    let count = read(descriptor, &chunk, min(chunk.count, limit - bytes.count))
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { break }
                    bytes += chunk[..<count]
                }
                close(descriptor)
            }
            finished.signal()
        }
        thread.start()
    }

    /// What was read once the writer closed its end (or `limit` was reached);
    /// nil when no writer came within `seconds` (the reader is then released).
    package func result(within seconds: Double) -> [UInt8]? {
        guard finished.wait(timeout: .now() + seconds) == .timedOut else { return bytes }
        // Still waiting in open(): a writer that opens and closes lets it go.
        let descriptor = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        if descriptor >= 0 { close(descriptor) }
        finished.wait()
        return nil
    }
}

/// A fresh folder under the system's temporary directory, removed by `remove()`.
package struct ScratchFolder {
    package let url: URL

    package init(_ prefix: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    package var path: String { url.path }
    package func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// The names in `folder` (relative to this one), hidden ones included, sorted.
    package func entries(_ folder: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? path : path(folder)).sorted()
    }

    package func remove() { try? FileManager.default.removeItem(at: url) }
}
