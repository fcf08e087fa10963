import DFCCommands
import Foundation

// Prints dfc(1), the man page, made from dfc's command definitions (make install runs it).
do {
    FileHandle.standardOutput.write(Data(try ManualPage.render().utf8))
} catch {
    FileHandle.standardError.write(Data("dfc-manual: error: \(error)\n".utf8))
    exit(1)
}
