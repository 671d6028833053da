import Foundation

/// A fresh temporary directory's path (not yet created), inside this process's own folder,
/// which is removed when the process exits: no test leaves files in the system's temporary
/// directory, whichever target it is in.
///
/// ```swift
/// let store = try FolderStore(directory: temporaryDirectory("restart"))
/// ```
package func temporaryDirectory(_ label: String = "strata") -> String {
    testFolder + "/\(label)-\(UUID().uuidString)"
}

/// ``temporaryDirectory(_:)``, created.
package func createdTemporaryDirectory(_ label: String) throws -> String {
    let path = temporaryDirectory(label)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The folder every test of this process makes its directories in; removed at exit. Named
/// short: a socket's path in it (the foreign-slot tests, a Redis's unix socket) must fit
/// `sun_path`'s 108 bytes.
private let testFolder: String = {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("strata-\(getpid())").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: testFolder) }
    return path
}()
