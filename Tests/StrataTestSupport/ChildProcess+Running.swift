import Foundation

extension ChildProcess {
    /// Runs `executable` with `arguments` to its end; what it wrote to standard output.
    ///
    /// Throws when it cannot be started, and, when `checkingStatus`, when it ends with a
    /// status other than 0 (the error names the command, its status and its output).
    ///
    /// ```swift
    /// try await ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", path])
    /// let reply = try await ChildProcess.run(redisCLI, ["-s", socket, "PING"], checkingStatus: false)
    /// ```
    @discardableResult
    package static func run(
        _ executable: String, _ arguments: [String], errors: Output = .inherited, checkingStatus: Bool = true
    ) async throws -> String {
        let process = try ChildProcess(executable, arguments, output: .piped, errors: errors)
        let output = String(decoding: await process.readToEnd(), as: UTF8.self)
        let status = try await process.exited()
        if checkingStatus && status != 0 {
            throw ChildProcessError(message: "\(([executable] + arguments).joined(separator: " ")) exited with status \(status): \(output)")
        }
        return output
    }

    /// Everything the child writes to its standard output (`.piped`) until it closes it,
    /// read on a thread of its own: a blocking read must not hold a cooperative thread, nor
    /// one of Dispatch's shared pool (see `offPool`).
    ///
    /// ```swift
    /// let child = try ChildProcess("/bin/echo", ["hello"], output: .piped)
    /// let text = String(decoding: await child.readToEnd(), as: UTF8.self)   // "hello\n"
    /// ```
    package func readToEnd() async -> Data {
        guard let output else { return Data() }
        return await offPool { output.readDataToEndOfFile() }
    }

    /// What the child has written to its standard output (`.piped`) and not yet been read,
    /// waiting until there is something (empty at its end), on a thread of its own.
    ///
    /// ```swift
    /// let writer = try ChildProcess(builtExecutable("strata-fixture"), ["write-forever", directory, "big", "1024"], output: .piped)
    /// _ = await writer.readAvailable()   // its "ready"
    /// ```
    package func readAvailable() async -> Data {
        guard let output else { return Data() }
        return await offPool { output.availableData }
    }
}

/// The path of an executable this package builds (`strata-fixture`), found beside the
/// test binary: on Linux it is `<build>/debug/StrataPackageTests.xctest`, on macOS inside
/// a bundle there.
///
/// ```swift
/// let other = try ChildProcess(builtExecutable("strata-fixture"), ["increment", directory, "shared", "400"])
/// ```
package func builtExecutable(_ name: String) -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path), directory.path != "/" {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent(name).path
}
