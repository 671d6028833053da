import Foundation

// One application process of the end-to-end benchmark (see Options for the command line).
do {
    let options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
    switch options.framework {
    case .hummingbird: try await HummingbirdServer.run(options)
    case .vapor: try await VaporServer.run(options)
    }
} catch {
    FileHandle.standardError.write(Data("strata-e2e: \(error)\n".utf8))
    exit(1)
}
