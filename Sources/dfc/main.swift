import DFCCommands
import Foundation

exit(DFC.run(arguments: Array(CommandLine.arguments.dropFirst())))
